// The device engine, network-thread side: a pool of worker threads, each owning the DeviceModel
// of the namespaces assigned to it (round robin). Per command only metadata crosses, through two
// SharedArrayBuffer rings per worker (ring.ts, layout.ts): the network thread has already checked
// the command and copied its data into / out of the namespace's store; it stamps the submission
// time, writes {tag, namespace, op, FUA, SLBA, NLB} and completes the command (req.complete) when
// the worker posts {tag, status, target time} back at the modelled time.
//
// Wake-ups, both directions, use a flag + Atomics handshake so that a busy peer costs nothing:
//  - submission: the worker sets the SQ flag before it sleeps (Atomics.wait on the SQ tail); the
//    network thread stores the tail, then notifies only if the flag is set;
//  - completion: the network thread drains the CQ, sets the CQ flag and parks on it with
//    Atomics.waitAsync (default) or waits for a MessagePort message ('port' doorbell); the worker
//    publishes completions and, only if it clears a set flag, notifies / posts.
// Hand-off: waking a parked network thread costs tens of µs (more on a VM), so the worker posts
// each completion `handoffNs` before its target time; the network thread keeps early ones in a
// deadline heap and completes each at its target, polling the clock for the last stretch (only
// when nothing it already completed waits to be sent; otherwise it yields to the event loop with
// setImmediate and comes back).
// Commands carry a tag: an index into preallocated tables (the request to complete, the status
// the network thread decided, the submission time, the namespace), so the hot path allocates
// nothing and creates no closure per command.
//
// A worker that throws or exits is logged, counted (counters.workerFailures), its outstanding
// commands complete with Internal Error (SCT 0 / SC 06h, DNR clear: the host retries) and it is
// restarted with fresh models for its namespaces (re-applying timing set at run time). Data is
// not at risk: it never leaves the network thread's stores.
import os from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import type { Emulation } from '../../config/topology.js';
import { Status } from '../../protocol/status.js';
import { ModelOp, type ModelCounters, type ModelOpCode, type ModelState, type TimingParams } from '../model.js';
import { nowNs } from './clock.js';
import {
  CQ_WORDS,
  SQ_FUA,
  SQ_OP_CONTROL,
  SQ_WORDS,
  STATS_BYTES,
  readCounters,
  type ControlMessage,
  type ReadyNamespace,
  type WorkerInit,
  type WorkerMessage,
  type WorkerNamespace,
  type CrashMode,
} from './layout.js';
import { DeadlineHeap } from './heap.js';
import { Ring, RingWord } from './ring.js';

/** Whatever completes a command: the transport's request, or a join over several model ops. */
export interface CompletionSink {
  complete(status: number): void;
}

export interface EngineOptions {
  /** Worker threads; 0 = automatic: one per core but one (left to the network thread), 1..4. Never more than namespaces. */
  workers?: number;
  /** Worker: busy-poll this long before a deadline instead of sleeping (ns); covers Atomics.wait's overshoot. */
  spinNs?: number;
  /**
   * Hand-off window (ns): while the network thread is parked, the worker posts a completion this
   * long before its target time; the network thread, woken early, completes it at the target,
   * polling the clock for at most this long (plus HOLD_SLACK_NS), and only when nothing it
   * completed waits to be sent. Hides the network thread's wake-up latency. 0 = the worker always
   * posts at the target time and the network thread completes on arrival.
   */
  handoffNs?: number;
  /** Worker: with nothing outstanding, spin this long after the last command before sleeping (ns). */
  idleSpinNs?: number;
  /**
   * Network thread: after submitting to a namespace whose recent service time is at most this (ns),
   * with few commands in flight, poll the completion ring (for that service time plus a 15 µs
   * margin) instead of waiting to be woken, which costs 10-30 µs here. 0 = never poll.
   */
  pollNs?: number;
  /** Complete commands of zero-latency `nvm` namespaces inline on the network thread (no hop). */
  inlineZeroLatency?: boolean;
  /** How a worker wakes the network thread: Atomics.waitAsync on the CQ tail, or a MessagePort message. */
  doorbell?: 'waitAsync' | 'port';
  /** URL of the module exporting createModel(); default src/devices/presets (tests: STAND_IN_MODEL_MODULE). */
  modelModule?: string;
  /** Commands in flight per worker before further ones queue on the network thread (power of two). */
  ringEntries?: number;
  /** How often a busy worker mirrors model counters into the stats blocks (ms). */
  mirrorIntervalMs?: number;
  /**
   * Watchdog: a worker awake but not turning its loop for this long (a model stuck in a loop) is
   * terminated and handled as a failed worker: its commands fail with Internal Error and it is
   * restarted. Default 5000 ms; 0 = no watchdog.
   */
  stuckMs?: number;
  log?: Logger;
}

