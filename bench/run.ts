// `npm run bench`: the floor responder and the target each in their own process on core 0, the load
// generator here on core 1; every workload run BENCH_RUNS times (median kept), BENCH_SECONDS each.
// Prints a markdown table and writes it into BENCHMARKS.md between the bench markers.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crcLine } from './crc.js';
import { startFloorServer } from './floor.js';
import { type LoadResult, type LoadSpec } from './load.js';
import { runRawFloor, runRawLoad as runLoad } from './raw-load.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
/** Paired comparisons (digests, metrics on/off): this many pairs of slices this long. */
const PAIRS = Number(process.env.BENCH_PAIRS ?? 16);
const PAIR_SECONDS = Number(process.env.BENCH_PAIR_SECONDS ?? 1);
const SUBNQN = 'nqn.2024-01.io.nvmf-emu:bench';


function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

/** `core`: a core number or a taskset list ("0,1"). */
function spawnPinned(core: number | string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
  const c = hasTaskset() ? spawn('taskset', ['-c', String(core), process.execPath, ...args], { stdio: [stdin, 'pipe', 'inherit'] })
    : spawn(process.execPath, args, { stdio: [stdin, 'pipe', 'inherit'] });
  children.push(c);
  return c;
}

function firstLine(p: ChildProcess, match: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    p.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = buf.match(match);
      if (m) resolve(m);
    });
    p.on('exit', (code) => reject(new Error(`child exited with ${code}: ${buf}`)));
  });
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

/** The measured target's topology (one zero-latency 1 GiB nvm namespace on a free port) at `path`. */
async function writeTargetConfig(path: string): Promise<string> {
  writeFileSync(path, JSON.stringify({
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: String(await freePort()) }, param: { inline_data_size: 16384 }, subsystems: [SUBNQN] }],
    subsystems: [{ nqn: SUBNQN, attr: { allow_any_host: '1' }, allowed_hosts: [], namespaces: [{ nsid: 1, enable: 1, device: {}, emulation: { type: 'nvm', capacity: '1GiB' } }] }],
  }));
  return path;
}

/** One sequential pass of 128 KiB writes over the span. */
async function fill(base: Omit<LoadSpec, 'depth' | 'blockSize' | 'readFraction' | 'random'>): Promise<void> {
  await runLoad({ ...base, depth: 8, blockSize: 128 * 1024, readFraction: 0, random: false, seconds: 600, once: true });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  name: string;
  iops: number;
  mibps: number;
  p50: number;
  p99: number;
  p999: number;
  cpu: number;
  /** The load generator's own CPU (this process, both cores' worth of threads): near 100%, it is the limit. */
  loadCpu: number;
  floorRatio: string;
}

