// Device worker: owns the DeviceModel of each namespace assigned to it and completes commands at
// their modelled time. One synchronous loop, no event loop turns:
//   1. take every published submission and run the model (nowNs = the submission time stamped by
//      the network thread, so the hop to this thread is not added to the device time); push the
//      completion time on a min-heap of deadlines;
//   2. post every command whose deadline is within `handoffNs` to the completion ring, in deadline
//      order, with its target time; ring the network thread's doorbell if it asked for one. The
//      network thread holds early completions and completes each at its target time (DeviceEngine):
//      so it is already awake at the deadline instead of paying its wake-up latency after it;
//   3. wait: with nothing outstanding, spin `idleSpinNs` after the last command, then Atomics.wait
//      on the submission tail indefinitely; with the
//      next posting time more than `spinNs` away, Atomics.wait until `spinNs` before it (a new
//      submission wakes it early); within `spinNs` of it, spin (re-check the submission ring and
//      the clock). Futex timeouts overshoot by ~50-170 µs here (timer slack plus a virtual CPU's
//      wake-up), which is what the spin window absorbs.
// Control messages (timing changes, the crash hook) are read synchronously with
// receiveMessageOnPort when a control marker comes through the submission ring.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { Emulation } from '../../config/topology.js';
import { ModelOp, type DeviceModel, type ModelOpCode, type TimingParams } from '../model.js';
import { nowNs } from './clock.js';
import { DeadlineHeap } from './heap.js';
import {
  CQ_WORDS,
  SQ_FUA,
  SQ_OP_CONTROL,
  SQ_WORDS,
  writeCounters,
  type ControlMessage,
  type ReadyNamespace,
  type WorkerInit,
  type WorkerMessage,
  type WorkerNamespace,
} from './layout.js';
import { Ring, RingWord } from './ring.js';

type CreateModel = (emulation: Emulation, lbaSize: number, capacityBytes: number) => DeviceModel;

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: WorkerMessage): void => port.postMessage(m);

async function loadFactory(): Promise<{ createModel: CreateModel; url: string }> {
  const url = init.modelModule;
  const mod = (await import(url)) as { createModel?: CreateModel };
  if (typeof mod.createModel !== 'function') throw new Error(`${url} does not export createModel()`);
  return { createModel: mod.createModel, url };
}

/** Does a fresh instance with these timings complete every kind of command at once? */
function probeZeroLatency(create: CreateModel, ns: WorkerInit['namespaces'][number], timing: TimingParams): boolean {
  const m = create(ns.emulation, ns.lbaSize, ns.capacityBytes);
  m.setTiming(timing);
  const t = 1e12;
  const big = Math.max(1, Math.min(m.nlb, Math.floor((1 << 20) / m.lbaSize)));
  return (
    m.submit(ModelOp.Read, 0, 1, false, t) === t &&
    m.submit(ModelOp.Write, 0, 1, false, t) === t &&
    m.submit(ModelOp.Write, 0, big, true, t) === t &&
    m.submit(ModelOp.Read, 0, big, false, t) === t &&
    m.submit(ModelOp.Flush, 0, 0, false, t) === t
  );
}

const { createModel, url: modelUrl } = await loadFactory();

/** Models by namespace index; null = removed at run time (indices never move). */
const models: (DeviceModel | null)[] = [];
const statsI32: Int32Array[] = [];
const statsF64: Float64Array[] = [];
const ready: ReadyNamespace[] = [];