export const DEFAULT_SPIN_NS = 150_000;
export const DEFAULT_HANDOFF_NS = 80_000;
export const DEFAULT_IDLE_SPIN_NS = 20_000;
export const DEFAULT_POLL_NS = 50_000;
/** Polling goes on this long past the expected service time (the worker's posting, a late wake). */
const POLL_MARGIN_NS = 15_000;
/** Beyond this many commands in flight completions keep coming anyway: no polling. */
const POLL_MAX_IN_FLIGHT = 8;
/** Extra polling allowed beyond the hand-off window (a completion may arrive a little early). */
const HOLD_SLACK_NS = 10_000;
export const DEFAULT_RING_ENTRIES = 16384;

/** `workers: 0`: leave one core to the network thread, use the rest, at least 1 and at most 4. */
export function autoWorkers(): number {
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}

const SELF = import.meta.url;
const FROM_SOURCES = SELF.endsWith('.ts');
const EXT = FROM_SOURCES ? '.ts' : '.js';
/** The real models (written by the device-models work). */
export const PRESETS_MODEL_MODULE = new URL(`../presets${EXT}`, SELF).href;
/** The fixed-latency stand-in model (engine tests and benchmark). */
export const STAND_IN_MODEL_MODULE = new URL(`./fixed-latency-model${EXT}`, SELF).href;

/**
 * The worker's entry: compiled JS next to this file in production (dist/); under vitest, where
 * this file is TypeScript, the worker bootstraps a loader hook (ts-loader.mjs, esbuild) and runs
 * worker.ts from the sources, so tests never depend on a build being current.
 */
function workerEntry(): { script: string | URL; evalCode: boolean } {
  if (!FROM_SOURCES) return { script: new URL('./worker.js', SELF), evalCode: false };
  const loader = JSON.stringify(new URL('./ts-loader.mjs', SELF).href);
  const entry = JSON.stringify(new URL('./worker.ts', SELF).href);
  return { script: `import('node:module').then((m) => { m.register(${loader}); return import(${entry}); });`, evalCode: true };
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: (a: Int32Array, i: number, v: number, t?: number) => WaitAsyncResult }).waitAsync;

export interface NamespaceModelSpec {
  emulation: Emulation;
  lbaSize: number;
  capacityBytes: number;
  /** For logs and errors, e.g. "nqn.../1". */
  label: string;
  /** Host-side statistics that get the modelled service time (SMART busy time, media latency), if any. */
  hostStats?: { busyMs: number; observeMedia(op: number, seconds: number): void };
  /** Where the namespace is in the topology (e.g. "subsystems[0].namespaces[1]"), for errors. */
  configPath?: string;
  /** Saved model state to start from (file-backed namespaces); used by the first worker start only. */
  state?: ModelState;
}

/** A worker could not build a namespace's model, or died before it was ready. */
export class EngineInitError extends Error {
  constructor(
    message: string,
    readonly namespace: NamespaceModel | null,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'EngineInitError';
  }
}

export class EngineCounters {
  /** Workers that threw or exited. */
  workerFailures = 0;
  /** Workers started again after a failure and ready. */
  workerRestarts = 0;
  /** Commands completed with Internal Error because their worker failed or was down. */
  commandsFailed = 0;
  /** Workers the watchdog found stuck (and terminated; they count as failures too). */
  workersStuck = 0;
}

/** A namespace's model as the network thread sees it: where its commands go, its timing and counters. */
export class NamespaceModel {
  kind: ReadyNamespace['kind'];
  /** Complete on the network thread without a hop (zero-latency nvm, when allowed). */
  inline = false;
  zeroLatency = false;
  /** Timing changed at run time (kept so a restarted worker's fresh model gets it too). */
  overrides: TimingParams = {};
  /** Removed at run time: its worker index stays taken, empty. */
  removed = false;
  /** How restoring spec.state went (undefined: nothing to restore). */
  restore: ReadyNamespace['restore'];
  private stateSent = false;
  readonly stats = new SharedArrayBuffer(STATS_BYTES);
  private readonly statsI32 = new Int32Array(this.stats, 0, 2);
  private readonly statsF64 = new Float64Array(this.stats);
  private cachedTiming: TimingParams = {};
  /** Bytes read, written and trimmed by inline completions (countInline). */
  private readonly inlineBytes = new Float64Array(3);
  /** Recent modelled service time (ns, moving average): short ones are worth polling for. */
  serviceNs = Infinity;

  constructor(
    readonly slot: WorkerSlot,
    /** Index among the worker's namespaces. */
    readonly index: number,
    readonly spec: NamespaceModelSpec,
    private readonly inlineAllowed: boolean,
  ) {
    this.kind = spec.emulation.type;
  }

