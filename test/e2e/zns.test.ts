// End-to-end: a zoned (`zns`) namespace seen by a real Linux 6.1 host as a host-managed zoned
// block device: sysfs zone limits, blkzone / nvme zns reports of the configured zones, writes at
// and away from the write pointer, reset, zone append returning increasing LBAs, finish, fio with
// --zonemode=zbd and crc32c verification, and zones made read only / offline through the admin
// API while the host is connected.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, ensureHost, freePort, GUEST_GATEWAY, type GuestResult, guestScript, type GuestStep, parseSteps, REPO_ROOT, runGuest, startDaemon } from './lib/guest.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:e2e-zns';
const OUT_DIR = join(REPO_ROOT, 'test/e2e/out');
const LBA_SHIFT = 3; // 4 KiB blocks
const ZONE_SECTORS = 8192; // 4 MiB
const CAP_SECTORS = 6144; // 3 MiB
const ZONES = 16;

let daemon: Daemon;
let guest: GuestResult;
let steps: Map<string, GuestStep>;
let zonesAfter: { stats: Record<string, number>; zones: { zslba: number; state: string }[] };
let stats: { host: Record<string, number>; device: Record<string, number> };

function ok(name: string): GuestStep {
  const s = steps.get(name);
  if (!s) throw new Error(`guest step ${name} missing; console tail:\n${guest.output.split('\n').slice(-60).join('\n')}`);
  expect(s.rc, `${name} failed:\n${s.out}\n${s.dmesg}`).toBe(0);
  return s;
}

interface BlkZone {
  start: number;
  len: number;
  cap: number;
  wptr: number;
  cond: number;
}
/** `blkzone report` lines: start, len, cap, wptr (hex sectors), zcond number. */
function blkzones(out: string): BlkZone[] {
  const re = /start:\s*(0x[0-9a-f]+),\s*len\s*(0x[0-9a-f]+),\s*cap\s*(0x[0-9a-f]+),\s*wptr\s*(0x[0-9a-f]+).*?zcond:\s*(\d+)/g;
  return [...out.matchAll(re)].map((m) => ({ start: Number(m[1]), len: Number(m[2]), cap: Number(m[3]), wptr: Number(m[4]), cond: Number(m[5]) }));
}

beforeAll(async () => {
  await ensureHost();
  await mkdir(OUT_DIR, { recursive: true });
  const port = await freePort();
  const fixture = JSON.parse(await readFile(join(REPO_ROOT, 'test/e2e/fixtures/zns.json'), 'utf8')) as { ports: Array<{ addr: { trsvcid: string } }> };
  fixture.ports[0]!.addr.trsvcid = String(port);
  const cfg = join(OUT_DIR, 'zns.json');
  await writeFile(cfg, JSON.stringify(fixture, null, 2));
  // The guest reaches the admin API at 10.0.2.2 too (QEMU user networking), to inject zone faults.
  daemon = await startDaemon(cfg, ['--advertise-address', GUEST_GATEWAY]);
  const vars = { TGT: GUEST_GATEWAY, PORT: port, NQN, HTTP: daemon.httpPort, ZONE_SECTORS, LBA_SHIFT };
  try {
    guest = await runGuest(await guestScript('zns', vars), 1200);
  } finally {
    await writeFile(join(OUT_DIR, 'zns-guest.log'), guest?.output ?? '(no output)');
  }
  steps = parseSteps(guest.output);
  const api = `http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems/${encodeURIComponent(NQN)}/namespaces/1`;
  zonesAfter = (await (await fetch(`${api}/zones`)).json()) as typeof zonesAfter;
  stats = (await (await fetch(`${api}/stats`)).json()) as typeof stats;
  await writeFile(join(OUT_DIR, 'zns-zones.json'), JSON.stringify({ zones: zonesAfter, stats }, null, 2));
});

afterAll(async () => {
  if (daemon) {
    await daemon.stop();
    await writeFile(join(OUT_DIR, 'zns-daemon.log'), daemon.logs());
  }
});

