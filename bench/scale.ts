// `npm run bench:scale`: many hosts at once, and memory over time. The target runs in its own
// process pinned to core 0; this process (core 1) connects 64 hosts x 4 I/O queues, records the
// target's RSS idle and under 64 x 4 x QD32 mixed 4 KiB I/O (every command must succeed), then
// soaks it for SCALE_SOAK_SECONDS (default 120; 600 for the 10 minutes) sampling RSS.
// Writes a table into BENCHMARKS.md between the bench-scale markers.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NvmeHost } from '../src/initiator/host.js';
import { runLoad } from './load.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NQN = 'nqn.2024-01.io.nvmf-emu:scale';
const HOSTS = Number(process.env.SCALE_HOSTS ?? 64);
const QUEUES = 4;
const DEPTH = 32;
const SOAK = Number(process.env.SCALE_SOAK_SECONDS ?? 120);

const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

async function main(): Promise<void> {
  const pin = (() => {
    try {
      execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  const port = await freePort();
  const cfg = join(mkdtempSync(join(os.tmpdir(), 'nvmf-emu-scale-')), 'scale.json');
  writeFileSync(cfg, JSON.stringify({
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: port }, subsystems: [NQN] }],
    subsystems: [{ nqn: NQN, attr: { allow_any_host: 1 }, namespaces: [{ nsid: 1, emulation: { type: 'nvm', capacity: '256MiB' } }] }],
  }));
  const args = [join(root, 'dist/src/cli/main.js'), '--config', cfg, '--no-http-enabled', '--log-level', 'warn'];
  const target = pin ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => target.kill('SIGKILL'));
  await new Promise<void>((r) => target.stdout!.on('data', (d: Buffer) => d.toString().includes('discovery NQN') && r()));
  const pid = target.pid!; // taskset execs node: same process
  const spec = { host: '127.0.0.1', port, subnqn: NQN, nsid: 1, blockSize: 4096, readFraction: 0.5, random: true, span: 256 << 20 };
  await runLoad({ ...spec, connections: 1, queues: 1, depth: 8, seconds: 2 }); // warm up (JIT, pools)
  await sleep(1000);
  const rss0 = rssMiB(pid);

  const hosts: NvmeHost[] = [];
  for (let i = 0; i < HOSTS; i++) hosts.push(await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN, ioQueues: QUEUES, queueSize: DEPTH + 1, kato: 0 }));
  await sleep(1000);
  const rssIdle = rssMiB(pid);
  const conns = HOSTS * (QUEUES + 1);
  await Promise.all(hosts.map((h) => h.close()));
  await sleep(500);

  const load = await runLoad({ ...spec, connections: HOSTS, queues: QUEUES, depth: DEPTH, seconds: 10 });
  const rssLoad = rssMiB(pid);
  process.stderr.write(`scale: ${load.ops} ops, ${load.errors} errors, ${(load.iops / 1000).toFixed(1)}K IOPS\n`);

  // Soak: continuous QD32 mixed I/O on 4 connections, RSS every 10 s.
  const samples: number[] = [];
  let soakOps = 0;
  let soakErrors = 0;
  for (let t = 0; t < SOAK; t += 10) {
    const r = await runLoad({ ...spec, connections: 4, queues: 2, depth: 32, seconds: Math.min(10, SOAK - t) });
    soakOps += r.ops;
    soakErrors += r.errors;
    samples.push(rssMiB(pid));
  }
  target.kill('SIGTERM');

  const f = (x: number): string => x.toFixed(1);
  const lines = [
    `Machine: ${os.cpus()[0]?.model ?? 'unknown'} (${os.cpus().length} cores), Node ${process.version}; target on core 0, hosts on core 1; 4 KiB random, 50% reads, 256 MiB zero-latency namespace.`,
    '',
    '| measure | value |',
    '|---|---|',
    `| target RSS after warm-up | ${f(rss0)} MiB |`,
    `| ${HOSTS} hosts x ${QUEUES} I/O queues connected, idle (${conns} connections) | ${f(rssIdle)} MiB: ${f(((rssIdle - rss0) * 1024) / conns)} KiB per connection (queue), ${f(((rssIdle - rss0) * 1024) / HOSTS)} KiB per host |`,
    `| ${HOSTS} x ${QUEUES} x QD${DEPTH} (${HOSTS * QUEUES * DEPTH} commands in flight), 10 s | ${(load.iops / 1000).toFixed(1)}K IOPS, ${load.errors} errors of ${load.ops}, p50 ${load.p50us.toFixed(0)} µs, p99 ${load.p99us.toFixed(0)} µs; RSS ${f(rssLoad)} MiB |`,
    `| soak: ${SOAK} s of QD32 (4 hosts x 2 queues), RSS every 10 s | ${soakErrors} errors of ${soakOps}; RSS first ${f(samples[0] ?? 0)}, min ${f(Math.min(...samples))}, max ${f(Math.max(...samples))}, last ${f(samples.at(-1) ?? 0)} MiB |`,
  ];
  const table = lines.join('\n');
  process.stdout.write(table + '\n');
  const md = join(root, 'BENCHMARKS.md');
  const text = readFileSync(md, 'utf8');
  const [a, b] = ['<!-- bench-scale:start -->', '<!-- bench-scale:end -->'];
  if (text.includes(a) && text.includes(b) && !process.env.BENCH_NO_WRITE) writeFileSync(md, text.slice(0, text.indexOf(a) + a.length) + `\n${table}\n` + text.slice(text.indexOf(b)));
  process.exit(load.errors + soakErrors > 0 ? 1 : 0);
}

await main();