  /** The worker is up (or starting): commands can be submitted. When false, fail them with Internal Error. */
  get available(): boolean {
    return this.slot.accepting;
  }

  get workerIndex(): number {
    return this.slot.index;
  }

  /** Queue one model op; `sink.complete(status)` is called at its modelled completion time. */
  submit(sink: CompletionSink, status: number, op: ModelOpCode, slba: number, nlb: number, fua: boolean): void {
    this.slot.submit(this, sink, status, op, slba, nlb, fua);
  }

  /** The model's counters as last mirrored by the worker (a few ms old at most while busy). */
  counters(): ModelCounters {
    const c = readCounters(this.statsI32, this.statsF64);
    const i = this.inlineBytes;
    if (i[0]! + i[1]! + i[2]! > 0) {
      // What completed inline (zero-latency nvm), counted as its model would have.
      c.hostReadBytes += i[0]!;
      c.mediaReadBytes += i[0]!;
      c.hostWrittenBytes += i[1]!;
      c.mediaWrittenUserBytes += i[1]!;
      c.trimmedBytes += i[2]!;
    }
    return c;
  }

  /**
   * A command of an inline namespace completed on the network thread: count its bytes as the nvm
   * model does (read; written, write zeroes included; trimmed), so its counters do not stand still.
   */
  countInline(op: ModelOpCode, bytes: number): void {
    if (op === ModelOp.Read) this.inlineBytes[0] += bytes;
    else if (op === ModelOp.Write || op === ModelOp.WriteZeroes) this.inlineBytes[1] += bytes;
    else if (op === ModelOp.Trim) this.inlineBytes[2] += bytes;
  }

  timing(): TimingParams {
    return { ...this.cachedTiming };
  }

  /** Change timing knobs on the worker; applies from the next command submitted after this call. */
  async setTiming(p: TimingParams): Promise<TimingParams> {
    const params = { ...p };
    const r = await this.slot.control({ type: 'setTiming', ns: this.index, params });
    if (!r.ok) throw new Error(r.error);
    this.overrides = { ...this.overrides, ...params };
    this.applyReady({ kind: this.kind, timing: r.timing, zeroLatency: r.zeroLatency });
    return this.timing();
  }

  /** internal */
  applyReady(r: ReadyNamespace): void {
    this.kind = r.kind;
    if (r.restore) this.restore = r.restore;
    this.cachedTiming = r.timing;
    this.zeroLatency = r.zeroLatency;
    this.inline = this.inlineAllowed && r.kind === 'nvm' && r.zeroLatency;
  }

  /** internal: what the worker needs to build this namespace's model. */
  workerNamespace(): WorkerNamespace {
    const n: WorkerNamespace = { emulation: this.spec.emulation, lbaSize: this.spec.lbaSize, capacityBytes: this.spec.capacityBytes, timing: this.overrides, stats: this.stats };
    if (this.removed) n.removed = true;
    if (this.spec.state && !this.stateSent) {
      n.state = this.spec.state;
      this.stateSent = true; // a worker restarted after a failure starts fresh, not from an old snapshot
    }
    return n;
  }

  /** The model's state to save (null: this kind keeps none); in order with the commands before it. */
  async exportState(): Promise<ModelState | null> {
    const r = await this.slot.control({ type: 'exportState', ns: this.index });
    if (!r.ok) throw new Error(r.error);
    return r.state ?? null;
  }

  /** internal: a restarted worker starts from fresh counters. */
  resetStats(): void {
    new Uint8Array(this.stats).fill(0);
  }
}

interface Backlogged {
  ns: NamespaceModel | null;
  sink: CompletionSink | null;
  status: number;
  op: number;
  slba: number;
  nlb: number;
  fua: boolean;
  control: ControlMessage | null;
}

type Reply = Extract<WorkerMessage, { type: 'reply' }>;

/** One incarnation of a worker: its thread and its rings. */
class Run {
  ready = false;
  dead = false;
  readyAt = 0;
  error: Error | null = null;
  initError: Extract<WorkerMessage, { type: 'initError' }> | null = null;
  /** Woken by the worker (waitAsync resolved / doorbell message). */
  readonly onWake: () => void;
  /** Next event loop turn while completions are held. */
  readonly onPoll: () => void;

  constructor(
    readonly sq: Ring,
    readonly cq: Ring,
    readonly worker: Worker,
    readonly doorbell: MessagePort | null,
    slot: WorkerSlot,
  ) {
    this.onWake = () => {
      if (!this.dead && slot.run === this) slot.arm(this, true);
    };
    this.onPoll = () => {
      if (!this.dead && slot.run === this) slot.arm(this, false);
    };
  }
}