async function main(): Promise<void> {
  if (hasTaskset()) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const tmp = mkdtempSync(join(os.tmpdir(), 'nvmf-emu-bench-'));
  if (process.env.BENCH_ONLY === 'live' || process.env.BENCH_ONLY === 'metrics') {
    // Just one table, printed (development aid; BENCHMARKS.md is left alone).
    const b0 = { host: '127.0.0.1', port: 0, subnqn: SUBNQN, nsid: 1, connections: 1, queues: 1, seconds: SECONDS, span: 1 << 30 };
    process.stdout.write((process.env.BENCH_ONLY === 'live' ? await liveLatency(tmp, b0) : await metricsOnOff(tmp, b0)) + '\n');
    process.exit(0);
  }
  const crc = crcLine();
  const cfgPath = await writeTargetConfig(join(tmp, 'bench.json'));

  // Floor: minimal node:net responder on core 0, its client here.
  const floorProc = spawnPinned(0, [fileURLToPath(import.meta.url), 'floor-server']);
  const floorPort = Number((await firstLine(floorProc, /^(\d+)\n/m))[1]);
  const floorQd1: LoadResult[] = [];
  const floorQd32: LoadResult[] = [];
  for (let r = 0; r < RUNS; r++) {
    floorQd1.push(await runRawFloor(floorPort, 1, SECONDS));
    floorQd32.push(await runRawFloor(floorPort, 32, SECONDS));
  }
  floorProc.kill();

  const target = spawnPinned(0, [join(root, 'dist/src/cli/main.js'), '--config', cfgPath, '--no-http-enabled', '--log-level', 'warn']);
  const port = Number((await firstLine(target, /listening on 127\.0\.0\.1:(\d+)/))[1]);
  const base: Omit<LoadSpec, 'depth' | 'blockSize' | 'readFraction' | 'random'> = {
    host: '127.0.0.1', port, subnqn: SUBNQN, nsid: 1, connections: 1, queues: 1, seconds: SECONDS, span: 1 << 30,
  };
  // Fill the whole span so reads return real data, not the shared zero page, and writes never pay
  // for allocating a chunk (a fill by time, as before 2026-12-07, covered 60% of it on a fresh target).
  await fill(base);
  // A fresh target's first seconds are 30-40% slower (JIT): warm the 4 KiB paths up before measuring.
  await runLoad({ ...base, depth: 32, blockSize: 4096, readFraction: 0.5, random: true, seconds: 3 });

  const workloads: { name: string; spec: Partial<LoadSpec>; floor?: LoadResult[] }[] = [
    { name: '4 KiB random read, QD1', spec: { depth: 1, blockSize: 4096, readFraction: 1, random: true }, floor: floorQd1 },
    { name: '4 KiB random read, QD32', spec: { depth: 32, blockSize: 4096, readFraction: 1, random: true }, floor: floorQd32 },
    { name: '4 KiB random write, QD32', spec: { depth: 32, blockSize: 4096, readFraction: 0, random: true }, floor: floorQd32 },
    { name: '128 KiB sequential read, QD8', spec: { depth: 8, blockSize: 128 * 1024, readFraction: 1, random: false } },
    { name: '128 KiB sequential write, QD8', spec: { depth: 8, blockSize: 128 * 1024, readFraction: 0, random: false } },
    { name: '4 KiB random read, QD32, header+data digests', spec: { depth: 32, blockSize: 4096, readFraction: 1, random: true, hdgst: true, ddgst: true }, floor: floorQd32 },
  ];
  const rows: Row[] = [];
  // Round robin over the workloads (run 1 of each, then run 2...): this VM's speed drifts by tens
  // of percent over minutes, and consecutive runs of one workload would catch a slow spell alone.
  const runsOf = workloads.map(() => [] as { r: LoadResult; cpu: number; loadCpu: number }[]);
  for (let i = 0; i < RUNS; i++) {
    for (const [k, w] of workloads.entries()) {
      const c0 = cpuSeconds(target.pid!);
      const u0 = process.cpuUsage();
      const r = await runLoad({ ...base, ...(w.spec as LoadSpec) });
      const u = process.cpuUsage(u0);
      runsOf[k]!.push({ r, cpu: (cpuSeconds(target.pid!) - c0) / r.seconds, loadCpu: (u.user + u.system) / 1e6 / r.seconds });
      process.stderr.write(`  run ${i + 1}/${RUNS} ${w.name}: ${(r.iops / 1000).toFixed(1)}K, p99.9 ${r.p999us.toFixed(0)} µs${r.errors ? `, ${r.errors} errors` : ''}\n`);
    }
  }
  for (const [k, w] of workloads.entries()) {
    const runs = runsOf[k]!;
    const iops = median(runs.map((x) => x.r.iops));
    const floorIops = w.floor ? median(w.floor.map((f) => f.iops)) : 0;
    rows.push({
      name: w.name,
      iops,
      mibps: median(runs.map((x) => x.r.mibps)),
      p50: median(runs.map((x) => x.r.p50us)),
      p99: median(runs.map((x) => x.r.p99us)),
      p999: median(runs.map((x) => x.r.p999us)),
      cpu: median(runs.map((x) => x.cpu)),
      loadCpu: median(runs.map((x) => x.loadCpu)),
      floorRatio: w.floor ? `${((iops / floorIops) * 100).toFixed(0)}% of ${(floorIops / 1000).toFixed(1)}K` : '-',
    });
    process.stderr.write(`${w.name}: ${(iops / 1000).toFixed(1)}K IOPS\n`);
  }
  const digestsTable = await digestsPaired(target.pid!, base);
  target.kill('SIGTERM');
  const metricsTable = await metricsOnOff(tmp, base);
  const liveTable = await liveLatency(tmp, base);

  const fq1 = median(floorQd1.map((f) => f.iops));
  const fq32 = median(floorQd32.map((f) => f.iops));
  const fmt = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(1)}K` : n.toFixed(0));
  const table = [
    `Machine: ${os.cpus()[0]?.model ?? 'unknown'} (${os.cpus().length} cores), Node ${process.version}; ${RUNS} runs x ${SECONDS} s, medians; target on core 0, load on core 1${hasTaskset() ? '' : ' (taskset missing: not pinned)'}.`,
    crc,
    `Floor (minimal node:net responder: 72-byte read capsule -> C2HData + 4 KiB + CapsuleResp, same load generator): QD1 ${fmt(fq1)} req/s (p50 ${median(floorQd1.map((f) => f.p50us)).toFixed(0)} µs), QD32 ${fmt(fq32)} req/s.`,
    '',
    '| workload | IOPS | MiB/s | p50 µs | p99 µs | p99.9 µs | target CPU | load CPU | vs floor |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.iops)} | ${r.mibps.toFixed(0)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.p999.toFixed(0)} | ${(r.cpu * 100).toFixed(0)}% | ${(r.loadCpu * 100).toFixed(0)}% | ${r.floorRatio} |`),
  ].join('\n');
  process.stdout.write(table + '\n');
  const mdPath = join(root, 'BENCHMARKS.md');
  const md = readFileSync(mdPath, 'utf8');
  process.stdout.write(digestsTable + '\n');
  process.stdout.write(metricsTable + '\n');
  process.stdout.write(liveTable + '\n');
  let out = between(md, '<!-- bench:start -->', '<!-- bench:end -->', table);
  out = between(out, '<!-- bench-digests:start -->', '<!-- bench-digests:end -->', digestsTable);
  out = between(out, '<!-- bench-metrics:start -->', '<!-- bench-metrics:end -->', metricsTable);
  out = between(out, '<!-- bench-live:start -->', '<!-- bench-live:end -->', liveTable);
  if (!process.env.BENCH_NO_WRITE) writeFileSync(mdPath, out);
  process.exit(0);
}

