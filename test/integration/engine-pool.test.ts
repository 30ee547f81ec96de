// The device engine on its own (no network): worker pool, rings, deadlines, runtime timing,
// counters, back-pressure, worker failure and restart. Uses the fixed-latency stand-in model so
// that only the engine is under test. Time is only ever checked as a lower bound.
import { afterEach, describe, expect, it } from 'vitest';
import type { Emulation } from '../../src/config/topology.js';
import { nowNs } from '../../src/devices/engine/clock.js';
import { DeviceEngine, EngineInitError, STAND_IN_MODEL_MODULE, type EngineOptions, type NamespaceModel } from '../../src/devices/engine/engine.js';
import { ModelOp } from '../../src/devices/model.js';
import { Status } from '../../src/protocol/status.js';

const engines: DeviceEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
});

const nvm = (readNs: number, writeNs: number): Emulation =>
  ({ type: 'nvm', capacity: 1 << 30, lba_size: 4096, read_latency_ns: readNs, write_latency_ns: writeNs }) as Emulation;

async function engineWith(emus: Emulation[], o: EngineOptions = {}): Promise<{ e: DeviceEngine; ns: NamespaceModel[] }> {
  const e = new DeviceEngine({ modelModule: STAND_IN_MODEL_MODULE, ...o });
  engines.push(e);
  const ns = emus.map((emulation, i) => e.addNamespace({ emulation, lbaSize: 4096, capacityBytes: 1 << 30, label: `ns${i}` }));
  await e.start();
  return { e, ns };
}

interface Done {
  status: number;
  submittedNs: number;
  completedNs: number;
}

/** Submit one op and resolve with its status and the times around it. */
function op(ns: NamespaceModel, kind: number, slba = 0, nlb = 1, status: number = Status.Success, fua = false): Promise<Done> {
  return new Promise((resolve) => {
    const submittedNs = nowNs();
    ns.submit({ complete: (st) => resolve({ status: st, submittedNs, completedNs: nowNs() }) }, status, kind as 0, slba, nlb, fua);
  });
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`gave up waiting for ${what}`);
}

