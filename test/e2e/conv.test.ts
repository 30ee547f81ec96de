// End-to-end: a conventional-SSD (`conv`) namespace, small enough that garbage collection runs,
// under fio with verification from a real Linux host; GC shown by the daemon's counters and wear
// by the SMART log the host reads.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, ensureHost, freePort, GUEST_GATEWAY, type GuestResult, guestScript, type GuestStep, parseSteps, REPO_ROOT, runGuest, startDaemon } from './lib/guest.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:e2e-conv';
const SIZE_MB = 32;
const OUT_DIR = join(REPO_ROOT, 'test/e2e/out');

let daemon: Daemon;
let guest: GuestResult;
let steps: Map<string, GuestStep>;
let stats: { host: Record<string, number>; device: Record<string, number> };

function ok(name: string): GuestStep {
  const s = steps.get(name);
  if (!s) throw new Error(`guest step ${name} missing; console tail:\n${guest.output.split('\n').slice(-60).join('\n')}`);
  expect(s.rc, `${name} failed:\n${s.out}`).toBe(0);
  return s;
}

function smart(name: string): Record<string, number> {
  const out = ok(name).out;
  return JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)) as Record<string, number>;
}

beforeAll(async () => {
  await ensureHost();
  await mkdir(OUT_DIR, { recursive: true });
  const port = await freePort();
  const fixture = JSON.parse(await readFile(join(REPO_ROOT, 'test/e2e/fixtures/conv.json'), 'utf8')) as { ports: Array<{ addr: { trsvcid: string } }> };
  fixture.ports[0]!.addr.trsvcid = String(port);
  const cfg = join(OUT_DIR, 'conv.json');
  await writeFile(cfg, JSON.stringify(fixture, null, 2));
  daemon = await startDaemon(cfg, ['--advertise-address', GUEST_GATEWAY]);
  try {
    guest = await runGuest(await guestScript('conv', { TGT: GUEST_GATEWAY, PORT: port, NQN, SIZE_MB }), 900);
  } finally {
    await writeFile(join(OUT_DIR, 'conv-guest.log'), guest?.output ?? '(no output)');
  }
  steps = parseSteps(guest.output);
  const res = await fetch(`http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems/${encodeURIComponent(NQN)}/namespaces/1/stats`);
  stats = (await res.json()) as typeof stats;
  await writeFile(join(OUT_DIR, 'conv-stats.json'), JSON.stringify(stats, null, 2));
});

afterAll(async () => {
  if (daemon) {
    await daemon.stop();
    await writeFile(join(OUT_DIR, 'conv-daemon.log'), daemon.logs());
  }
});

describe('Linux host on a conv namespace with garbage collection', () => {
  it('connects and churns the namespace', () => {
    ok('connect');
    ok('churn');
  });

  it('fio verification passes while GC runs', () => {
    const s = ok('verify');
    expect(s.out).toMatch(/err= 0/);
    expect(s.out).not.toMatch(/verify: bad|verify failed/);
  });

  it('the device ran GC, moved pages and erased blocks (daemon counters)', () => {
    expect(stats.device.gcRuns, JSON.stringify(stats)).toBeGreaterThan(0);
    expect(stats.device.erases).toBeGreaterThan(0);
    expect(stats.device.mediaWrittenUserBytes + stats.device.mediaWrittenGcBytes).toBeGreaterThan(stats.device.hostWrittenBytes);
  });

  it('the SMART log the host reads shows data written and wear moving', () => {
    const before = smart('smart-before');
    const after = smart('smart-after');
    expect(Number(after.data_units_written)).toBeGreaterThan(Number(before.data_units_written));
    expect(Number(after.host_write_commands)).toBeGreaterThan(Number(before.host_write_commands));
    expect(Number(after.percent_used)).toBeGreaterThan(Number(before.percent_used));
  });
});