/** Build and register the model of namespace `ns` (the next index); throws what the model throws. */
function addModel(ns: WorkerNamespace): ReadyNamespace {
  if (ns.removed) {
    models.push(null);
    statsI32.push(new Int32Array(ns.stats, 0, 2));
    statsF64.push(new Float64Array(ns.stats));
    return { kind: ns.emulation.type, timing: {}, zeroLatency: false };
  }
  let m = createModel(ns.emulation, ns.lbaSize, ns.capacityBytes);
  let restore: ReadyNamespace['restore'];
  if (ns.state) {
    try {
      if (!m.importState) throw new Error(`a ${m.kind} model keeps no state`);
      m.importState(ns.state, nowNs());
      restore = { ok: true };
    } catch (err) {
      m = createModel(ns.emulation, ns.lbaSize, ns.capacityBytes); // a half-restored model is worse than a fresh one
      restore = { ok: false, error: (err as Error).message };
    }
    delete ns.state; // a restarted worker rebuilds from scratch, not from an old snapshot
  }
  if (Object.keys(ns.timing).length > 0) m.setTiming(ns.timing);
  models.push(m);
  statsI32.push(new Int32Array(ns.stats, 0, 2));
  statsF64.push(new Float64Array(ns.stats));
  const timing = m.timing();
  const r: ReadyNamespace = { kind: m.kind, timing, zeroLatency: m.kind === 'nvm' && probeZeroLatency(createModel, ns, timing) };
  if (restore) r.restore = restore;
  return r;
}

const issuesOf = (err: unknown): { message: string; errors?: { path: string; message: string }[] } => {
  const e = err as Error & { errors?: { path: string; message: string }[] };
  return { message: e.message, ...(Array.isArray(e.errors) ? { errors: e.errors } : {}) };
};

const namespaces = [...init.namespaces];
init.namespaces.length = 0;
for (let i = 0; i < namespaces.length; i++) {
  try {
    init.namespaces.push(namespaces[i]!);
    ready.push(addModel(namespaces[i]!));
  } catch (err) {
    post({ type: 'initError', ns: i, ...issuesOf(err) });
    process.exit(1);
  }
}

const sq = Ring.attach(init.sq, SQ_WORDS, 'consumer');
const cq = Ring.attach(init.cq, CQ_WORDS, 'producer');
const sqI = sq.i32;
const sqF = sq.f64;
const cqI = cq.i32;
const cqF = cq.f64;
const spinNs = init.spinNs;
const idleSpinNs = init.idleSpinNs;
const handoffNs = init.handoffNs;
const mirrorNs = init.mirrorIntervalNs;
const doorbellPort = init.doorbellPort;
const heap = new DeadlineHeap(4096);
let unpublished = 0;

function mirror(): void {
  for (let i = 0; i < models.length; i++) {
    const m = models[i];
    if (m) writeCounters(statsI32[i]!, statsF64[i]!, m.counters());
  }
}

function complete(tag: number, status: number, targetNs: number): void {
  const w = cq.slot();
  // The network thread never has more commands outstanding than the ring holds.
  if (w < 0) throw new Error('device engine: completion ring overflow');
  cqI[w] = tag;
  cqI[w + 1] = status;
  cqF[(w >> 1) + 1] = targetNs;
  cq.push();
  unpublished++;
}

function control(): void {
  let r = receiveMessageOnPort(port);
  // The message was queued before its marker was published; it is there (retry is paranoia).
  for (let i = 0; r === undefined && i < 1000; i++) r = receiveMessageOnPort(port);
  if (r === undefined) throw new Error('device engine: control marker without a message');
  const m = r.message as ControlMessage;
  switch (m.type) {
    case 'setTiming': {
      const model = models[m.ns];
      try {
        if (!model) throw new Error('namespace removed');
        model.setTiming(m.params);
        const timing = model.timing();
        const zero = model.kind === 'nvm' && probeZeroLatency(createModel, init.namespaces[m.ns]!, timing);
        post({ type: 'reply', id: m.id, ok: true, timing, zeroLatency: zero });
      } catch (err) {
        post({ type: 'reply', id: m.id, ok: false, error: (err as Error).message });
      }
      return;
    }
    case 'addNamespace': {
      const index = models.length;
      try {
        init.namespaces.push(m.ns);
        const r = addModel(m.ns);
        writeCounters(statsI32[index]!, statsF64[index]!, models[index]!.counters());
        post({ type: 'reply', id: m.id, ok: true, timing: r.timing, zeroLatency: r.zeroLatency, kind: r.kind });
      } catch (err) {
        // Keep the index taken (the network thread numbers namespaces the same way), empty.
        init.namespaces.length = index;
        models.length = statsI32.length = statsF64.length = index;
        init.namespaces.push({ ...m.ns, removed: true });
        addModel({ ...m.ns, removed: true });
        const e = issuesOf(err);
        post({ type: 'reply', id: m.id, ok: false, error: e.message, ...(e.errors ? { errors: e.errors } : {}) });
      }
      return;
    }
    case 'exportState': {
      const model = models[m.ns];
      const state = model?.exportState ? model.exportState() : null;
      post({ type: 'reply', id: m.id, ok: true, timing: {}, zeroLatency: false, state });
      return;
    }
    case 'removeNamespace':
      models[m.ns] = null;
      init.namespaces[m.ns] = { ...init.namespaces[m.ns]!, removed: true };
      post({ type: 'reply', id: m.id, ok: true, timing: {}, zeroLatency: false });
      return;
    case 'crash':
      mirror();
      if (m.how === 'exit') process.exit(3);
      if (m.how === 'hang') for (;;); // a model caught in a loop: only the watchdog gets us out
      throw new Error('device worker crash requested (test hook)');
  }
}

