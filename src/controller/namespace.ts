// A namespace: its identity (NGUID/UUID/EUI-64), LBA format, data store (device), device model
// (on a worker of the device engine) and statistics.
import { createHash } from 'node:crypto';
import type { BlockDevice } from '../devices/block-device.js';
import type { NamespaceModel } from '../devices/engine/engine.js';
import { emptyCounters } from '../devices/engine/layout.js';
import type { FaultInjector } from '../devices/fault-injector.js';
import type { KvStore } from '../devices/kv/kv-store.js';
import { ModelOp, type ModelCounters, type TimingParams } from '../devices/model.js';
import { LatencyHistogram } from '../metrics/latency-histogram.js';
import { Csi } from '../protocol/constants.js';

/** Model ops whose device time counts as media read / media write latency. */
const MEDIA_READ_OPS: ReadonlySet<number> = new Set([ModelOp.Read, ModelOp.KvRetrieve]);
const MEDIA_WRITE_OPS: ReadonlySet<number> = new Set([ModelOp.Write, ModelOp.WriteZeroes, ModelOp.KvStore]);
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
  /** End to end (capsule in to response out), measured by the transport. */
  readonly readLatency = new LatencyHistogram();
  readonly writeLatency = new LatencyHistogram();
  /** Modelled device time (submission to the model to its completion time), from the engine. */
  readonly mediaReadLatency = new LatencyHistogram();
  readonly mediaWriteLatency = new LatencyHistogram();
  /** I/O commands received and not yet completed. */
  ioNow = 0;
  /** Unrecovered read errors and write faults returned (injected faults); SMART media errors. */
  mediaErrors = 0;
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
  /** Zero the statistics (not ioNow: those commands are still in flight). */
  reset(): void {
    for (const h of [this.readLatency, this.writeLatency, this.mediaReadLatency, this.mediaWriteLatency]) h.reset();
    this.readCommands = this.writeCommands = this.bytesRead = this.bytesWritten = 0;
    this.flushes = this.discards = this.bytesDiscarded = this.errors = this.busyMs = 0;
  }

  /** Plain numbers for the admin API: counters, and count / mean / p50 / p99 (seconds) per histogram. */
  toJSON(): Record<string, unknown> {
    const h = (x: LatencyHistogram): Record<string, number> => ({ count: x.count, mean_s: x.count ? x.sum / x.count : 0, p50_s: x.quantile(0.5) || 0, p99_s: x.quantile(0.99) || 0 });
    const { readLatency, writeLatency, mediaReadLatency, mediaWriteLatency, ...counters } = this;
    return { ...counters, latency: { read: h(readLatency), write: h(writeLatency), media_read: h(mediaReadLatency), media_write: h(mediaWriteLatency) } };
  }

  /** A model op completed after `seconds` of modelled device time (called by the engine). */
  observeMedia(op: number, seconds: number): void {
    if (MEDIA_READ_OPS.has(op)) this.mediaReadLatency.observe(seconds);
    else if (MEDIA_WRITE_OPS.has(op)) this.mediaWriteLatency.observe(seconds);
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
  /** Injected media faults (admin API); null = none, and nothing on the I/O path checks for them. */
  faults: FaultInjector | null = null;
  /**
   * Command set identifier the namespace reports (Identify CNS 03h/05h/07h, effects log): by
   * default the one of its device kind (as Controller.csiFor); a kv namespace with the vendor
   * (nvmevirt) command set is set to NVM by the daemon, with nvme-kv it stays CSI 01h.
   */
  csi: number;
  /**
   * The key-value store of a `kv` namespace (null for other kinds): keys, values and space, on
   * this thread. `kv.stats()` is the plain object metrics read (keys, usedBytes, capacityBytes,
   * commands by op).
   */
  kv: KvStore | null = null;
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
    this.csi = device.kind === 'zns' ? Csi.Zoned : device.kind === 'kv' ? Csi.KeyValue : Csi.Nvm;
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
