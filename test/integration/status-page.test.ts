// The live status page in a real browser: Debian's chromium driven by playwright-core.
//
// 1. The real daemon (nvm + conv namespaces, admin token set) under I/O from our initiator: the
//    page, opened at /status#token=..., lists the subsystem, both namespaces and the connected
//    host, its charts fill with samples, and a screenshot of each chart's canvas shows the series
//    lines drawn in their colours (pixels counted with pngjs).
// 2. The zone map, against the page served by a fastify app of our own: the real status API over a
//    hand-built target holding zns namespaces, plus a stand-in for the zone list route the ZNS work
//    adds (plain array for one namespace, {zones: [...]} for another, 404 for a third). The
//    daemon's own app cannot take routes once it listens, hence this app.
//
// Chromium must be installed (Debian: apt-get install -y chromium; CHROMIUM_PATH overrides the
// path): the test fails, not skips, without it. Screenshots go to STATUS_PAGE_SCREENSHOTS or a
// fresh directory under the OS temp dir (printed).
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateTopology, type TopologyInput } from '../../src/config/topology.js';
import { deriveNamespaceIds, Namespace } from '../../src/controller/namespace.js';
import { Subsystem } from '../../src/controller/subsystem.js';
import { Target } from '../../src/controller/target.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import type { BlockDevice } from '../../src/devices/block-device.js';
import { registerStatusApi } from '../../src/http/status-api.js';
import { registerStatusPage } from '../../src/http/status-page.js';
import { NvmeHost } from '../../src/initiator/index.js';
import { pattern } from '../helpers/pattern.js';
import { ZoneSendAction } from '../../src/protocol/zns.js';
import { loopbackTopology } from '../helpers/topology.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const NQN = 'nqn.2024-01.io.nvmf-emu:status-page';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const TOKEN = 'page-token';
/** Poll faster than the default 1 s so the charts fill quickly. */
const INTERVAL_MS = 300;
const POINTS = 8;

const OUT = process.env.STATUS_PAGE_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), 'status-page-'));
mkdirSync(OUT, { recursive: true });

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`chromium not found at ${CHROMIUM}: the status page test needs a real browser (Debian: apt-get install -y chromium; or set CHROMIUM_PATH)`);
  }
  // chromiumSandbox off: CI runs as root, where chromium refuses its sandbox.
  browser = await chromium.launch({ executablePath: CHROMIUM, chromiumSandbox: false, args: ['--disable-gpu', '--font-render-hinting=none'] });
  console.log(`status page screenshots: ${OUT}`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

// ---- pixels

type Rgb = readonly [number, number, number];
const hex = (h: string): Rgb => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];

/** Pixels within `tol` (per channel) of each colour, and pixels that are not plain white. */
function countPixels(png: Buffer, colors: Record<string, string>, tol = 24): { nonWhite: number; byColor: Record<string, number>; total: number } {
  const img = PNG.sync.read(png);
  const want = Object.entries(colors).map(([k, v]) => [k, hex(v)] as const);
  const byColor: Record<string, number> = Object.fromEntries(want.map(([k]) => [k, 0]));
  let nonWhite = 0;
  for (let i = 0; i < img.data.length; i += 4) {
    const r = img.data[i]!;
    const g = img.data[i + 1]!;
    const b = img.data[i + 2]!;
    if (r < 245 || g < 245 || b < 245) nonWhite++;
    for (const [k, [cr, cg, cb]] of want) if (Math.abs(r - cr) <= tol && Math.abs(g - cg) <= tol && Math.abs(b - cb) <= tol) byColor[k]!++;
  }
  return { nonWhite, byColor, total: img.width * img.height };
}

/** Screenshot of one element, saved under OUT too. */
async function shot(page: Page, selector: string, name: string): Promise<Buffer> {
  const buf = await page.locator(selector).screenshot();
  writeFileSync(join(OUT, name), buf);
  return buf;
}