type SlotState = 'idle' | 'starting' | 'ready' | 'down' | 'stopped';

export class WorkerSlot {
  readonly namespaces: NamespaceModel[] = [];
  run: Run | null = null;
  state: SlotState = 'idle';
  private readonly cap: number;
  private readonly sinks: (CompletionSink | null)[];
  private readonly owners: (NamespaceModel | null)[];
  private readonly statusOf: Int32Array;
  private readonly submitAt: Float64Array;
  private readonly opOf: Uint8Array;
  /** Completions taken from the CQ and not yet due (hand-off), by target time; their worker status by tag. */
  private readonly held = new DeadlineHeap(256);
  private readonly workerStatus: Int32Array;
  private readonly freeTags: Int32Array;
  private freeTop: number;
  private backlog: Backlogged[] = [];
  private readonly controls = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private ctlSeq = 0;
  private pollQueued = false;
  private pollUntil = 0;
  private readonly pollFn = (): void => this.pollSoon();
  private consecutiveFailures = 0;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(
    readonly engine: DeviceEngine,
    readonly index: number,
  ) {
    this.cap = engine.ringEntries;
    this.sinks = new Array<CompletionSink | null>(this.cap).fill(null);
    this.owners = new Array<NamespaceModel | null>(this.cap).fill(null);
    this.statusOf = new Int32Array(this.cap);
    this.submitAt = new Float64Array(this.cap);
    this.opOf = new Uint8Array(this.cap);
    this.workerStatus = new Int32Array(this.cap);
    this.freeTags = new Int32Array(this.cap);
    for (let i = 0; i < this.cap; i++) this.freeTags[i] = this.cap - 1 - i;
    this.freeTop = this.cap;
  }

  get accepting(): boolean {
    return this.state === 'starting' || this.state === 'ready';
  }

  /** Commands submitted and not completed yet (including those queued on the network thread). */
  get inFlight(): number {
    let n = this.cap - this.freeTop;
    for (const b of this.backlog) if (b.sink !== null) n++;
    return n;
  }

  // ------------------------------------------------------------------ submission (hot path)

  submit(ns: NamespaceModel, sink: CompletionSink, status: number, op: number, slba: number, nlb: number, fua: boolean): void {
    const run = this.run;
    if (run === null || !this.accepting) {
      this.engine.counters.commandsFailed++;
      queueMicrotask(() => sink.complete(Status.InternalError));
      return;
    }
    if (this.backlog.length > 0 || !this.place(run, ns, sink, status, op, slba, nlb, fua)) {
      this.backlog.push({ ns, sink, status, op, slba, nlb, fua, control: null });
      return;
    }
    this.kick(run);
    if (this.engine.pollNs > 0 && ns.serviceNs <= this.engine.pollNs && !this.pollQueued && this.cap - this.freeTop <= POLL_MAX_IN_FLIGHT) {
      this.pollQueued = true;
      this.pollUntil = nowNs() + ns.serviceNs + POLL_MARGIN_NS;
      process.nextTick(this.pollFn);
    }
  }

  /**
   * Right after submitting commands that complete quickly (the namespace's recent service time is
   * at most pollNs): wait for the first completion by polling the ring, until its expected time
   * plus a margin, once per event loop turn. A parked event loop is woken 10-30 µs after the worker signals; polling takes
   * the completion within a microsecond or two of its posting, at the cost of that much CPU.
   */
  private pollSoon(): void {
    this.pollQueued = false;
    const run = this.run;
    if (run === null || run.dead) return;
    const end = this.pollUntil;
    while (run.cq.available() === 0) if (nowNs() > end) return;
    this.drain(run);
    this.release(true);
    if (this.held.size > 0) setImmediate(run.onPoll); // as arm(): come back for what is held
    if (this.backlog.length > 0) this.pump(run);
  }

  /** Write one command into the SQ (unpublished); false when out of tags or ring space. */
  private place(run: Run, ns: NamespaceModel, sink: CompletionSink, status: number, op: number, slba: number, nlb: number, fua: boolean): boolean {
    if (this.freeTop === 0) return false;
    const sq = run.sq;
    const w = sq.slot();
    if (w < 0) return false;
    const tag = this.freeTags[--this.freeTop]!;
    this.sinks[tag] = sink;
    this.owners[tag] = ns;
    this.statusOf[tag] = status;
    const now = nowNs();
    this.submitAt[tag] = now;
    this.opOf[tag] = op;
    const i32 = sq.i32;
    i32[w] = tag;
    i32[w + 1] = ns.index;
    i32[w + 2] = fua ? op | SQ_FUA : op;
    i32[w + 3] = nlb;
    const f = w >> 1;
    sq.f64[f + 2] = slba;
    sq.f64[f + 3] = now;
    sq.push();
    return true;
  }