describe('device engine', () => {
  it('completes commands no earlier than their modelled time, with the status the network thread set', async () => {
    const { ns } = await engineWith([nvm(200_000, 300_000)]);
    const m = ns[0]!;
    expect(m.inline).toBe(false);
    expect(m.kind).toBe('nvm');
    expect(m.timing()).toEqual({ read_latency_ns: 200_000, write_latency_ns: 300_000 });
    for (let i = 0; i < 20; i++) {
      const r = await op(m, ModelOp.Read);
      expect(r.status).toBe(Status.Success);
      expect(r.completedNs - r.submittedNs).toBeGreaterThanOrEqual(200_000);
      const w = await op(m, ModelOp.Write, 8, 8, Status.Success, true);
      expect(w.completedNs - w.submittedNs).toBeGreaterThanOrEqual(300_000);
    }
    const cmp = await op(m, ModelOp.Read, 0, 1, Status.CompareFailure);
    expect(cmp.status).toBe(Status.CompareFailure);
  });

  it('spreads namespaces over the workers round robin and runs many commands concurrently', async () => {
    const { e, ns } = await engineWith([nvm(100_000, 100_000), nvm(50_000, 50_000), nvm(0, 20_000)], { workers: 2 });
    expect(e.workerCount).toBe(2);
    expect(ns.map((n) => n.workerIndex)).toEqual([0, 1, 0]);
    const all: Promise<Done>[] = [];
    for (let i = 0; i < 3000; i++) all.push(op(ns[i % 3]!, i % 2 === 0 ? ModelOp.Read : ModelOp.Write, i, 1));
    const done = await Promise.all(all);
    expect(done.every((d) => d.status === Status.Success)).toBe(true);
    done.forEach((d, i) => {
      const lat = [[100_000, 100_000], [50_000, 50_000], [0, 20_000]][i % 3]![i % 2];
      expect(d.completedNs - d.submittedNs).toBeGreaterThanOrEqual(lat!);
    });
    expect(e.describe().every((w) => w.inFlight === 0)).toBe(true);
  });

  it('queues on the network thread beyond the ring size, in order', async () => {
    const { ns } = await engineWith([nvm(10_000, 10_000)], { ringEntries: 4 });
    const order: number[] = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      all.push(
        new Promise((resolve) => ns[0]!.submit({ complete: () => (order.push(i), resolve()) }, 0, ModelOp.Write, i, 1, false)),
      );
    }
    await Promise.all(all);
    // Same latency, submitted in order: delivered in order (deadlines tie-break by submission).
    expect(order).toEqual([...Array(200).keys()]);
  });

  it('works with the MessagePort doorbell too', async () => {
    const { ns } = await engineWith([nvm(30_000, 30_000)], { doorbell: 'port' });
    const done = await Promise.all([...Array(500).keys()].map((i) => op(ns[0]!, ModelOp.Read, i)));
    expect(done.every((d) => d.status === 0 && d.completedNs - d.submittedNs >= 30_000)).toBe(true);
  });

  it('takes zero-latency nvm namespaces inline unless told not to', async () => {
    const a = await engineWith([nvm(0, 0), nvm(0, 1)]);
    expect(a.ns.map((n) => n.inline)).toEqual([true, false]);
    const b = await engineWith([nvm(0, 0)], { inlineZeroLatency: false });
    expect(b.ns[0]!.inline).toBe(false);
    const r = await op(b.ns[0]!, ModelOp.Read);
    expect(r.status).toBe(Status.Success);
  });

  it('changes timing at run time, in order with commands, and re-evaluates the fast path', async () => {
    const { ns } = await engineWith([nvm(0, 0)]);
    const m = ns[0]!;
    expect(m.inline).toBe(true);
    expect(await m.setTiming({ read_latency_ns: 400_000 })).toEqual({ read_latency_ns: 400_000, write_latency_ns: 0 });
    expect(m.inline).toBe(false);
    const r = await op(m, ModelOp.Read);
    expect(r.completedNs - r.submittedNs).toBeGreaterThanOrEqual(400_000);
    await expect(m.setTiming({ nope: 1 })).rejects.toThrow(/unknown timing parameter/);
    expect(m.timing()).toEqual({ read_latency_ns: 400_000, write_latency_ns: 0 });
    await m.setTiming({ read_latency_ns: 0 });
    expect(m.inline).toBe(true);
  });

  it('mirrors model counters into shared memory (no round trip to read them)', async () => {
    const { ns } = await engineWith([nvm(1000, 1000)]);
    const m = ns[0]!;
    expect(m.counters().hostWrittenBytes).toBe(0);
    expect(m.counters().availableSpare).toBe(100);
    await Promise.all([...Array(10).keys()].map((i) => op(m, ModelOp.Write, i * 2, 2)));
    await op(m, ModelOp.Read, 0, 4);
    await until(() => m.counters().hostReadBytes === 4 * 4096, 'counters to be mirrored');
    expect(m.counters().hostWrittenBytes).toBe(10 * 2 * 4096);
  });

  for (const how of ['throw', 'exit'] as const) {
    it(`a worker that ${how === 'throw' ? 'throws' : 'exits'} fails its outstanding commands with Internal Error and is restarted`, async () => {
      // Reads take 2 s: certainly still in flight when the crash marker (queued right after them) arrives.
      const { e, ns } = await engineWith([nvm(2_000_000_000, 5_000_000), nvm(1000, 1000)], { workers: 2 });
      const [slow, other] = ns as [NamespaceModel, NamespaceModel];
      await slow.setTiming({ write_latency_ns: 6_000_000 });
      await Promise.all([...Array(5).keys()].map((i) => op(slow, ModelOp.Write, i)));
      await until(() => slow.counters().hostWrittenBytes > 0, 'counters');
      const inflight = [...Array(8).keys()].map((i) => op(slow, ModelOp.Read, i));
      e.crashWorkerForTest(slow.workerIndex, how);
      const failed = await Promise.all(inflight);
      expect(failed.map((d) => d.status)).toEqual(Array(8).fill(Status.InternalError));
      expect(Status.InternalError & (1 << 14)).toBe(0); // DNR clear: the host may retry
      expect(e.counters.workerFailures).toBe(1);
      // The other worker is untouched.
      expect((await op(other, ModelOp.Read)).status).toBe(Status.Success);
      await e.whenReady();
      await until(() => e.counters.workerRestarts === 1, 'restart');
      expect(slow.available).toBe(true);
      const again = await op(slow, ModelOp.Write, 0);
      expect(again.status).toBe(Status.Success);
      // Fresh model: counters start over; the timing set at run time is kept.
      expect(slow.timing()).toEqual({ read_latency_ns: 2_000_000_000, write_latency_ns: 6_000_000 });
      expect(again.completedNs - again.submittedNs).toBeGreaterThanOrEqual(6_000_000);
      await until(() => slow.counters().hostWrittenBytes === 4096, 'fresh counters');
    });
  }

  it('reports a model that cannot be built as an EngineInitError and leaves no worker behind', async () => {
    const e = new DeviceEngine({ modelModule: STAND_IN_MODEL_MODULE });
    const bad = e.addNamespace({ emulation: { type: 'kv', capacity: 1 << 20, lba_size: 4096 } as unknown as Emulation, lbaSize: 4096, capacityBytes: 1 << 20, label: 'kv' });
    const err = await e.start().catch((x: unknown) => x);
    expect(err).toBeInstanceOf(EngineInitError);
    expect((err as EngineInitError).namespace).toBe(bad);
    expect((err as Error).message).toMatch(/no "kv" emulation/);
    expect(e.describe()[0]!.state).toBe('stopped');
  });

  it('adds and removes namespaces while running; a removed one is not rebuilt by a restart', async () => {
    const { e, ns } = await engineWith([nvm(100_000, 100_000)], { workers: 2 });
    const spec = (emulation: Emulation, label: string) => ({ emulation, lbaSize: 4096, capacityBytes: 1 << 30, label });
    // The second worker never ran: the first live namespace starts it.
    const b = await e.addNamespaceLive(spec(nvm(300_000, 0), 'live-b'));
    expect(b.workerIndex).toBe(1);
    expect(e.describe()[1]!.state).toBe('ready');
    const c = await e.addNamespaceLive(spec(nvm(200_000, 0), 'live-c'));
    expect(c.workerIndex).toBe(0);
    expect(c.timing()).toEqual({ read_latency_ns: 200_000, write_latency_ns: 0 });
    const r = await op(c, ModelOp.Read);
    expect(r.completedNs - r.submittedNs).toBeGreaterThanOrEqual(200_000);
    expect((await op(b, ModelOp.Read)).completedNs).toBeGreaterThan(0);
    // A model that cannot be built: rejected, and the worker carries on.
    const bad = await e.addNamespaceLive(spec({ type: 'kv', capacity: 1 << 20, lba_size: 4096 } as unknown as Emulation, 'bad')).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(EngineInitError);
    expect((bad as Error).message).toMatch(/no "kv" emulation/);
    expect((await op(ns[0]!, ModelOp.Read)).status).toBe(Status.Success);
    await until(() => c.counters().hostReadBytes === 4096, 'counters of the live namespace');
    await e.removeNamespace(ns[0]!);
    // A restart rebuilds what is live (c) and leaves the removed and the failed ones empty.
    e.crashWorkerForTest(0);
    await until(() => e.counters.workerRestarts === 1, 'restart');
    expect(e.counters.workerFailures).toBe(1);
    const again = await op(c, ModelOp.Read);
    expect(again.status).toBe(Status.Success);
    expect(again.completedNs - again.submittedNs).toBeGreaterThanOrEqual(200_000);
  });

  it('a worker stuck in a loop is found by the watchdog, terminated and restarted; its commands fail with Internal Error', async () => {
    const { e, ns } = await engineWith([nvm(100_000_000, 0)], { stuckMs: 300 });
    const m = ns[0]!;
    const pending = op(m, ModelOp.Read); // due in 100 ms: still outstanding when the worker hangs
    e.crashWorkerForTest(0, 'hang');
    expect((await pending).status).toBe(Status.InternalError);
    await until(() => e.counters.workerRestarts === 1, 'restart');
    expect(e.counters.workersStuck).toBe(1);
    expect(e.counters.workerFailures).toBe(1);
    expect((await op(m, ModelOp.Write)).status).toBe(Status.Success);
  });

  it('the watchdog leaves an idle or long-sleeping worker alone', async () => {
    const { e, ns } = await engineWith([nvm(600_000_000, 0)], { stuckMs: 100 });
    expect((await op(ns[0]!, ModelOp.Read)).status).toBe(Status.Success); // asleep 600 ms until its deadline
    await new Promise((r) => setTimeout(r, 300));
    expect(e.counters.workersStuck).toBe(0);
    expect(e.counters.workerFailures).toBe(0);
  });

  it('stop() terminates the workers; commands in flight complete with Internal Error', async () => {
    const { e, ns } = await engineWith([nvm(50_000_000, 0)]);
    const p = op(ns[0]!, ModelOp.Read);
    await e.stop();
    expect((await p).status).toBe(Status.InternalError);
    expect(e.describe()[0]!.state).toBe('stopped');
    expect(e.counters.workerFailures).toBe(0);
  });
});
