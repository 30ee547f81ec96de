// A namespace: its identity (NGUID/UUID/EUI-64), LBA format, device and statistics.
import { createHash } from 'node:crypto';
import type { BlockDevice } from '../devices/block-device.js';

export interface NamespaceIds {
  nguid: Buffer;
  uuid: Buffer;
  eui64: Buffer;
}

/** Stable identifiers derived from subsystem NQN and NSID, unless configured. */
export function deriveNamespaceIds(subnqn: string, nsid: number, given: { uuid?: string; nguid?: string; eui64?: string }): NamespaceIds {
  const h = createHash('sha256').update(`nvmf-emu:${subnqn}:${nsid}`).digest();
  const uuid = given.uuid ? Buffer.from(given.uuid.replace(/-/g, ''), 'hex') : Buffer.from(h.subarray(0, 16));
  if (!given.uuid) {
    uuid[6] = (uuid[6]! & 0x0f) | 0x50; // name-based (version 5 layout)
    uuid[8] = (uuid[8]! & 0x3f) | 0x80; // RFC 4122 variant
  }
  const nguid = given.nguid ? Buffer.from(given.nguid.replace(/-/g, ''), 'hex') : Buffer.from(h.subarray(16, 32));
  const eui64 = given.eui64 ? Buffer.from(given.eui64.replace(/[-:]/g, ''), 'hex') : Buffer.from(h.subarray(8, 16));
  if (!given.eui64) eui64[0] = (eui64[0]! & 0xfc) | 0x02; // locally administered, unicast
  return { nguid, uuid, eui64 };
}

export const formatUuid = (b: Buffer): string => {
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
};

export class NamespaceStats {
  readCommands = 0;
  writeCommands = 0;
  bytesRead = 0;
  bytesWritten = 0;
  flushes = 0;
  discards = 0;
  bytesDiscarded = 0;
  errors = 0;
  /** Sum of command service times, ms (SMART controller busy time). */
  busyMs = 0;
  reset(): void {
    Object.assign(this, new NamespaceStats());
  }
}

export class Namespace {
  readonly stats = new NamespaceStats();
  readonly lbaShift: number;
  readonly nlb: number;

  constructor(
    readonly nsid: number,
    readonly device: BlockDevice,
    readonly ids: NamespaceIds,
    public enabled: boolean,
  ) {
    this.lbaShift = Math.log2(device.lbaSize);
    this.nlb = Math.floor(device.capacityBytes / device.lbaSize);
  }

  get lbaSize(): number {
    return this.device.lbaSize;
  }
}