  private placeControl(run: Run, msg: ControlMessage): boolean {
    const sq = run.sq;
    const w = sq.slot();
    if (w < 0) return false;
    // The message is queued on the worker's port before its marker becomes visible.
    run.worker.postMessage(msg);
    sq.i32[w] = -1;
    sq.i32[w + 2] = SQ_OP_CONTROL;
    sq.push();
    return true;
  }

  /** Publish what was placed and wake the worker if it sleeps. */
  private kick(run: Run): void {
    const sq = run.sq;
    sq.publish();
    if (Atomics.load(sq.i32, RingWord.Flag) === 1) Atomics.notify(sq.i32, RingWord.Tail, 1);
  }

  private pump(run: Run): void {
    const b = this.backlog;
    let i = 0;
    for (; i < b.length; i++) {
      const e = b[i]!;
      const ok = e.control !== null ? this.placeControl(run, e.control) : this.place(run, e.ns!, e.sink!, e.status, e.op, e.slba, e.nlb, e.fua);
      if (!ok) break;
    }
    if (i === 0) return;
    this.backlog = i === b.length ? [] : b.slice(i);
    this.kick(run);
  }

  control(msg: DistributiveOmit<ControlMessage, 'id'>): Promise<Reply> {
    const run = this.run;
    if (run === null || !this.accepting) return Promise.reject(new Error(`device worker ${this.index} is restarting; try again`));
    const m = { ...msg, id: ++this.ctlSeq } as ControlMessage;
    return new Promise<Reply>((resolve, reject) => {
      this.controls.set(m.id, { resolve, reject });
      if (this.backlog.length > 0 || !this.placeControl(run, m)) {
        this.backlog.push({ ns: null, sink: null, status: 0, op: SQ_OP_CONTROL, slba: 0, nlb: 0, fua: false, control: m });
      } else {
        this.kick(run);
      }
    });
  }

  // ------------------------------------------------------------------ completion

  /**
   * Take what the worker posted, complete what is due (holding early completions until their
   * target time), then either come back on the next event loop turn (something is still held)
   * or park until the worker signals more (see the file comment).
   */
  arm(run: Run, woken: boolean): void {
    const i32 = run.cq.i32;
    let finished = 0;
    for (;;) {
      this.drain(run);
      // Poll for a held completion only when just woken from parking (the hand-off case), never
      // while busy, and never with a completed command still waiting to be sent.
      finished += this.release(woken && finished === 0);
      if (this.backlog.length > 0 && !run.dead) this.pump(run);
      if (run.dead) return;
      if (this.held.size > 0) {
        // Let the event loop send what was completed and read sockets, then come back.
        setImmediate(run.onPoll);
        return;
      }
      Atomics.store(i32, RingWord.Flag, 1);
      if (run.doorbell !== null) {
        if (run.cq.available() === 0) return; // the port's message handler calls onWake
      } else {
        const r = waitAsync(i32, RingWord.Tail, run.cq.position);
        if (r.async) {
          void r.value.then(run.onWake);
          return;
        }
      }
      Atomics.store(i32, RingWord.Flag, 0);
    }
  }

  /** Move what the worker posted into the held set (ordered by target time). */
  private drain(run: Run): void {
    const cq = run.cq;
    let n = cq.available();
    if (n === 0) return;
    const i32 = cq.i32;
    const f64 = cq.f64;
    for (; n > 0; n--) {
      const w = cq.peek();
      const tag = i32[w]!;
      const st = i32[w + 1]!;
      this.workerStatus[tag] = st;
      this.held.push(f64[(w >> 1) + 1]!, tag);
      cq.advance();
    }
    cq.release();
  }

  /**
   * Complete held commands whose target time has come. When `mayPoll` and the next target is
   * within the hand-off window, poll the clock until it (once: after a completion, nothing more
   * is held back from the event loop). Returns how many completed.
   */
  private release(mayPoll: boolean): number {
    const held = this.held;
    const probe = this.engine.latenessProbe;
    const maxPoll = this.engine.handoffNs + HOLD_SLACK_NS;
    let done = 0;
    while (held.size > 0) {
      const target = held.peekKey();
      let now = nowNs();
      if (target > now) {
        if (!mayPoll || done > 0 || target - now > maxPoll) break;
        while (now < target) now = nowNs();
      }
      const tag = held.pop();
      if (probe !== null) probe(now - target, target - this.submitAt[tag]!);
      const st = this.workerStatus[tag]!;
      this.finish(tag, st === 0 ? this.statusOf[tag]! : st, target);
      done++;
    }
    return done;
  }

