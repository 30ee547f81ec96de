// GET /api/v1/status (the live status page's data) against the real daemon driven by our
// initiator: namespaces with their counters, latency quantiles and FTL counters, the connected
// host, transport counters; the page and its assets are served and open without the admin token
// while the data API needs it.
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateTopology, type TopologyInput } from '../../src/config/topology.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import type { StatusSnapshot } from '../../src/http/status-api.js';
import { registerStatusPage, statusPageDir } from '../../src/http/status-page.js';
import { NvmeHost } from '../../src/initiator/index.js';
import { pattern } from '../helpers/pattern.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:status-api';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-555555555555';
const TOKEN = 's3cret';
const N = 20;

function topology(): TopologyInput {
  return {
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [NQN] }],
    subsystems: [
      {
        nqn: NQN,
        attr: { allow_any_host: 1, serial: 'STATUS0001', model: 'status test' },
        namespaces: [
          { nsid: 1, emulation: { type: 'nvm', capacity: '64MiB', lba_size: 4096, read_latency_ns: 100_000, write_latency_ns: 100_000 } },
          { nsid: 2, emulation: { type: 'conv', preset: 'samsung-970pro', capacity: '32MiB', pages_per_block: 4 } },
        ],
      },
    ],
  };
}

let daemon: Daemon;
let host: NvmeHost;
let base: string;

async function status(token = TOKEN): Promise<StatusSnapshot> {
  const res = await fetch(`${base}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return (await res.json()) as StatusSnapshot;
}

beforeAll(async () => {
  const t = validateTopology(topology());
  t.ports[0]!.addr.trsvcid = 0;
  daemon = await startDaemon({ topology: t, http: { address: '127.0.0.1', port: 0, enabled: true, token: TOKEN }, engine: { workers: 1 } });
  base = `http://127.0.0.1:${daemon.httpPort}`;
  host = await NvmeHost.connect({ host: '127.0.0.1', port: daemon.listeners[0]!.port, subnqn: NQN, hostnqn: HOSTNQN, ioQueues: 2 });
  const data = pattern(4096, 5);
  for (let i = 0; i < N; i++) await host.write(1, i, data);
  for (let i = 0; i < N; i++) await host.read(1, i, 1);
  const big = pattern(128 * 1024, 9);
  for (let i = 0; i < 32; i++) await host.write(2, i * 32, big, { fua: true });
});

afterAll(async () => {
  await host?.disconnect().catch(() => {});
  await daemon?.stop();
});