const beat = new Int32Array(init.heartbeat);

function run(): void {
  let lastMirror = nowNs();
  let lastCommand = 0;
  for (;;) {
    beat[0] = (beat[0]! + 1) | 0;
    let now = nowNs();
    let n = sq.available();
    if (n > 0) {
      for (; n > 0; n--) {
        const w = sq.peek();
        const opw = sqI[w + 2]!;
        const op = opw & 0xff;
        sq.advance();
        if (op === SQ_OP_CONTROL) {
          control();
          continue;
        }
        const tag = sqI[w]!;
        const f = w >> 1;
        const t = models[sqI[w + 1]!]!.submit(op as ModelOpCode, sqF[f + 2]!, sqI[w + 3]! >>> 0, (opw & SQ_FUA) !== 0, sqF[f + 3]!);
        heap.push(t, tag); // even if due: completions leave in deadline order
      }
      sq.release();
      now = nowNs();
      lastCommand = now;
    }
    // Post what is due. While the network thread is parked (CQ flag set), post `handoffNs` early:
    // it holds early completions and completes them at their target time, awake by then rather
    // than just being woken. While it is busy it takes completions as they come, at the deadline.
    const early = Atomics.load(cqI, RingWord.Flag) === 1 ? handoffNs : 0;
    while (heap.size > 0 && heap.peekKey() - early <= now) {
      const t = heap.peekKey();
      complete(heap.pop(), 0, t);
    }
    if (unpublished > 0) {
      cq.publish();
      unpublished = 0;
      if (Atomics.compareExchange(cqI, RingWord.Flag, 1, 0) === 1) {
        if (doorbellPort === null) Atomics.notify(cqI, RingWord.Tail);
        else doorbellPort.postMessage(0);
      }
    }
    if (now - lastMirror >= mirrorNs) {
      mirror();
      lastMirror = now;
    }
    if (sq.available() > 0) continue;
    const delta = heap.peekKey() - handoffNs - now; // Infinity when nothing is outstanding
    if (delta <= spinNs) continue; // last stretch: spin
    // Idle, but a command just came: the next one likely follows at once (QD1 back to back); a
    // sleeping worker would add its wake-up (5-15 µs here) to that command's hop.
    if (delta === Infinity && now - lastCommand < idleSpinNs) continue;
    if (delta === Infinity) {
      mirror();
      lastMirror = now;
    }
    // Sleep: announce it, then wait while the tail is still where we consumed up to. A submitter
    // stores the tail before loading the flag, so either it sees the flag and notifies, or the
    // wait sees the new tail and returns at once.
    Atomics.store(sqI, RingWord.Flag, 1);
    beat[1] = 1;
    Atomics.wait(sqI, RingWord.Tail, sq.position, delta === Infinity ? Infinity : (delta - spinNs) / 1e6);
    beat[1] = 0;
    Atomics.store(sqI, RingWord.Flag, 0);
  }
}

mirror();
post({ type: 'ready', namespaces: ready, modelModule: modelUrl });
run();