/** `md` with the text between the two markers replaced (unchanged when a marker is missing). */
function between(md: string, start: string, end: string, text: string): string {
  if (!md.includes(start) || !md.includes(end)) return md;
  return md.slice(0, md.indexOf(start) + start.length) + `\n${text}\n` + md.slice(md.indexOf(end));
}

/** One slice of a paired comparison: IOPS and the target's CPU time per command. */
interface Slice {
  iops: number;
  cpuUs: number;
}

/** Run `spec` once against `port`, with the CPU the target process spent per command. */
async function slice(pid: number, spec: LoadSpec): Promise<Slice> {
  const c0 = cpuSeconds(pid);
  const r = await runLoad(spec);
  if (r.errors) process.stderr.write(`${r.errors} errors\n`);
  return { iops: r.iops, cpuUs: ((cpuSeconds(pid) - c0) / r.ops) * 1e6 };
}

const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

/**
 * B against A in adjacent short slices, A B B A A B... (PAIRS pairs of PAIR_SECONDS each): this
 * VM's speed drifts by tens of percent over minutes, and two target processes of one build differ
 * by several percent (JIT and memory layout), so a ratio taken slice by slice in one process is
 * the figure that survives; the median and interquartile range of the pair ratios are reported.
 */
async function paired(a: () => Promise<Slice>, b: () => Promise<Slice>): Promise<{ a: Slice[]; b: Slice[]; iops: number[]; cpu: number[] }> {
  const out = { a: [] as Slice[], b: [] as Slice[], iops: [] as number[], cpu: [] as number[] };
  for (let i = 0; i < PAIRS; i++) {
    let x: Slice;
    let y: Slice;
    if (i % 2 === 0) {
      x = await a();
      y = await b();
    } else {
      y = await b();
      x = await a();
    }
    out.a.push(x);
    out.b.push(y);
    out.iops.push(y.iops / x.iops - 1);
    out.cpu.push(y.cpuUs / x.cpuUs - 1);
  }
  return out;
}

function pairedRow(name: string, r: Awaited<ReturnType<typeof paired>>): string {
  const k = (xs: Slice[]): string => `${(median(xs.map((x) => x.iops)) / 1000).toFixed(1)}K`;
  const c = (xs: Slice[]): string => median(xs.map((x) => x.cpuUs)).toFixed(2);
  return `| ${name} | ${k(r.a)} | ${c(r.a)} | ${k(r.b)} | ${c(r.b)} | ${pct(median(r.iops))} (${pct(quantile(r.iops, 0.25))} .. ${pct(quantile(r.iops, 0.75))}) | ${pct(median(r.cpu))} (${pct(quantile(r.cpu, 0.25))} .. ${pct(quantile(r.cpu, 0.75))}) |`;
}