describe('GET /api/v1/status', () => {
  it('needs the admin token like the rest of the API', async () => {
    expect((await fetch(`${base}/api/v1/status`)).status).toBe(401);
  });

  it('lists the subsystem, its namespaces with counters and latency, and the connected host', async () => {
    const s = await status();
    expect(s.time_ms).toBeGreaterThan(0);
    expect(s.latency_bucket_bounds_seconds.length).toBeGreaterThan(10);
    expect(s.ports).toEqual([{ portid: 1, traddr: '127.0.0.1', trsvcid: daemon.listeners[0]!.port }]);
    expect(s.subsystems).toHaveLength(1);
    const sub = s.subsystems[0]!;
    expect(sub).toMatchObject({ nqn: NQN, serial: 'STATUS0001', model: 'status test', allow_any_host: true, ports: [1] });

    const [n1, n2] = sub.namespaces;
    expect(n1).toMatchObject({ nsid: 1, enabled: true, kind: 'nvm', preset: null, capacity_bytes: 64 << 20, lba_size: 4096, ftl: null, waf: null });
    expect(n1!.io).toMatchObject({ reads: N, writes: N, read_bytes: N * 4096, written_bytes: N * 4096, in_flight: 0, errors: 0 });
    expect(n1!.latency.read.count).toBe(N);
    expect(n1!.latency.read.buckets.reduce((a, b) => a + b, 0)).toBe(N);
    expect(n1!.latency.read.buckets).toHaveLength(s.latency_bucket_bounds_seconds.length + 1);
    // 100 µs of modelled device time each: end-to-end percentiles cannot be below it.
    expect(n1!.latency.read.p50_seconds!).toBeGreaterThanOrEqual(75e-6);
    expect(n1!.latency.read.p99_seconds!).toBeGreaterThanOrEqual(n1!.latency.read.p50_seconds!);
    expect(n1!.latency.media_read.count).toBe(N);

    expect(n2).toMatchObject({ nsid: 2, kind: 'conv', preset: 'samsung-970pro', capacity_bytes: 32 << 20 });
    expect(n2!.io.writes).toBe(32);
    expect(n2!.latency.read.p50_seconds).toBeNull();
    expect(n2!.ftl).not.toBeNull();
    expect(n2!.ftl!.hostWrittenBytes).toBe(32 * 128 * 1024);
    expect(n2!.ftl!.totalBlocks).toBeGreaterThan(0);
    expect(n2!.waf).toBeCloseTo((n2!.ftl!.mediaWrittenUserBytes + n2!.ftl!.mediaWrittenGcBytes) / n2!.ftl!.hostWrittenBytes, 9);
    expect(n2!.available_spare).toBe(100);

    expect(sub.hosts).toHaveLength(1);
    expect(sub.hosts[0]).toMatchObject({ hostnqn: HOSTNQN, queues: 3, io_queues: 2, portid: 1, kato_ms: 5000 });
    expect(sub.hosts[0]!.remote_address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('counts transport traffic, and counters only grow', async () => {
    const a = await status();
    expect(a.transport.connections_active).toBe(3);
    expect(a.transport.capsules_received).toBeGreaterThanOrEqual(2 * N + 32);
    expect(a.transport.received_bytes).toBeGreaterThan(N * 4096 + 32 * 128 * 1024);
    expect(a.transport.sent_bytes).toBeGreaterThan(N * 4096);
    await host.read(1, 0, 1);
    const b = await status();
    expect(b.time_ms).toBeGreaterThanOrEqual(a.time_ms);
    expect(b.subsystems[0]!.namespaces[0]!.io.reads).toBe(N + 1);
    expect(b.transport.sent_bytes).toBeGreaterThan(a.transport.sent_bytes);
  });
});

describe('status page', () => {
  it('is served at /status without the token, / redirects there, and its assets load', async () => {
    const root = await fetch(`${base}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/status');
    for (const path of ['/status', '/status/']) {
      const res = await fetch(base + path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await res.text()).toContain('/status/status.js');
    }
    for (const [path, type] of [
      ['/status/status.js', /^text\/javascript/],
      ['/status/status.css', /^text\/css/],
      ['/status/vendor/uPlot.iife.min.js', /^text\/javascript/],
      ['/status/vendor/uPlot.min.css', /^text\/css/],
    ] as const) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toMatch(type);
      expect((await res.text()).length, path).toBeGreaterThan(100);
    }
    expect((await fetch(`${base}/status/nope.js`)).status).toBe(404);
  });

  it('answers 500 naming the problem when its files are missing, instead of failing the server', async () => {
    const app = Fastify({ logger: false });
    registerStatusPage(app, '/nonexistent/status-page');
    const res = await app.inject({ method: 'GET', url: '/status' });
    expect(res.statusCode).toBe(500);
    expect(res.json().message).toMatch(/status page unavailable: .*nonexistent/);
    await app.close();
  });

  it('finds its files from src and from the tsc output alike', () => {
    const root = new URL('../../', import.meta.url);
    const fromSrc = statusPageDir(new URL('src/http/status-page.ts', root).href);
    const fromDist = statusPageDir(new URL('dist/src/http/status-page.js', root).href);
    expect(fromDist).toBe(fromSrc);
    expect(fromSrc).toMatch(/src[/\\]http[/\\]status-page$/);
  });
});