  /** Complete everything held now, whatever its target time (the worker is gone). */
  private releaseAll(): void {
    const held = this.held;
    while (held.size > 0) {
      const target = held.peekKey();
      const tag = held.pop();
      const st = this.workerStatus[tag]!;
      this.finish(tag, st === 0 ? this.statusOf[tag]! : st, target);
    }
  }

  private finish(tag: number, status: number, targetNs: number): void {
    const sink = this.sinks[tag]!;
    const ns = this.owners[tag]!;
    const hs = ns.spec.hostStats;
    if (targetNs > 0) {
      const svc = targetNs - this.submitAt[tag]!;
      ns.serviceNs = ns.serviceNs === Infinity ? svc : ns.serviceNs + (svc - ns.serviceNs) / 8;
      if (hs !== undefined) {
        hs.busyMs += svc / 1e6;
        hs.observeMedia(this.opOf[tag]!, svc / 1e9);
      }
    }
    this.sinks[tag] = null;
    this.owners[tag] = null;
    this.freeTags[this.freeTop++] = tag;
    sink.complete(status);
  }

  // ------------------------------------------------------------------ lifecycle

  /** Start the worker and resolve when its models are built. */
  start(): Promise<void> {
    const p = this.whenReady();
    this.spawn();
    return p;
  }

  whenReady(): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    if (this.state === 'stopped') return Promise.reject(new Error('device engine stopped'));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  private spawn(): void {
    this.restartTimer = null;
    if (this.state === 'stopped') return;
    const e = this.engine;
    const sq = Ring.create(this.cap, SQ_WORDS);
    const cq = Ring.create(this.cap, CQ_WORDS);
    let mainPort: MessagePort | null = null;
    let workerPort: MessagePort | null = null;
    if (e.doorbell === 'port') {
      const ch = new MessageChannel();
      mainPort = ch.port1;
      workerPort = ch.port2;
    }
    const init: WorkerInit = {
      sq: sq.sab,
      cq: cq.sab,
      doorbell: e.doorbell,
      doorbellPort: workerPort,
      spinNs: e.spinNs,
      idleSpinNs: e.idleSpinNs,
      handoffNs: e.handoffNs,
      mirrorIntervalNs: e.mirrorIntervalMs * 1e6,
      modelModule: e.modelModule,
      namespaces: this.namespaces.map((n) => n.workerNamespace()),
      heartbeat: new SharedArrayBuffer(8),
    };
    const entry = workerEntry();
    const worker = new Worker(entry.script, {
      eval: entry.evalCode,
      workerData: init,
      transferList: workerPort ? [workerPort] : [],
      name: `nvmf-emu device worker ${this.index}`,
    });
    worker.unref();
    const run = new Run(sq, cq, worker, mainPort, this);
    this.run = run;
    this.watch(run, new Int32Array(init.heartbeat));
    this.state = 'starting';
    worker.on('message', (m: WorkerMessage) => this.onMessage(run, m));
    worker.on('error', (err) => {
      run.error = err;
    });
    worker.on('exit', (code) => this.onExit(run, code));
    if (mainPort !== null) {
      mainPort.on('message', run.onWake);
      mainPort.unref();
    }
    this.arm(run, false);
    this.pump(run);
  }

  /** The watchdog: terminate a worker that is awake and has not turned its loop for stuckMs. */
  private watch(run: Run, beat: Int32Array): void {
    const e = this.engine;
    if (e.stuckMs <= 0) return;
    const every = Math.max(10, Math.min(1000, e.stuckMs / 4));
    let last = Atomics.load(beat, 0);
    let frozenMs = 0;
    const timer = setInterval(() => {
      if (run.dead) return clearInterval(timer);
      const now = Atomics.load(beat, 0);
      if (!run.ready || Atomics.load(beat, 1) === 1 || now !== last) {
        last = now;
        frozenMs = 0;
        return;
      }
      frozenMs += every;
      if (frozenMs < e.stuckMs) return;
      clearInterval(timer);
      e.counters.workersStuck++;
      run.error = new Error(`device worker ${this.index} stuck: no progress for ${frozenMs} ms (a model in a loop?)`);
      void run.worker.terminate(); // 'exit' follows: commands fail with Internal Error, the worker restarts
    }, every);
    timer.unref();
  }

  private onMessage(run: Run, m: WorkerMessage): void {
    if (run.dead) return;
    switch (m.type) {
      case 'ready': {
        run.ready = true;
        run.readyAt = Date.now();
        this.state = 'ready';
        m.namespaces.forEach((r, i) => this.namespaces[i]!.applyReady(r));
        if (this.restarts > 0) {
          this.engine.counters.workerRestarts++;
          this.engine.log.info({ worker: this.index, namespaces: this.labels() }, 'device worker restarted');
        }
        for (const w of this.readyWaiters.splice(0)) w.resolve();
        return;
      }
      case 'initError':
        run.initError = m;
        return;
      case 'reply': {
        const c = this.controls.get(m.id);
        this.controls.delete(m.id);
        c?.resolve(m);
        return;
      }
    }
  }