/** Header + data digests against none, paired slices on the table's target (same process). */
async function digestsPaired(pid: number, base: Omit<LoadSpec, 'depth' | 'blockSize' | 'readFraction' | 'random'>): Promise<string> {
  const spec = { ...base, depth: 32, blockSize: 4096, readFraction: 1, random: true, seconds: PAIR_SECONDS };
  const dg = { ...spec, hdgst: true, ddgst: true };
  const r = await paired(() => slice(pid, spec), () => slice(pid, dg));
  process.stderr.write(`digests paired: ${pct(median(r.iops))}\n`);
  // The target keeps each block's CRC once summed until the block is written: with the span
  // rewritten before every slice, a read is often the first of its block since (the rest of the
  // cost of a digest).
  const rw = await paired(async () => (await fill(base), slice(pid, spec)), async () => (await fill(base), slice(pid, dg)));
  process.stderr.write(`digests paired, span rewritten before each slice: ${pct(median(rw.iops))}\n`);
  const blocks = base.span / 4096;
  const reads = median(rw.b.map((x) => x.iops)) * PAIR_SECONDS;
  const first = (blocks * (1 - Math.exp(-reads / blocks))) / reads;
  return [
    `4 KiB random reads at QD32 without digests (A) and with header + data digests (B), ${PAIRS} pairs of ${PAIR_SECONDS} s slices in one target process, A B B A...; per pair B/A - 1, median (interquartile range). The target keeps the CRC of each 4 KiB block it summed until the block is written; in the second row the ${base.span / 2 ** 30} GiB span is rewritten before every slice, so ${(first * 100).toFixed(0)}% of B's reads are the first of their block since it was written (expected share of distinct blocks among ${(reads / 1000).toFixed(0)}K random reads of ${blocks / 1024}K).`,
    '',
    '| workload | A: IOPS | A: target CPU µs/command | B: IOPS | B: target CPU µs/command | IOPS B vs A | CPU per command B vs A |',
    '|---|---|---|---|---|---|---|',
    pairedRow('4 KiB random read, QD32: digests (B) vs none (A)', r),
    pairedRow('the same, span rewritten before each slice', rw),
  ].join('\n');
}

/**
 * Metrics on vs off in one target process (bench/toggle-target.ts): per-command accounting is
 * switched over its stdin between slices (connections made while off do not measure, exactly what
 * --metrics-enabled false does to the data path), and /metrics is scraped every second while on.
 */
