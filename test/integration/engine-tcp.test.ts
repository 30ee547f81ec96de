// The device engine behind the real target, over TCP with our initiator: a namespace whose model
// (src/devices/presets.ts `nvm`, 200 µs fixed latency) runs on a worker thread. Data round trips
// under load on several queues, latency is at least the modelled time (lower bound only), and a
// crashed worker costs the commands in flight (Internal Error, retryable) but no data.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateTopology } from '../../src/config/topology.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost, NvmeStatusError } from '../../src/initiator/index.js';
import { LogPage } from '../../src/protocol/constants.js';
import { Status } from '../../src/protocol/status.js';
import { pattern } from '../helpers/pattern.js';

const SUBNQN = 'nqn.2024-01.io.nvmf-emu:engine-test';
const LAT_NS = 200_000;
const logLines: { level: number; msg: string; worker?: number; failedCommands?: number }[] = [];

let daemon: Daemon;
let host: NvmeHost;


beforeAll(async () => {
  const topology = validateTopology({
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [SUBNQN] }],
    subsystems: [
      {
        nqn: SUBNQN,
        attr: { allow_any_host: 1 },
        namespaces: [
          { nsid: 1, emulation: { type: 'nvm', capacity: '256MiB', lba_size: 4096, read_latency_ns: LAT_NS, write_latency_ns: LAT_NS } },
          { nsid: 2, emulation: { type: 'nvm', capacity: '64MiB', lba_size: 4096 } },
        ],
      },
    ],
  });
  topology.ports[0]!.addr.trsvcid = 0;
  const logger = pino({ level: 'info' }, { write: (s: string) => void logLines.push(JSON.parse(s)) });
  daemon = await startDaemon({ topology, logger, engine: { workers: 2 } });
  host = await NvmeHost.connect({ host: '127.0.0.1', port: daemon.listeners[0]!.port, subnqn: SUBNQN, ioQueues: 4, queueSize: 64 });
});

afterAll(async () => {
  await host?.disconnect().catch(() => {});
  await daemon?.stop();
  expect(daemon.engine.describe().every((w) => w.state === 'stopped')).toBe(true);
});

const ns1 = (): NonNullable<ReturnType<Daemon['target']['subsystems']['get']>> => daemon.target.subsystems.get(SUBNQN)!;