describe('Linux host on a zoned namespace', () => {
  it('connects and sees a host-managed zoned block device with the configured limits', () => {
    ok('connect');
    const kv = Object.fromEntries(
      ok('sysfs')
        .out.split('\n')
        .filter((l) => l.includes('='))
        .map((l) => l.split('=') as [string, string]),
    );
    expect(kv).toMatchObject({
      zoned: 'host-managed',
      nr_zones: String(ZONES),
      chunk_sectors: String(ZONE_SECTORS),
      zone_append_max_bytes: String(256 * 1024), // ZASL 6: 2^6 x 4 KiB
      max_open_zones: '4',
      max_active_zones: '6',
      logical_block_size: '4096',
    });
  });

  it('nvme zns id-ns / id-ctrl show the zone limits, zone size and a non-zero ZASL', () => {
    const ns = ok('id-ns').out;
    expect(ns).toMatch(/mor\s*:\s*(0x)?3\b/);
    expect(ns).toMatch(/mar\s*:\s*(0x)?5\b/);
    expect(ns).toMatch(/zsze:\s*0x400\b/); // 1024 blocks of 4 KiB
    expect(ok('id-ctrl').out).toMatch(/zasl\s*:\s*6\b/);
  });

  it('blkzone report and nvme zns report-zones list the configured zones', () => {
    const z = blkzones(ok('blkzone-report').out);
    expect(z).toHaveLength(ZONES);
    z.forEach((d, i) => expect(d).toMatchObject({ start: i * ZONE_SECTORS, len: ZONE_SECTORS, cap: CAP_SECTORS, cond: 1 }));
    const r = ok('report-zones').out;
    expect(r).toMatch(new RegExp(`nr_zones:\\s*${ZONES}`));
    expect(r.match(/SLBA:/g)).toHaveLength(ZONES);
  });

  it('writes at the write pointer succeed (zone implicitly opened), elsewhere they fail', () => {
    const z = blkzones(ok('wp-write').out);
    expect(z[0]).toMatchObject({ start: ZONE_SECTORS, cond: 2 }); // implicitly open
    expect([z[0]!.wptr, z[0]!.wptr - ZONE_SECTORS]).toContain(4 << LBA_SHIFT);
    const bad = ok('bad-write').out;
    expect(bad).toMatch(/write away from the write pointer refused/);
    // nvme-cli names the status ("Zone Invalid Write ... (0x1bc)", with DNR 0x41bc on some versions).
    expect(bad).toMatch(/Zone Invalid Write|ZONE_INVALID_WRITE|0x[0-9a-f]?[0-9a-f]?1bc\b/i);
  });

  it('blkzone reset rewinds a zone', () => {
    const z = blkzones(ok('reset').out);
    expect(z[0]).toMatchObject({ start: ZONE_SECTORS, cond: 1 });
    expect([0, ZONE_SECTORS]).toContain(z[0]!.wptr);
  });

  it('nvme zns zone-append returns increasing LBAs', () => {
    const out = ok('append').out;
    // nvme-cli prints the LBA in hex without a 0x prefix.
    const lbas = [...out.matchAll(/appended data to LBA\s+(?:0x)?([0-9a-f]+)/gi)].map((m) => parseInt(m[1]!, 16));
    const zslba = 2 * (ZONE_SECTORS >> LBA_SHIFT);
    expect(lbas).toEqual([zslba, zslba + 2, zslba + 4, zslba + 6]);
  });

  it('a finished zone is full', () => {
    const z = blkzones(ok('finish').out);
    expect(z[0]).toMatchObject({ start: 3 * ZONE_SECTORS, cond: 14 }); // BLK_ZONE_COND_FULL
  });

  it('fio --zonemode=zbd with crc32c verification passes, sequential and random', () => {
    ok('reset-all');
    expect(ok('scheduler').out).toMatch(/\[mq-deadline\]/);
    for (const name of ['fio-seq', 'fio-rand']) {
      const s = ok(name);
      expect(s.out).toMatch(/err= 0/);
      expect(s.out).not.toMatch(/verify: bad|verify failed|bad magic/i);
    }
    const z = blkzones(ok('fio-report').out);
    expect(z.slice(0, 12).some((d) => d.cond !== 1)).toBe(true); // fio wrote the first 12 zones
  });

  it('a zone made read only by injection shows as read only: reads work, writes fail', () => {
    const out = ok('fault-ro').out;
    expect(out).toMatch(/"changed":true/);
    const z = blkzones(out);
    expect(z[0]).toMatchObject({ start: 14 * ZONE_SECTORS, cond: 13 }); // BLK_ZONE_COND_READONLY
  });

  it('a zone made offline by injection shows as offline, and its reads fail', () => {
    const out = ok('fault-offline').out;
    const z = blkzones(out);
    expect(z[0]).toMatchObject({ start: 15 * ZONE_SECTORS, cond: 15 }); // BLK_ZONE_COND_OFFLINE
    expect(out).toMatch(/read of the offline zone refused/);
    ok('disconnect');
  });

  it('the daemon counted it all: zone states, resets, appends, erases paid on the device', () => {
    expect(zonesAfter.stats).toMatchObject({ zones: ZONES, read_only: 1, offline: 1, appends: 4, injectedFaults: 2 });
    expect(zonesAfter.stats.resets).toBeGreaterThan(12);
    expect(zonesAfter.stats.finishes).toBeGreaterThanOrEqual(1);
    expect(stats.device.erases).toBeGreaterThan(0);
    expect(stats.device.hostWrittenBytes).toBeGreaterThan(48 * 1024 * 1024);
  });
});
