// Device engine benchmark (`npm run build && node dist/bench/engine.js`): what the worker hop
// costs and how precisely deadlines are met. Runs the production build (dist/, compiled worker).
//  1. hop, no network: QD1 round trip of one command through the rings to a zero-latency model
//     and back, vs completing inline; both doorbells (Atomics.waitAsync, MessagePort);
//  2. IOPS ceiling of the hop: zero-latency model, N commands kept in flight, completions/s;
//  3. deadline precision: fixed-latency model, (time the network thread takes the completion -
//     modelled target time), p50/p99/p99.9, at QD1 and QD32, for several spin windows;
//  4. over TCP, QD1 4 KiB reads from our initiator (this process) against a target in a child
//     process: zero-latency namespace inline, the same through the engine, and 200 µs modelled.
// Env: ENGINE_BENCH_SECONDS (default 3) per measurement.
import { fork } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { validateTopology, type Emulation } from '../src/config/topology.js';
import { startDaemon } from '../src/daemon.js';
import { nowNs } from '../src/devices/engine/clock.js';
import { DeviceEngine, STAND_IN_MODEL_MODULE, type CompletionSink, type EngineOptions, type NamespaceModel } from '../src/devices/engine/engine.js';
import { ModelOp } from '../src/devices/model.js';
import { NvmeHost } from '../src/initiator/host.js';

const SECONDS = Number(process.env.ENGINE_BENCH_SECONDS ?? 3);
const SUBNQN = 'nqn.2024-01.io.nvmf-emu:engine-bench';

const nvm = (lat: number): Emulation => ({ type: 'nvm', capacity: 1 << 30, lba_size: 4096, read_latency_ns: lat, write_latency_ns: lat }) as Emulation;

function pct(v: Float64Array, p: number): number {
  return v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor(p * v.length))]!;
}
function stats(v: number[] | Float64Array): { p50: number; p99: number; p999: number; n: number } {
  const s = Float64Array.from(v).sort();
  return { p50: pct(s, 0.5), p99: pct(s, 0.99), p999: pct(s, 0.999), n: s.length };
}
const us = (ns: number): string => (ns / 1000).toFixed(1);

async function withEngine<T>(lat: number, o: EngineOptions, fn: (e: DeviceEngine, ns: NamespaceModel) => Promise<T>): Promise<T> {
  const e = new DeviceEngine({ modelModule: STAND_IN_MODEL_MODULE, inlineZeroLatency: false, workers: 1, ...o });
  const ns = e.addNamespace({ emulation: nvm(lat), lbaSize: 4096, capacityBytes: 1 << 30, label: 'bench' });
  await e.start();
  try {
    return await fn(e, ns);
  } finally {
    await e.stop();
  }
}

const once = (ns: NamespaceModel, slba: number): Promise<number> =>
  new Promise((resolve) => ns.submit({ complete: resolve }, 0, ModelOp.Read, slba, 1, false));

/** QD1 round trips for SECONDS; returns per-command ns. */
async function qd1(submit: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  const end = nowNs() + SECONDS * 1e9;
  for (let i = 0; nowNs() < end; i++) {
    const t0 = nowNs();
    await submit(i);
    out.push(nowNs() - t0);
  }
  return out.slice(Math.min(1000, out.length >> 4)); // drop warm-up
}

async function ceiling(doorbell: 'waitAsync' | 'port', qd: number): Promise<number> {
  return withEngine(0, { doorbell }, async (_e, ns) => {
    let count = 0;
    let stop = false;
    let outstanding = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const sink: CompletionSink = {
      complete() {
        count++;
        if (!stop) ns.submit(sink, 0, ModelOp.Read, count & 0xffff, 1, false);
        else if (--outstanding === 0) done();
      },
    };
    // warm up, then count
    const t0 = nowNs();
    for (let i = 0; i < qd; i++) ns.submit(sink, 0, ModelOp.Read, i, 1, false);
    outstanding = qd;
    await new Promise((r) => setTimeout(r, 300));
    const c0 = count;
    const s0 = nowNs();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const c1 = count;
    const s1 = nowNs();
    stop = true;
    await finished;
    void t0;
    return ((c1 - c0) / (s1 - s0)) * 1e9;
  });
}

async function precision(lat: number, qd: number, spinNs: number, handoffNs: number, doorbell: 'waitAsync' | 'port' = 'waitAsync'): Promise<ReturnType<typeof stats>> {
  return withEngine(lat, { spinNs, handoffNs, doorbell }, async (e, ns) => {
    const late: number[] = [];
    let stop = false;
    let outstanding = qd;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    let i = 0;
    const sink: CompletionSink = {
      complete() {
        if (!stop) ns.submit(sink, 0, ModelOp.Read, i++ & 0xffff, 1, false);
        else if (--outstanding === 0) done();
      },
    };
    await new Promise((r) => setTimeout(r, 100));
    e.latenessProbe = (l) => void late.push(l);
    for (let k = 0; k < qd; k++) ns.submit(sink, 0, ModelOp.Read, k, 1, false);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    stop = true;
    await finished;
    e.latenessProbe = null;
    return stats(late.slice(Math.min(200, late.length >> 4)));
  });
}

// ---------------------------------------------------------------- TCP (target in a child process)

interface ServeArgs {
  inline: boolean;
  spinNs?: number;
}