describe('device engine over TCP', () => {
  it('puts the 200 µs namespace on a worker and keeps the zero-latency one inline', () => {
    const s = ns1();
    const a = s.namespaces.get(1)!;
    const b = s.namespaces.get(2)!;
    expect(a.model!.inline).toBe(false);
    expect(a.timing()).toMatchObject({ read_latency_ns: LAT_NS, write_latency_ns: LAT_NS });
    expect(b.model!.inline).toBe(true);
    expect(daemon.engine.workerCount).toBe(2);
  });

  it('counts what the inline (zero-latency) namespace read, wrote and trimmed in its model counters', async () => {
    const b = ns1().namespaces.get(2)!;
    const before = b.counters();
    await host.write(2, 100, pattern(3 * 4096, 5));
    await host.writeZeroes(2, 200, 2);
    await host.read(2, 100, 3);
    await host.deallocate(2, [{ slba: 300, nlb: 4 }]);
    await host.flush(2);
    const after = b.counters();
    expect(after.hostWrittenBytes - before.hostWrittenBytes).toBe(5 * 4096);
    expect(after.mediaWrittenUserBytes - before.mediaWrittenUserBytes).toBe(5 * 4096);
    expect(after.hostReadBytes - before.hostReadBytes).toBe(3 * 4096);
    expect(after.trimmedBytes - before.trimmedBytes).toBe(4 * 4096);
  });

  it('round-trips data under QD32 on each of 4 queues', async () => {
    const blocks = 2048;
    const written = new Map<number, Buffer>();
    const jobs: Promise<void>[] = [];
    for (let qid = 1; qid <= 4; qid++) {
      for (let d = 0; d < 32; d++) {
        jobs.push(
          (async () => {
            for (let k = 0; k < 8; k++) {
              const lba = ((qid - 1) * 32 + d) * 16 + k * 2; // disjoint per job
              const nlb = 1 + ((lba >> 1) % 2);
              const data = pattern(nlb * 4096, lba + 1);
              await host.write(1, lba, data, { qid, fua: k % 3 === 0 });
              written.set(lba, data);
            }
          })(),
        );
      }
    }
    await Promise.all(jobs);
    expect(written.size).toBe(4 * 32 * 8);
    const reads: Promise<void>[] = [];
    const lbas = [...written.keys()];
    for (let qid = 1; qid <= 4; qid++) {
      for (let d = 0; d < 32; d++) {
        reads.push(
          (async () => {
            for (let i = (qid - 1) * 32 + d; i < lbas.length; i += 128) {
              const lba = lbas[i]!;
              const want = written.get(lba)!;
              const got = await host.read(1, lba, want.length / 4096, { qid });
              expect(got.equals(want)).toBe(true);
            }
          })(),
        );
      }
    }
    await Promise.all(reads);
    expect(lbas.every((l) => l < blocks)).toBe(true);
  });

  it('measures at least the modelled latency at QD1 (lower bound only)', async () => {
    const ns = ns1().namespaces.get(1)!;
    const busyBefore = ns.stats.busyMs;
    for (let i = 0; i < 50; i++) {
      const t0 = process.hrtime.bigint();
      await host.read(1, i, 1, { qid: 1 });
      expect(Number(process.hrtime.bigint() - t0)).toBeGreaterThanOrEqual(LAT_NS);
      const t1 = process.hrtime.bigint();
      await host.write(1, 4000 + i, pattern(4096, i), { qid: 2 });
      expect(Number(process.hrtime.bigint() - t1)).toBeGreaterThanOrEqual(LAT_NS);
    }
    // SMART busy time accumulates the modelled service time.
    expect(ns.stats.busyMs - busyBefore).toBeGreaterThanOrEqual((100 * LAT_NS) / 1e6 - 1e-6);
  });

  it('runs Flush, Write Zeroes, Deallocate, Compare and Verify through the model', async () => {
    const data = pattern(8 * 4096, 99);
    await host.write(1, 10_000, data, { fua: true });
    await host.flush(1);
    await host.flush(0xffffffff);
    expect(await host.compare(1, 10_000, data)).toBe(true);
    expect(await host.compare(1, 10_000, pattern(8 * 4096, 98))).toBe(false);
    await host.verify(1, 10_000, 8);
    await host.writeZeroes(1, 10_000, 2);
    expect((await host.read(1, 10_000, 2)).equals(Buffer.alloc(2 * 4096))).toBe(true);
    await host.deallocate(1, [
      { slba: 10_002n, nlb: 2 },
      { slba: 10_006n, nlb: 1 },
      { slba: 10_007n, nlb: 0 },
    ]);
    const after = await host.read(1, 10_000, 8);
    expect(after.subarray(2 * 4096, 4 * 4096).equals(Buffer.alloc(2 * 4096))).toBe(true);
    expect(after.subarray(4 * 4096, 6 * 4096).equals(data.subarray(4 * 4096, 6 * 4096))).toBe(true);
    expect(after.subarray(6 * 4096, 7 * 4096).equals(Buffer.alloc(4096))).toBe(true);
    expect(after.subarray(7 * 4096).equals(data.subarray(7 * 4096))).toBe(true);
    const ns = ns1().namespaces.get(1)!;
    for (let i = 0; i < 200 && ns.counters().trimmedBytes === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(ns.counters().hostWrittenBytes).toBeGreaterThan(0);
  });

  it('reports SMART wear from the model and data units from the host side', async () => {
    const page = await host.getLogPage(LogPage.Smart, 512, { nsid: 0xffffffff });
    expect(page[3]).toBe(100); // available spare (nvm: no wear)
    expect(page[4]).toBe(10); // threshold
    expect(page[5]).toBe(0); // percentage used
    expect(page.readBigUInt64LE(48)).toBeGreaterThan(0n); // data units written
  });

  it('survives a worker crash: in-flight commands fail with Internal Error, later ones succeed, data is intact', async () => {
    const ns = ns1().namespaces.get(1)!;
    const keep = pattern(16 * 4096, 4242);
    await host.write(1, 20_000, keep);
    // Hold commands in the worker long enough to crash it under them.
    await ns.setTiming({ read_latency_ns: 2_000_000_000 });
    const inflight = [1, 2, 3, 4].map((qid) => host.read(1, 20_000 + qid, 1, { qid }).then(() => null, (e: unknown) => e));
    await new Promise((r) => setTimeout(r, 50));
    const failuresBefore = daemon.engine.counters.workerFailures;
    daemon.engine.crashWorkerForTest(ns.model!.workerIndex);
    const errs = await Promise.all(inflight);
    for (const e of errs) {
      expect(e).toBeInstanceOf(NvmeStatusError);
      expect((e as NvmeStatusError).status).toBe(Status.InternalError); // SCT 0, SC 06h, DNR clear
    }
    expect(daemon.engine.counters.workerFailures).toBe(failuresBefore + 1);
    const logged = logLines.find((l) => l.level === 50 && /device worker failed/.test(l.msg));
    expect(logged?.failedCommands).toBe(4);

    await daemon.engine.whenReady();
    // The restarted worker keeps run-time timing; put it back.
    expect(ns.timing()).toMatchObject({ read_latency_ns: 2_000_000_000 });
    await ns.setTiming({ read_latency_ns: LAT_NS });
    expect((await host.read(1, 20_000, 16)).equals(keep)).toBe(true);
    const fresh = pattern(4096, 7);
    await host.write(1, 30_000, fresh, { qid: 3 });
    expect((await host.read(1, 30_000, 1, { qid: 4 })).equals(fresh)).toBe(true);
    // Data written before the crash by the earlier tests is still there too.
    expect((await host.read(1, 10_004, 2)).equals(pattern(8 * 4096, 99).subarray(4 * 4096, 6 * 4096))).toBe(true);
  });
});