  private labels(): string[] {
    return this.namespaces.map((n) => n.spec.label);
  }

  private onExit(run: Run, code: number): void {
    if (run.dead) return;
    run.dead = true;
    const stopping = this.state === 'stopped';
    const e = this.engine;
    // Completions the worker posted before it died are genuine: deliver them.
    this.drain(run);
    this.releaseAll();
    const failed = this.failOutstanding();
    for (const n of this.namespaces) n.resetStats();
    Atomics.notify(run.cq.i32, RingWord.Tail); // release the network thread's waitAsync
    run.doorbell?.close();
    if (stopping) return;

    const err =
      run.initError !== null
        ? new EngineInitError(run.initError.message, this.namespaces[run.initError.ns] ?? null, run.initError.errors)
        : run.error ?? new Error(`device worker exited with code ${code}`);
    e.counters.workerFailures++;
    e.log.error(
      { worker: this.index, namespaces: this.labels(), exitCode: code, failedCommands: failed, err },
      'device worker failed: its outstanding commands complete with Internal Error; restarting it with fresh models',
    );
    if (!run.ready && e.starting) {
      // Startup: report to engine.start() rather than retry a model that cannot be built.
      this.state = 'down';
      for (const w of this.readyWaiters.splice(0)) w.reject(err instanceof EngineInitError ? err : new EngineInitError(err.message, null));
      return;
    }
    const healthy = run.ready && Date.now() - run.readyAt >= 1000;
    this.consecutiveFailures = healthy ? 0 : this.consecutiveFailures + 1;
    const delay = this.consecutiveFailures === 0 ? 0 : Math.min(5000, 50 * 2 ** (this.consecutiveFailures - 1));
    this.restarts++;
    if (delay === 0) this.spawn();
    else {
      this.state = 'down';
      this.restartTimer = setTimeout(() => this.spawn(), delay);
      this.restartTimer.unref();
    }
  }

  /** Complete every outstanding command with Internal Error and reject pending controls. */
  private failOutstanding(): number {
    let n = 0;
    const fail: CompletionSink[] = [];
    for (let tag = 0; tag < this.cap; tag++) {
      const s = this.sinks[tag];
      if (s === null || s === undefined) continue;
      this.sinks[tag] = null;
      this.owners[tag] = null;
      this.freeTags[this.freeTop++] = tag;
      fail.push(s);
    }
    const backlog = this.backlog;
    this.backlog = [];
    for (const b of backlog) if (b.sink !== null) fail.push(b.sink);
    const err = new Error(`device worker ${this.index} failed`);
    for (const c of this.controls.values()) c.reject(err);
    this.controls.clear();
    for (const s of fail) {
      n++;
      s.complete(Status.InternalError);
    }
    this.engine.counters.commandsFailed += n;
    return n;
  }

