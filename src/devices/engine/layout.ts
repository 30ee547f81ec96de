// What crosses between the network thread and a device worker: ring entry layouts, the
// per-namespace counter block, and the (rare, not per-command) control messages.
import type { MessagePort } from 'node:worker_threads';
import type { Emulation } from '../../config/topology.js';
import type { ModelCounters, ModelState, TimingParams } from '../model.js';

/**
 * Submission entry, 8 words (32 bytes): tag, worker-local namespace index, op | FUA flag, NLB,
 * SLBA (float64: up to 2^53 blocks), submission time in ns (float64, the engine clock).
 */
export const SQ_WORDS = 8;
export const SqWord = { Tag: 0, Ns: 1, Op: 2, Nlb: 3, Slba: 4, SubmitNs: 6 } as const;
export const SQ_FUA = 1 << 8;
/**
 * An entry with this op carries no command: it tells the worker to take the next control message
 * from its port now. Control messages thereby keep their order relative to commands (a timing
 * change applies exactly from the next command submitted after it).
 */
export const SQ_OP_CONTROL = 0xff;

/** Completion entry, 4 words (16 bytes): tag, status (0 = as the network thread decided), target time in ns (float64). */
export const CQ_WORDS = 4;
export const CqWord = { Tag: 0, Status: 1, TargetNs: 2 } as const;


/** Counters mirrored from each model into its namespace's stats block, in this order. */
export const COUNTER_KEYS = [
  'hostWrittenBytes',
  'hostReadBytes',
  'mediaWrittenUserBytes',
  'mediaWrittenGcBytes',
  'mediaReadBytes',
  'gcRuns',
  'gcPagesMoved',
  'erases',
  'maxEraseCount',
  'freeBlocks',
  'totalBlocks',
  'trimmedBytes',
  'percentageUsed',
  'availableSpare',
] as const satisfies readonly (keyof ModelCounters)[];
type MissingCounter = Exclude<keyof ModelCounters, (typeof COUNTER_KEYS)[number]>;
/** Compile-time check: tsc fails here when ModelCounters gains a field COUNTER_KEYS lacks. */
export const COUNTER_KEYS_COMPLETE: [MissingCounter] extends [never] ? true : MissingCounter = true;

/**
 * Stats block of one namespace: a seqlock word (odd while the worker writes), then one float64
 * per counter. The worker rewrites it every few milliseconds while busy and before it idles, so
 * reading counters never needs a round trip to the worker.
 */
export const STATS_BYTES = 8 + 8 * COUNTER_KEYS.length;

export function emptyCounters(): ModelCounters {
  const c = {} as Record<(typeof COUNTER_KEYS)[number], number>;
  for (const k of COUNTER_KEYS) c[k] = 0;
  c.availableSpare = 100;
  return c;
}

export function writeCounters(i32: Int32Array, f64: Float64Array, c: ModelCounters): void {
  Atomics.add(i32, 0, 1);
  for (let i = 0; i < COUNTER_KEYS.length; i++) f64[1 + i] = c[COUNTER_KEYS[i]!];
  Atomics.add(i32, 0, 1);
}

/** Consistent snapshot (retries while the worker is mid-update); all zero before the first mirror. */
export function readCounters(i32: Int32Array, f64: Float64Array): ModelCounters {
  const c = {} as Record<(typeof COUNTER_KEYS)[number], number>;
  for (let attempt = 0; ; attempt++) {
    const s1 = Atomics.load(i32, 0);
    if ((s1 & 1) === 0 || attempt > 1000) {
      for (let i = 0; i < COUNTER_KEYS.length; i++) c[COUNTER_KEYS[i]!] = f64[1 + i]!;
      if (Atomics.load(i32, 0) === s1 || attempt > 1000) break;
    }
  }
  if (Atomics.load(i32, 0) === 0) c.availableSpare = 100; // never mirrored yet: a fresh device
  return c;
}

/** One namespace as its worker needs it (structured-cloned once, at worker start). */
export interface WorkerNamespace {
  emulation: Emulation;
  lbaSize: number;
  capacityBytes: number;
  /** Timing overrides set at run time, re-applied when a restarted worker builds a fresh model. */
  timing: TimingParams;
  stats: SharedArrayBuffer;
  /** Removed at run time: the worker keeps its index empty (indices never move). */
  removed?: boolean;
  /** Saved model state to restore (a file-backed namespace's FTL from its last clean shutdown). */
  state?: ModelState;
}

export interface WorkerInit {
  sq: SharedArrayBuffer;
  cq: SharedArrayBuffer;
  /** 'port': completions are signalled with a message on `doorbellPort`; 'waitAsync': Atomics.notify on the CQ tail. */
  doorbell: 'waitAsync' | 'port';
  doorbellPort: MessagePort | null;
  spinNs: number;
  /** With nothing outstanding, keep spinning this long after the last command before sleeping. */
  idleSpinNs: number;
  /** Post completions this long before their deadline; the network thread holds them until it (0 = at the deadline). */
  handoffNs: number;
  mirrorIntervalNs: number;
  /** URL of the module exporting createModel(emulation, lbaSize, capacityBytes). */
  modelModule: string;
  namespaces: WorkerNamespace[];
  /**
   * Liveness, two words: [0] bumped by every turn of the worker's loop, [1] 1 while it sleeps
   * (waiting for commands or a deadline). Frozen while awake = stuck (see EngineOptions.stuckMs).
   */
  heartbeat: SharedArrayBuffer;
}

export type ControlMessage =
  | { type: 'setTiming'; id: number; ns: number; params: TimingParams }
  /** A namespace added at run time; it takes the next index on its worker. */
  | { type: 'addNamespace'; id: number; ns: WorkerNamespace }
  | { type: 'removeNamespace'; id: number; ns: number }
  | { type: 'exportState'; id: number; ns: number }
  | { type: 'crash'; id: number; how: CrashMode };

/** Test hook: make a worker throw, exit, or spin forever (a model stuck in a loop). */
export type CrashMode = 'throw' | 'exit' | 'hang';

export interface ReadyNamespace {
  kind: 'nvm' | 'conv' | 'zns' | 'kv';
  timing: TimingParams;
  /** Every command completes at its submission time (probed on a scratch instance). */
  zeroLatency: boolean;
  /** Saved state given: restored, or why not (the model then starts fresh). */
  restore?: { ok: true } | { ok: false; error: string };
}

export type WorkerMessage =
  | { type: 'ready'; namespaces: ReadyNamespace[]; modelModule: string }
  | { type: 'initError'; ns: number; message: string; errors?: { path: string; message: string }[] }
  | { type: 'reply'; id: number; ok: true; timing: TimingParams; zeroLatency: boolean; kind?: ReadyNamespace['kind']; state?: ModelState | null }
  | { type: 'reply'; id: number; ok: false; error: string; errors?: { path: string; message: string }[] };