// Series colours of the page (status.js COLORS / ZONE_COLORS).
const READ = '#1f6fd1';
const WRITE = '#e8590c';
const QD = '#7048e8';
const GC = '#c2255c';
const WAF = '#2b8a3e';

describe('status page on the real daemon, under I/O', () => {
  let daemon: Daemon;
  let host: NvmeHost;
  let page: Page;
  let running = true;
  let load: Promise<void>;
  let loadError: unknown;
  const errors: string[] = [];

  function topology(): TopologyInput {
    return {
      hosts: [],
      ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [NQN] }],
      subsystems: [
        {
          nqn: NQN,
          attr: { allow_any_host: 1, serial: 'PAGE0001', model: 'status page test' },
          namespaces: [
            { nsid: 1, emulation: { type: 'nvm', capacity: '64MiB', lba_size: 4096, read_latency_ns: 50_000, write_latency_ns: 600_000 } },
            { nsid: 2, emulation: { type: 'conv', preset: 'samsung-970pro', capacity: '16MiB', lba_size: 4096, pages_per_block: 4 } },
          ],
        },
      ],
    };
  }

  /**
   * Keeps I/O going until stopped: on ns 1, three reads per write at queue depth 4 (so the read
   * and write lines differ); on ns 2, scattered 8 KiB overwrites of the whole namespace, which
   * keep GC busy moving valid pages (WAF above 1).
   */
  async function drive(): Promise<void> {
    const small = pattern(4096, 1);
    const two = pattern(8192, 2);
    let i = 0;
    while (running) {
      const ops: Promise<unknown>[] = [];
      for (let k = 0; k < 4; k++) {
        const lba = (i * 4 + k) % 4096;
        ops.push(k === 0 ? host.write(1, lba, small) : host.read(1, lba, 1));
      }
      for (let k = 0; k < 2; k++) ops.push(host.write(2, ((i * 2 + k) * 7919) % 4095, two));
      await Promise.all(ops);
      i++;
    }
  }

  beforeAll(async () => {
    const t = validateTopology(topology());
    t.ports[0]!.addr.trsvcid = 0;
    daemon = await startDaemon({ topology: t, http: { address: '127.0.0.1', port: 0, enabled: true, token: TOKEN }, engine: { workers: 1 } });
    host = await NvmeHost.connect({ host: '127.0.0.1', port: daemon.listeners[0]!.port, subnqn: NQN, hostnqn: HOSTNQN, ioQueues: 2 });
    load = drive().catch((e: unknown) => {
      loadError = e;
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`http://127.0.0.1:${daemon.httpPort}/status?interval=${INTERVAL_MS}#token=${TOKEN}`);
  }, 60_000);

  afterAll(async () => {
    running = false;
    await load;
    await page?.close();
    await host?.disconnect().catch(() => {});
    await daemon?.stop();
  });

  it('fills every chart with samples', async () => {
    await page.waitForFunction(
      (n) => {
        const charts = [...document.querySelectorAll<HTMLElement>('[data-chart]')];
        return charts.length > 0 && charts.every((c) => Number(c.dataset.points) >= n);
      },
      POINTS,
      { timeout: 20_000 },
    );
    expect(await page.getAttribute('#conn', 'data-state')).toBe('ok');
    // The token went from the URL fragment to the tab's storage, and out of the address bar.
    expect(page.url()).not.toContain(TOKEN);
    expect(errors).toEqual([]);
    expect(loadError).toBeUndefined();
  });

  it('lists the subsystem, its namespaces and the connected host', async () => {
    const sub = page.locator(`section.subsystem[data-nqn="${NQN}"]`);
    await expect(sub.locator('h2').textContent()).resolves.toBe(NQN);
    await expect(sub.textContent()).resolves.toContain('serial PAGE0001');
    const ns1 = sub.locator(`[data-ns="${NQN}/1"]`);
    const ns2 = sub.locator(`[data-ns="${NQN}/2"]`);
    expect(await ns1.getAttribute('data-kind')).toBe('nvm');
    expect(await ns2.getAttribute('data-kind')).toBe('conv');
    await expect(ns2.textContent()).resolves.toContain('preset samsung-970pro');
    // Charts per namespace: GC/WAF only where there is an FTL; no zone map without ZNS.
    expect(await ns1.locator('[data-chart]').evaluateAll((e) => e.map((x) => (x as HTMLElement).dataset.chart))).toEqual(['iops', 'throughput', 'latency', 'qd']);
    expect(await ns2.locator('[data-chart]').evaluateAll((e) => e.map((x) => (x as HTMLElement).dataset.chart))).toEqual(['iops', 'throughput', 'latency', 'qd', 'gc']);
    expect(await page.locator('[data-zonemap]').count()).toBe(0);
    // Counters as the page shows them keep up with the host.
    expect(Number((await ns1.locator('[data-stat="reads"] b').textContent())!.replace(/,/g, ''))).toBeGreaterThan(0);
    expect(Number((await ns2.locator('[data-stat="writes"] b').textContent())!.replace(/,/g, ''))).toBeGreaterThan(0);
    expect(Number(await ns2.locator('[data-stat="waf"] b').textContent())).toBeGreaterThan(0.9); // media / host since start: just under 1 while the write buffer holds data

    const row = sub.locator(`tr[data-hostnqn="${HOSTNQN}"]`);
    expect(await row.count()).toBe(1);
    const cells = await row.locator('td').allTextContents();
    expect(cells[0]).toBe(HOSTNQN);
    expect(cells[1]).toBe(String(daemon.target.subsystems.get(NQN)!.controllers.values().next().value!.cntlid));
    expect(cells[2]).toBe('3 (2)');
    expect(cells[3]).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('asks for the token when the URL does not carry it, then shows the data', async () => {
    const p = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    try {
      await p.goto(`http://127.0.0.1:${daemon.httpPort}/status?interval=${INTERVAL_MS}`);
      await p.locator('#auth').waitFor({ state: 'visible', timeout: 10_000 });
      expect(await p.getAttribute('#conn', 'data-state')).toBe('error');
      await p.fill('#auth-token', TOKEN);
      await p.click('#auth button');
      await p.waitForSelector(`section.subsystem[data-nqn="${NQN}"]`, { timeout: 10_000 });
      expect(await p.locator('#auth').isVisible()).toBe(false);
      expect(await p.getAttribute('#conn', 'data-state')).toBe('ok');
    } finally {
      await p.close();
    }
  });

  it('draws the charts: series lines in their colours in a screenshot', async () => {
    writeFileSync(join(OUT, 'status-page.png'), await page.screenshot({ fullPage: true }));
    const canvas = (ns: number, chart: string): string => `[data-ns="${NQN}/${ns}"] [data-chart="${chart}"] canvas`;

    const iops = countPixels(await shot(page, canvas(1, 'iops'), 'ns1-iops.png'), { read: READ, write: WRITE });
    expect(iops.byColor.read, 'read IOPS line').toBeGreaterThan(60);
    expect(iops.byColor.write, 'write IOPS line').toBeGreaterThan(60);

    const tput = countPixels(await shot(page, canvas(1, 'throughput'), 'ns1-throughput.png'), { read: READ, write: WRITE });
    expect(tput.byColor.read).toBeGreaterThan(60);
    expect(tput.byColor.write).toBeGreaterThan(60);

    const latency = countPixels(await shot(page, canvas(1, 'latency'), 'ns1-latency.png'), { read: READ, write: WRITE });
    expect(latency.byColor.read, 'read p50 line').toBeGreaterThan(60);
    expect(latency.byColor.write, 'write p50 line').toBeGreaterThan(60);

    // Queue depth: at least the axes and grid; the line sits on 0 between polls at times.
    const qd = countPixels(await shot(page, canvas(1, 'qd'), 'ns1-qd.png'), { qd: QD });
    expect(qd.nonWhite).toBeGreaterThan(500);

    const conv = countPixels(await shot(page, canvas(2, 'iops'), 'ns2-iops.png'), { write: WRITE });
    expect(conv.byColor.write, 'conv write IOPS line').toBeGreaterThan(60);
    const gc = countPixels(await shot(page, canvas(2, 'gc'), 'ns2-gc.png'), { gc: GC, waf: WAF });
    expect(gc.byColor.waf, 'WAF line').toBeGreaterThan(60);
  });
});

describe('zone map (page against a stand-in zone list route)', () => {
  const ZNQN = 'nqn.2024-01.io.nvmf-emu:zns-page';
  const ZONES = 96;
  const ZCAP = 1024;
  const STATES = ['empty', 'implicit_open', 'explicit_open', 'closed', 'full', 'read_only', 'offline'] as const;
  let app: FastifyInstance;
  let page: Page;
  let requests = 0;

  /** A zone list as the ZNS route is expected to give it; write pointers advance per request. */
  function zones(): { zslba: number; zcap: number; wp: number; state: string }[] {
    requests++;
    return Array.from({ length: ZONES }, (_, i) => {
      const zslba = i * ZCAP;
      // Mostly full zones first, open ones filling up, then empty ones; a few odd states.
      const state = i === 90 ? 'offline' : i === 91 ? 'read_only' : i < 40 ? 'full' : i < 52 ? (i % 3 === 0 ? 'explicit_open' : 'implicit_open') : i < 58 ? 'closed' : 'empty';
      const filled = state === 'full' ? ZCAP : state === 'empty' || state === 'offline' ? 0 : Math.min(ZCAP - 1, ((i * 97 + requests * 64) % ZCAP) + 64);
      return { zslba, zcap: ZCAP, wp: zslba + filled, state };
    });
  }

  beforeAll(async () => {
    // A target with two zns namespaces (their data store is never touched: no I/O here).
    const target = new Target(pino({ level: 'silent' }));
    const s = new Subsystem({ nqn: ZNQN, allowAnyHost: true, allowedHosts: [], serial: 'ZNS0001', model: 'zns page test' });
    for (const nsid of [1, 2, 3]) {
      const dev = { kind: 'zns', lbaSize: 4096, capacityBytes: ZONES * ZCAP * 4096 } as unknown as BlockDevice;
      s.namespaces.set(nsid, new Namespace(nsid, dev, deriveNamespaceIds(ZNQN, nsid, {}), true));
    }
    target.subsystems.set(ZNQN, s);
    app = Fastify({ logger: false });
    registerStatusApi(app, target);
    registerStatusPage(app);
    app.get<{ Params: { nqn: string; nsid: string } }>('/api/v1/subsystems/:nqn/namespaces/:nsid/zones', async (req, reply) => {
      if (req.params.nqn !== ZNQN) return reply.code(404).send({ error: 'not found' });
      if (req.params.nsid === '1') return zones(); // plain array
      if (req.params.nsid === '3') return { zones: zones().slice(0, 16) }; // wrapped
      return reply.code(404).send({ error: 'not found' }); // nsid 2: route absent
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`http://127.0.0.1:${port}/status?interval=${INTERVAL_MS}`);
  }, 60_000);

  afterAll(async () => {
    await page?.close();
    await app?.close();
  });

  it('draws one cell per zone, coloured by state and filled to the write pointer', async () => {
    // Charts first (nothing moves on these namespaces: flat lines), so the screenshot shows them sampled.
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('[data-chart]')].every((c) => Number(c.dataset.points) >= 3), undefined, { timeout: 15_000 });
    const map = page.locator(`[data-zonemap="${ZNQN}/1"]`);
    await page.waitForFunction((sel) => document.querySelector<HTMLElement>(sel)?.dataset.zones === '96', `[data-zonemap="${ZNQN}/1"]`, { timeout: 15_000 });
    const counts = JSON.parse((await map.getAttribute('data-state-counts'))!) as Record<string, number>;
    expect(counts).toEqual({ full: 40, explicit_open: 4, implicit_open: 8, closed: 6, empty: 36, read_only: 1, offline: 1 });
    expect(Object.keys(counts).sort()).toEqual([...STATES].sort());
    await expect(map.locator('.legend [data-state="full"]').textContent()).resolves.toBe('full 40');

    // The wrapped form ({zones: [...]}) works too; an absent route (404) is said so, not fatal.
    await page.waitForFunction((sel) => document.querySelector<HTMLElement>(sel)?.dataset.zones === '16', `[data-zonemap="${ZNQN}/3"]`, { timeout: 15_000 });
    await page.waitForFunction((sel) => document.querySelector<HTMLElement>(sel)?.dataset.zones === 'unavailable', `[data-zonemap="${ZNQN}/2"]`, { timeout: 15_000 });
    await expect(page.locator(`[data-zonemap="${ZNQN}/2"] .note`).textContent()).resolves.toContain('404');
    expect(await page.getAttribute('#conn', 'data-state')).toBe('ok');

    writeFileSync(join(OUT, 'zone-page.png'), await page.screenshot({ fullPage: true }));
    const px = countPixels(await shot(page, `[data-zonemap="${ZNQN}/1"] canvas`, 'zone-map.png'), {
      full: '#1f6fd1',
      open: '#40c057',
      closed: '#fab005',
      offline: '#e03131',
      readOnly: '#9c36b5',
    }, 12);
    // 18 px cells: a full zone is ~300 px of its colour; each state shows in proportion.
    expect(px.byColor.full, 'full zones').toBeGreaterThan(40 * 200);
    expect(px.byColor.open, 'open zones (written part)').toBeGreaterThan(100);
    expect(px.byColor.closed).toBeGreaterThan(100);
    expect(px.byColor.offline).toBeGreaterThan(30);
    expect(px.byColor.readOnly).toBeGreaterThan(30);
  });
});

