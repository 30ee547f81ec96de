// The timing and wear model of an emulated device, behind one narrow interface. A model is pure
// and deterministic: given a command and the time it was submitted, it returns when the command
// completes, updating its own state (FTL maps, LUN busy times, buffers, GC). The same model runs
// on a device worker thread (live, real clock) and in `nvmf-emu simulate` (virtual clock).
// Data never enters a model: bytes live in the namespace's store on the network thread.

export const ModelOp = {
  Read: 0,
  Write: 1,
  Flush: 2,
  /** Dataset Management deallocate (TRIM). */
  Trim: 3,
  WriteZeroes: 4,
  /** Zone Management Send Reset of the zone holding slba (nlb = zone size): erase its blocks. */
  ZoneReset: 5,
  /** Zone Management Send Finish of the zone holding slba: pad and program what is buffered. */
  ZoneFinish: 6,
  // Key-value commands (kv model). Sizes travel in the submit fields: slba = value bytes moved
  // (stored, retrieved, or freed by a delete), nlb = key length; for KvList, nlb = keys returned.
  KvStore: 8,
  KvRetrieve: 9,
  KvDelete: 10,
  KvExist: 11,
  KvList: 12,
} as const;
export type ModelOpCode = (typeof ModelOp)[keyof typeof ModelOp];

export interface ModelCounters {
  /** Bytes the host asked to write (Write, Write Zeroes). */
  hostWrittenBytes: number;
  hostReadBytes: number;
  /** Bytes programmed to NAND on behalf of host writes, and on behalf of GC. */
  mediaWrittenUserBytes: number;
  mediaWrittenGcBytes: number;
  mediaReadBytes: number;
  gcRuns: number;
  gcPagesMoved: number;
  /** Total block erases and the highest erase count of any block. */
  erases: number;
  maxEraseCount: number;
  freeBlocks: number;
  totalBlocks: number;
  trimmedBytes: number;
  /** 0..255 as the SMART log reports it (100 = rated endurance used). */
  percentageUsed: number;
  /** 0..100 (SMART available spare). */
  availableSpare: number;
}

/** Runtime-adjustable timing knobs, the equivalent of NVMeVirt's /proc/nvmev/ files. */
export type TimingParams = Record<string, number>;

export interface DeviceModel {
  readonly kind: 'nvm' | 'conv' | 'zns' | 'kv';
  /** Capacity the host sees, in logical blocks of `lbaSize`. */
  readonly nlb: number;
  readonly lbaSize: number;
  /**
   * Submit a command at `nowNs` (monotonic nanoseconds); returns its completion time in ns
   * (>= nowNs). `slba`/`nlb` are in logical blocks. `fua` forces the data to media before completion.
   */
  submit(op: ModelOpCode, slba: number, nlb: number, fua: boolean, nowNs: number): number;
  counters(): ModelCounters;
  timing(): TimingParams;
  /** Change timing knobs; takes effect for the next submitted command. Unknown keys throw. */
  setTiming(p: TimingParams): void;
  /**
   * Models with state worth keeping across a restart (FTL maps, wear): a structured-cloneable
   * snapshot, and its restore into a fresh instance built with the same parameters (throws if it
   * does not fit them). `nowNs` is the clock at restore, to carry ages over.
   */
  exportState?(): ModelState;
  importState?(state: ModelState, nowNs: number): void;
}

/** A model's persistent state: typed arrays and numbers, tagged with what it fits. */
export interface ModelState {
  kind: string;
  /** The model's parameters and geometry, as a string: a snapshot restores only into the same. */
  fingerprint: string;
  /** The model's clock when saved. */
  savedAtNs: number;
  arrays: Record<string, Uint8Array | Uint32Array | Int32Array | Float64Array>;
  scalars: Record<string, number | boolean>;
}

/** Counters of a model without an FTL (no GC, no erases, no wear): media = host. */
export function counterlessFtl(c: { hostWritten: number; hostRead: number; mediaRead: number; trimmed: number }): ModelCounters {
  return {
    hostWrittenBytes: c.hostWritten,
    hostReadBytes: c.hostRead,
    mediaWrittenUserBytes: c.hostWritten,
    mediaWrittenGcBytes: 0,
    mediaReadBytes: c.mediaRead,
    gcRuns: 0,
    gcPagesMoved: 0,
    erases: 0,
    maxEraseCount: 0,
    freeBlocks: 0,
    totalBlocks: 0,
    trimmedBytes: c.trimmed,
    percentageUsed: 0,
    availableSpare: 100,
  };
}

/** `current` with the timing keys of `t` applied; an unknown key throws, naming the known ones. */
export function withTiming<P extends object>(current: P, t: TimingParams, known: readonly string[], device: string): P {
  const next = { ...current };
  for (const [k, v] of Object.entries(t)) {
    if (!known.includes(k)) throw new Error(`unknown timing parameter "${k}" for ${device} (known: ${known.join(', ')})`);
    (next as Record<string, unknown>)[k] = v;
  }
  return next;
}