async function metricsOnOff(tmp: string, base: Omit<LoadSpec, 'depth' | 'blockSize' | 'readFraction' | 'random'>): Promise<string> {
  const cfg = await writeTargetConfig(join(tmp, 'metrics.json'));
  const proc = spawnPinned(0, [join(here, 'toggle-target.js'), cfg, String(await freePort())], 'pipe');
  const m = await firstLine(proc, /listening on 127\.0\.0\.1:(\d+) http (\d+)/);
  const port = Number(m[1]);
  const http = Number(m[2]);
  let acks = 0;
  proc.stdout!.on('data', (c: Buffer) => (acks += (c.toString().match(/^ok$/gm) ?? []).length));
  let on = true;
  const setMetrics = async (v: boolean): Promise<void> => {
    if (on === v) return;
    on = v;
    const want = acks + 1;
    proc.stdin!.write(v ? 'on\n' : 'off\n');
    while (acks < want) await new Promise((r) => setTimeout(r, 5));
  };
  const b0 = { ...base, port };
  await fill(b0);
  let scraping = true;
  let scrapes = 0;
  const scraper = (async () => {
    while (scraping) {
      if (on) await fetch(`http://127.0.0.1:${http}/metrics`).then((r) => r.text()).then(() => scrapes++, () => {});
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const rows: string[] = [];
  for (const [name, spec] of [
    ['4 KiB random read, QD1', { depth: 1, blockSize: 4096, readFraction: 1, random: true }],
    ['4 KiB random read, QD32', { depth: 32, blockSize: 4096, readFraction: 1, random: true }],
    ['4 KiB random write, QD32', { depth: 32, blockSize: 4096, readFraction: 0, random: true }],
  ] as const) {
    const s = { ...b0, ...spec, seconds: PAIR_SECONDS };
    await runLoad({ ...s, seconds: 2 }); // warm-up of this workload's code paths
    const r = await paired(async () => (await setMetrics(false), slice(proc.pid!, s)), async () => (await setMetrics(true), slice(proc.pid!, s)));
    rows.push(pairedRow(name, r));
    process.stderr.write(`metrics on/off ${name}: ${pct(median(r.iops))}\n`);
  }
  scraping = false;
  await scraper;
  proc.kill('SIGTERM');
  return [
    `Metrics on (B: latency histograms, in-flight accounting, /metrics scraped every second: ${scrapes} scrapes) vs off (A: what \`--metrics-enabled false\` leaves of the data path), one target process switched between slices; ${PAIRS} pairs of ${PAIR_SECONDS} s slices, A B B A...; per pair B/A - 1, median (interquartile range).`,
    '',
    '| workload | off: IOPS | off: target CPU µs/command | on: IOPS | on: target CPU µs/command | IOPS on vs off | CPU per command on vs off |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/**
 * Live latency at QD1: a zero-latency namespace (the transport alone) beside `nvm` namespaces with
 * modelled read latencies on the device engine, runs interleaved. The excess is what a host sees
 * beyond model + transport.
 */
async function liveLatency(tmp: string, base: Omit<LoadSpec, 'depth' | 'blockSize' | 'readFraction' | 'random'>): Promise<string> {
  const models = [0, 20_000, 200_000];
  const cfg = join(tmp, 'live.json');
  writeFileSync(cfg, JSON.stringify({
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: String(await freePort()) }, subsystems: [SUBNQN] }],
    subsystems: [{ nqn: SUBNQN, attr: { allow_any_host: '1' }, allowed_hosts: [], namespaces: models.map((lat, i) => ({ nsid: i + 1, enable: 1, device: {}, emulation: { type: 'nvm', capacity: '256MiB', read_latency_ns: lat, write_latency_ns: lat } })) }],
  }));
  // Both cores: the device worker must not share the network thread's core (each would wait for
  // the other to be descheduled); at QD1 the load generator on core 1 is idle most of the time.
  const cores = process.env.BENCH_LIVE_CORES ?? '0,1';
  const proc = spawnPinned(cores, [join(root, 'dist/src/cli/main.js'), '--config', cfg, '--no-http-enabled', '--log-level', 'warn']);
  const port = Number((await firstLine(proc, /listening on 127\.0\.0\.1:(\d+)/))[1]);
  const spec = { ...base, port, depth: 1, blockSize: 4096, readFraction: 1, random: true, span: 256 << 20 };
  for (let i = 0; i < models.length; i++) await fill({ ...spec, nsid: i + 1 });
  const res: LoadResult[][] = models.map(() => []);
  for (let r = 0; r < RUNS; r++) for (let i = 0; i < models.length; i++) res[i]!.push(await runLoad({ ...spec, nsid: i + 1 }));
  proc.kill('SIGTERM');
  const p50 = res.map((rs) => median(rs.map((x) => x.p50us)));
  return [
    `QD1 4 KiB random reads, ${RUNS} interleaved runs x ${SECONDS} s per namespace, medians; one target (on cores ${cores}: its network thread and device worker), load on core 1, \`nvm\` namespaces with the read latency shown.`,
    '',
    '| namespace | modelled | p50 µs | p99 µs | p50 - transport (zero-latency p50) - modelled |',
    '|---|---|---|---|---|',
    ...models.map((lat, i) => `| ${lat === 0 ? 'zero latency (inline: transport only)' : `nvm, ${lat / 1000} µs (device engine)`} | ${lat / 1000} µs | ${p50[i]!.toFixed(1)} | ${median(res[i]!.map((x) => x.p99us)).toFixed(0)} | ${lat === 0 ? '-' : `${(p50[i]! - p50[0]! - lat / 1000).toFixed(1)} µs`} |`),
  ].join('\n');
}

if (process.argv[2] === 'floor-server') {
  const s = await startFloorServer(0);
  process.stdout.write(`${s.port}\n`);
} else {
  await main();
}
