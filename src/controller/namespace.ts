// A namespace: its identity (NGUID/UUID/EUI-64), LBA format, data store (device), device model
// (on a worker of the device engine) and statistics.
import { createHash } from 'node:crypto';
import type { BlockDevice } from '../devices/block-device.js';
import type { NamespaceModel } from '../devices/engine/engine.js';
import { emptyCounters } from '../devices/engine/layout.js';
import type { ModelCounters, TimingParams } from '../devices/model.js';
import type { ZoneManager } from '../devices/zns/zones.js';

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
  /** Sum of modelled command service times, ms (SMART controller busy time). */
  busyMs = 0;
  reset(): void {
    Object.assign(this, new NamespaceStats());
  }
}

export class Namespace {
  readonly stats = new NamespaceStats();
  readonly lbaShift: number;
  readonly nlb: number;
  /**
   * The device model on the engine (timing, wear, counters); null = no model (every command
   * completes at once, counters stay at zero). Data stays in `device` on this thread either way.
   */
  model: NamespaceModel | null = null;
  /**
   * Zoned namespaces (`zns`): the zone state machine (states, write pointers, limits), on this
   * thread with the data; `zones.stats()` is a plain object of counters. Null for other kinds.
   */
  zones: ZoneManager | null = null;

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

  /** The device model's counters (FTL, wear, GC), mirrored from its worker: no round trip. */
  counters(): ModelCounters {
    return this.model ? this.model.counters() : emptyCounters();
  }

  /** The device model's timing knobs (NVMeVirt's /proc/nvmev/read_latency, write_latency, slot...). */
  timing(): TimingParams {
    return this.model ? this.model.timing() : {};
  }

  /**
   * Change timing knobs at run time: sent to the model's worker, in order with the commands (it
   * applies from the next command submitted after this call); resolves with the new timing.
   * Unknown keys or bad values reject (the model's message).
   */
  setTiming(p: TimingParams): Promise<TimingParams> {
    if (!this.model) return Promise.reject(new Error(`namespace ${this.nsid} has no device model`));
    return this.model.setTiming(p);
  }
}
