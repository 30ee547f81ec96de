// A real Prometheus server (Debian's `prometheus` package) for tests: scrapes the given targets
// every second from a throwaway data directory, answers PromQL over its HTTP API.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

export interface PromServer {
  url: string;
  /** Instant query; the result vector/matrix as Prometheus returns it. */
  query(expr: string): Promise<{ resultType: string; result: { metric: Record<string, string>; value?: [number, string] }[] }>;
  /** Wait until every target has been scraped `n` times or more (by up{} sample count). */
  waitForScrapes(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startPrometheus(targets: string[]): Promise<PromServer> {
  const dir = await mkdtemp(join(tmpdir(), 'nvmf-emu-prom-'));
  const port = await freePort();
  const cfg = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: nvmf-emu',
    '    static_configs:',
    `      - targets: [${targets.map((t) => `"${t}"`).join(', ')}]`,
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), cfg);
  let out = '';
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${out}`);
    const ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 300) {
      await stop();
      throw new Error(`prometheus not ready after 30 s:\n${out}`);
    }
    await sleep(100);
  }
  const query: PromServer['query'] = async (expr) => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data: Awaited<ReturnType<PromServer['query']>> };
    if (body.status !== 'success') throw new Error(`PromQL error for ${expr}: ${body.error}`);
    return body.data;
  };
  return {
    url,
    query,
    async waitForScrapes(n, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const r = await query('min(count_over_time(up[5m]))');
        const have = Number(r.result[0]?.value?.[1] ?? 0);
        const up = await query('min(up)');
        if (have >= n && up.result[0]?.value?.[1] === '1') return;
        if (Date.now() > until) throw new Error(`only ${have} scrapes after ${timeoutMs} ms (up=${JSON.stringify(up.result)}):\n${out}`);
        await sleep(250);
      }
    },
    stop,
    logs: () => out,
  };
}