  async stop(): Promise<void> {
    const prev = this.state;
    this.state = 'stopped';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const w of this.readyWaiters.splice(0)) w.reject(new Error('device engine stopped'));
    const run = this.run;
    if (run === null || prev === 'idle') return;
    if (!run.dead) {
      const exited = new Promise<void>((r) => run.worker.once('exit', () => r()));
      await run.worker.terminate();
      await exited;
    }
  }

  crash(how: CrashMode): void {
    this.control({ type: 'crash', how }).catch(() => {});
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class DeviceEngine {
  readonly counters = new EngineCounters();
  readonly slots: WorkerSlot[] = [];
  readonly log: Logger;
  readonly spinNs: number;
  readonly handoffNs: number;
  readonly idleSpinNs: number;
  readonly pollNs: number;
  readonly doorbell: 'waitAsync' | 'port';
  readonly modelModule: string;
  readonly ringEntries: number;
  readonly mirrorIntervalMs: number;
  readonly inlineZeroLatency: boolean;
  readonly stuckMs: number;
  /** Workers the pool may use (namespaces are spread over at most this many). */
  readonly maxWorkers: number;
  /**
   * Benchmark/diagnostic hook: called per completion with (delivery time - target time, modelled
   * service time), both ns, when the network thread takes the completion from the ring.
   */
  latenessProbe: ((lateNs: number, serviceNs: number) => void) | null = null;
  /** internal: engine.start() is running (startup failures are reported, not retried). */
  starting = false;
  private nsCount = 0;
  private started = false;

  constructor(o: EngineOptions = {}) {
    this.log = o.log ?? pino({ level: 'silent' });
    this.maxWorkers = o.workers && o.workers > 0 ? Math.floor(o.workers) : autoWorkers();
    this.spinNs = o.spinNs ?? DEFAULT_SPIN_NS;
    this.handoffNs = o.handoffNs ?? DEFAULT_HANDOFF_NS;
    // Spinning only pays when the spinner and the thread it waits for run on different cores.
    const alone = os.availableParallelism() < 2;
    this.idleSpinNs = o.idleSpinNs ?? (alone ? 0 : DEFAULT_IDLE_SPIN_NS);
    this.pollNs = o.pollNs ?? (alone ? 0 : DEFAULT_POLL_NS);
    this.doorbell = o.doorbell ?? 'waitAsync';
    this.modelModule = o.modelModule ?? PRESETS_MODEL_MODULE;
    this.inlineZeroLatency = o.inlineZeroLatency ?? true;
    this.mirrorIntervalMs = o.mirrorIntervalMs ?? 10;
    this.stuckMs = o.stuckMs ?? 5000;
    const re = o.ringEntries ?? DEFAULT_RING_ENTRIES;
    if (re < 2 || (re & (re - 1)) !== 0) throw new Error('ringEntries must be a power of two >= 2');
    this.ringEntries = re;
  }

  /** Assign a namespace to a worker (round robin); call before start(). */
  addNamespace(spec: NamespaceModelSpec): NamespaceModel {
    if (this.started) throw new Error('namespaces must be added before the engine starts');
    const i = this.nsCount++ % this.maxWorkers;
    while (this.slots.length <= i) this.slots.push(new WorkerSlot(this, this.slots.length));
    const slot = this.slots[i]!;
    const m = new NamespaceModel(slot, slot.namespaces.length, spec, this.inlineZeroLatency);
    slot.namespaces.push(m);
    return m;
  }

  /**
   * Add a namespace while the engine runs (admin API): its model is built on its worker, in order
   * with the commands already queued there. Rejects with EngineInitError when the model cannot be
   * built (its index stays taken and empty). Before start() this is addNamespace().
   */
  async addNamespaceLive(spec: NamespaceModelSpec): Promise<NamespaceModel> {
    if (!this.started) return this.addNamespace(spec);
    const i = this.nsCount++ % this.maxWorkers;
    while (this.slots.length <= i) this.slots.push(new WorkerSlot(this, this.slots.length));
    const slot = this.slots[i]!;
    const m = new NamespaceModel(slot, slot.namespaces.length, spec, this.inlineZeroLatency);
    slot.namespaces.push(m);
    if (slot.state === 'idle') {
      // The first namespace of a worker that never ran: start it, as engine.start() would have.
      this.starting = true;
      try {
        await slot.start();
      } catch (err) {
        m.removed = true;
        await slot.stop();
        slot.namespaces.pop();
        this.slots.pop();
        this.nsCount--;
        throw err;
      } finally {
        this.starting = false;
      }
      return m;
    }
    let r: Reply;
    try {
      r = await slot.control({ type: 'addNamespace', ns: m.workerNamespace() });
    } catch (err) {
      m.removed = true;
      throw new EngineInitError((err as Error).message, m);
    }
    if (!r.ok) {
      m.removed = true;
      throw new EngineInitError(r.error, m, r.errors);
    }
    m.applyReady({ kind: r.kind ?? spec.emulation.type, timing: r.timing, zeroLatency: r.zeroLatency });
    return m;
  }

  /** Drop a namespace's model (its commands already submitted complete first). */
  async removeNamespace(m: NamespaceModel): Promise<void> {
    if (m.removed) return;
    m.removed = true;
    // A restarting worker gets the removal from workerNamespace(); nothing to tell it now.
    await m.slot.control({ type: 'removeNamespace', ns: m.index }).catch(() => {});
  }

  /** Spawn the workers; resolves when every model is built (rejects with EngineInitError if one cannot be). */
  async start(): Promise<void> {
    this.started = true;
    this.starting = true;
    try {
      await Promise.all(this.slots.map((s) => s.start()));
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      this.starting = false;
    }
  }

  /** Resolves when every worker is up (after a restart, say). */
  async whenReady(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.whenReady()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.stop()));
  }

  get workerCount(): number {
    return this.slots.length;
  }

  /** Test hook: make worker `index` throw (or exit) when it reaches this point in its submission ring. */
  crashWorkerForTest(index: number, how: CrashMode = 'throw'): void {
    const s = this.slots[index];
    if (!s) throw new Error(`no device worker ${index}`);
    s.crash(how);
  }

  describe(): { worker: number; state: string; namespaces: string[]; inFlight: number }[] {
    return this.slots.map((s) => ({ worker: s.index, state: s.state, namespaces: s.namespaces.map((n) => n.spec.label), inFlight: s.inFlight }));
  }
}