describe('zone map of a real zns namespace', () => {
  const ZNQN = 'nqn.2024-01.io.nvmf-emu:zns-real';
  let daemon: Daemon;
  let page: Page;

  beforeAll(async () => {
    const t = loopbackTopology(ZNQN, [
      { nsid: 1, emulation: { type: 'zns', preset: 'wd-zn540', capacity: '64MiB', lba_size: 4096, zone_size: '4MiB', zone_capacity: '3MiB', max_open_zones: 4, max_active_zones: 6 } },
    ]);
    daemon = await startDaemon({ topology: t, http: { address: '127.0.0.1', port: 0, enabled: true }, engine: { workers: 1 } });
    const h = await NvmeHost.connect({ host: '127.0.0.1', port: daemon.listeners[0]!.port, subnqn: ZNQN });
    // Zone 0 full (finished), zones 1-2 implicitly open with data, zone 5 offline by injection.
    await h.zoneAppend(1, 0, pattern(64 * 1024, 1));
    await h.zoneManagementSend(1, 0, ZoneSendAction.Finish);
    await h.zoneAppend(1, 1024, pattern(128 * 1024, 2)); // within the zone append size limit (ZASL)
    await h.zoneAppend(1, 2048, pattern(4096, 3));
    await h.disconnect();
    const inj = await fetch(`http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems/${encodeURIComponent(ZNQN)}/namespaces/1/zones/${5 * 1024}/fault`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'offline' }),
    });
    expect(inj.status).toBeLessThan(300);
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`http://127.0.0.1:${daemon.httpPort}/status?interval=${INTERVAL_MS}`);
  }, 60_000);

  afterAll(async () => {
    await page?.close();
    await daemon?.stop();
  });

  it('shows the daemon\'s own zone list: one cell per zone, states as the host left them', async () => {
    const sel = `[data-zonemap="${ZNQN}/1"]`;
    await page.waitForFunction((s) => document.querySelector<HTMLElement>(s)?.dataset.zones === '16', sel, { timeout: 15_000 });
    const counts = JSON.parse((await page.locator(sel).getAttribute('data-state-counts'))!) as Record<string, number>;
    expect(counts).toMatchObject({ full: 1, implicit_open: 2, offline: 1, empty: 12 });
    writeFileSync(join(OUT, 'zone-real.png'), await page.screenshot({ fullPage: true }));
  });
});