async function serve(args: ServeArgs): Promise<void> {
  const topology = validateTopology({
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [SUBNQN] }],
    subsystems: [
      {
        nqn: SUBNQN,
        attr: { allow_any_host: 1 },
        namespaces: [
          { nsid: 1, emulation: { type: 'nvm', capacity: '1GiB', lba_size: 4096 } },
          { nsid: 2, emulation: { type: 'nvm', capacity: '1GiB', lba_size: 4096, read_latency_ns: 200_000, write_latency_ns: 200_000 } },
        ],
      },
    ],
  });
  topology.ports[0]!.addr.trsvcid = 0;
  const d = await startDaemon({ topology, engine: { inlineZeroLatency: args.inline, workers: 1, spinNs: args.spinNs } });
  process.send!({ port: d.listeners[0]!.port });
  process.on('message', () => void d.stop().then(() => process.exit(0)));
}

async function tcpQd1(args: ServeArgs, nsid: number): Promise<ReturnType<typeof stats>> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', JSON.stringify(args)], { stdio: 'inherit' });
  const port = await new Promise<number>((r) => child.once('message', (m: { port: number }) => r(m.port)));
  const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ioQueues: 1, kato: 0 });
  await h.write(nsid, 0, Buffer.alloc(4096 * 64, 1));
  const lat = await qd1((i) => h.read(nsid, (i * 7) % 64, 1));
  await h.close();
  child.send('stop');
  await new Promise((r) => child.once('exit', r));
  return stats(lat);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const si = process.argv.indexOf('--serve');
  if (si >= 0) return serve(JSON.parse(process.argv[si + 1]!) as ServeArgs);
  const out: string[] = [];
  const line = (s: string): void => {
    out.push(s);
    console.log(s);
  };
  line(`Machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), Node ${process.version}; ${SECONDS} s per measurement.`);
  line('');
  line('Hop at QD1, no network (round trip submit -> complete on the network thread, µs):');
  line('');
  line('| path | p50 | p99 | p99.9 |');
  line('|---|---|---|---|');
  const inline = stats(await qd1(() => new Promise<number>((r) => ({ complete: r }).complete(0))));
  line(`| inline (no worker; the zero-latency nvm fast path) | ${us(inline.p50)} | ${us(inline.p99)} | ${us(inline.p999)} |`);
  for (const db of ['waitAsync', 'port'] as const) {
    const s = await withEngine(0, { doorbell: db }, async (_e, ns) => stats(await qd1((i) => once(ns, i & 0xffff))));
    line(`| worker hop, zero-latency model, ${db} doorbell | ${us(s.p50)} | ${us(s.p99)} | ${us(s.p999)} |`);
  }
  line('');
  line('IOPS ceiling of the hop (zero-latency model, commands kept in flight, one worker):');
  line('');
  line('| in flight | waitAsync | port |');
  line('|---|---|---|');
  for (const qd of [1, 32, 256]) {
    const a = await ceiling('waitAsync', qd);
    const b = await ceiling('port', qd);
    line(`| ${qd} | ${(a / 1000).toFixed(0)}K/s | ${(b / 1000).toFixed(0)}K/s |`);
  }
  line('');
  line('Deadline precision: time the network thread completes the command minus its modelled completion time (µs):');
  line('');
  line('| model latency | in flight | spin window | hand-off | p50 | p99 | p99.9 |');
  line('|---|---|---|---|---|---|---|');
  for (const [lat, qd, spin, ahead] of [
    [200_000, 1, 0, 0],
    [200_000, 1, 50_000, 0],
    [200_000, 1, 150_000, 0],
    [200_000, 1, 150_000, 50_000],
    [200_000, 1, 150_000, 80_000],
    [200_000, 1, 100_000, 80_000],
    [200_000, 32, 150_000, 80_000],
    [20_000, 1, 150_000, 80_000],
    [1_000_000, 1, 150_000, 0],
    [1_000_000, 1, 150_000, 80_000],
    [1_000_000, 32, 150_000, 80_000],
  ] as const) {
    const s = await precision(lat, qd, spin, ahead);
    line(`| ${lat / 1000} µs | ${qd} | ${spin / 1000} µs | ${ahead / 1000} µs | ${us(s.p50)} | ${us(s.p99)} | ${us(s.p999)} |`);
  }
  const port = await precision(200_000, 1, 150_000, 80_000, 'port');
  line(`| 200 µs | 1 | 150 µs | 80 µs, port doorbell | ${us(port.p50)} | ${us(port.p99)} | ${us(port.p999)} |`);
  const port0 = await precision(200_000, 1, 150_000, 0, 'port');
  line(`| 200 µs | 1 | 150 µs | 0, port doorbell | ${us(port0.p50)} | ${us(port0.p99)} | ${us(port0.p999)} |`);
  line('');
  line('Over TCP, QD1 4 KiB random read, initiator in this process, target in a child process (µs):');
  line('');
  line('| namespace | p50 | p99 | p99.9 |');
  line('|---|---|---|---|');
  const a = await tcpQd1({ inline: true }, 1);
  line(`| zero latency, inline fast path | ${us(a.p50)} | ${us(a.p99)} | ${us(a.p999)} |`);
  const b = await tcpQd1({ inline: false }, 1);
  line(`| zero latency, through the engine | ${us(b.p50)} | ${us(b.p99)} | ${us(b.p999)} |`);
  const c = await tcpQd1({ inline: false }, 2);
  line(`| 200 µs modelled (engine) | ${us(c.p50)} | ${us(c.p99)} | ${us(c.p999)} |`);
}

await main();
