// A write to a zoned namespace that fails — refused by the daemon's memory budget (limits.max_memory)
// or by an injected media write fault — leaves the zone's write pointer where it was, as on a drive;
// a refused Zone Append is neither acknowledged nor moves the pointer, also with other appends to
// the zone in flight. A write the zone itself refuses gets the zone's status first. Once memory is
// back (a zone reset drops its data), writes at the pointer go through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost } from '../../src/initiator/index.js';
import { Status } from '../../src/protocol/status.js';
import { ZoneSendAction } from '../../src/protocol/zns.js';
import { statusOf } from '../helpers/net.js';
import { pattern } from '../helpers/pattern.js';
import { loopbackTopology } from '../helpers/topology.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:zns-refused';
const CHUNK = 256 * 1024; // the stores' allocation unit: 64 blocks of 4 KiB
const ZONE = 256; // blocks (1 MiB)
let daemon: Daemon;
let host: NvmeHost;

beforeAll(async () => {
  const t = loopbackTopology(NQN, [{ nsid: 1, emulation: { type: 'zns', capacity: '8MiB', lba_size: 4096, zone_size: '1MiB', zone_capacity: '1MiB', max_open_zones: 4, max_active_zones: 4 } }]);
  daemon = await startDaemon({ topology: t, http: { address: '127.0.0.1', port: 0, enabled: true }, engine: { workers: 1 }, limits: { maxMemoryBytes: 2 * CHUNK } });
  host = await NvmeHost.connect({ host: '127.0.0.1', port: daemon.listeners[0]!.port, subnqn: NQN });
});

afterAll(async () => {
  await host?.disconnect().catch(() => {});
  await daemon?.stop();
});

const wp = async (zone: number): Promise<number> => (await host.reportZones(1, zone * ZONE)).zones[0]!.wp;

async function addFault(f: { type: string; slba: number; nlb: number; count: number; delay_ms?: number }): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems/${encodeURIComponent(NQN)}/namespaces/1/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(f),
  });
  expect(res.status).toBe(201);
}

describe('zoned writes refused after the zone check would have passed', () => {
  it('an injected write fault: Write Fault, write pointer unchanged; the next write at it succeeds', async () => {
    const z = 2 * ZONE;
    const res = await fetch(`http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems/${encodeURIComponent(NQN)}/namespaces/1/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'write_error', slba: z, nlb: 1, count: 1 }),
    });
    expect(res.status).toBe(201);
    expect(await statusOf(host.write(1, z, pattern(4096, 7)))).toBe(Status.WriteFault);
    expect(await wp(2)).toBe(z);
    await host.write(1, z, pattern(4096, 8)); // the fault was used up
    expect(await wp(2)).toBe(z + 1);
    expect((await host.read(1, z, 1)).equals(pattern(4096, 8))).toBe(true);
    await host.zoneManagementSend(1, z, ZoneSendAction.Reset); // its memory back for the next test
  });

  it('an injected fault only hits a write the zone would take: elsewhere than the pointer it is a Zone Invalid Write, the fault still armed', async () => {
    const z = 3 * ZONE;
    await addFault({ type: 'write_error', slba: z, nlb: ZONE, count: 1 });
    expect(await statusOf(host.write(1, z + 5, pattern(4096, 1)))).toBe(Status.ZoneInvalidWrite);
    expect(await statusOf(host.write(1, z, pattern(4096, 2)))).toBe(Status.WriteFault);
    expect(await wp(3)).toBe(z);
    await host.write(1, z, pattern(4096, 3));
    expect(await wp(3)).toBe(z + 1);
    await host.zoneManagementSend(1, z, ZoneSendAction.Reset);
  });

  it('Zone Append: an injected fault on the blocks it would get fails it (Write Fault) without moving the pointer; the next append gets them', async () => {
    const z = 4 * ZONE;
    await addFault({ type: 'write_error', slba: z, nlb: 1, count: 1 });
    expect(await statusOf(host.zoneAppend(1, z, pattern(4096, 10)))).toBe(Status.WriteFault);
    expect(await wp(4)).toBe(z);
    expect(await host.zoneAppend(1, z, pattern(4096, 11))).toBe(z);
    expect(await wp(4)).toBe(z + 1);
    expect((await host.read(1, z, 1)).equals(pattern(4096, 11))).toBe(true);
    await host.zoneManagementSend(1, z, ZoneSendAction.Reset);
  });

  it('appends in flight to one zone, one failed by a fault: the others get consecutive blocks, each holding its own data', async () => {
    const z = 5 * ZONE;
    await addFault({ type: 'write_error', slba: z + 2, nlb: 1, count: 1 });
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => host.zoneAppend(1, z, pattern(4096, 20 + i))));
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(await statusOf(Promise.reject((failed[0] as PromiseRejectedResult).reason))).toBe(Status.WriteFault);
    const got = new Map<number, number>(); // lba -> append index
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') got.set(r.value, i);
    });
    expect([...got.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6].map((k) => z + k));
    expect(await wp(5)).toBe(z + 7);
    for (const [lba, i] of got) expect((await host.read(1, lba, 1)).equals(pattern(4096, 20 + i)), `lba ${lba}`).toBe(true);
    await host.zoneManagementSend(1, z, ZoneSendAction.Reset);
  });

  it('a slowed append takes its blocks when it runs: no block is held for it meanwhile', async () => {
    const z = 6 * ZONE;
    await addFault({ type: 'slow_write', slba: z, nlb: 1, count: 1, delay_ms: 20 });
    const [a, b] = await Promise.all([host.zoneAppend(1, z, pattern(4096, 30)), host.zoneAppend(1, z, pattern(4096, 31))]);
    expect([a, b].sort((x, y) => x - y)).toEqual([z, z + 1]);
    expect(await wp(6)).toBe(z + 2);
    expect((await host.read(1, a, 1)).equals(pattern(4096, 30))).toBe(true);
    expect((await host.read(1, b, 1)).equals(pattern(4096, 31))).toBe(true);
    await host.zoneManagementSend(1, z, ZoneSendAction.Reset);
  });

  it('memory budget: Capacity Exceeded, write pointer unchanged; append refused too, not acknowledged', async () => {
    await host.write(1, 0, pattern(64 * 4096, 1)); // chunk 0
    await host.write(1, 64, pattern(64 * 4096, 2)); // chunk 1: the budget is spent
    expect(await wp(0)).toBe(128);
    expect(await statusOf(host.write(1, 128, pattern(4096, 3)))).toBe(Status.CapacityExceeded);
    expect(await wp(0)).toBe(128);
    // A write the zone would refuse anyway gets the zone's status, not the memory one.
    expect(await statusOf(host.write(1, 200, pattern(4096, 3)))).toBe(Status.ZoneInvalidWrite);
    expect(await statusOf(host.zoneAppend(1, ZONE, pattern(4096, 4)))).toBe(Status.CapacityExceeded);
    expect(await wp(1)).toBe(ZONE);
    // Memory back: resetting zone 0 drops its data; the writes at the pointers then succeed.
    await host.zoneManagementSend(1, 0, ZoneSendAction.Reset);
    await host.write(1, 0, pattern(4096, 5));
    expect(await wp(0)).toBe(1);
    expect(await host.zoneAppend(1, ZONE, pattern(4096, 6))).toBe(ZONE);
    expect((await host.read(1, ZONE, 1)).equals(pattern(4096, 6))).toBe(true);
  });
});
