// File-backed namespaces (`device.path`), which neither NVMeVirt nor FEMU has:
// - a clean restart keeps the data and the conv FTL (maps, wear, counters);
// - kill -9 keeps what was acknowledged after Flush or FUA;
// - SIGTERM lets commands already running complete, saves, and exits in bounded time.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateTopology, type TopologyInput } from '../../src/config/topology.js';
import { startDaemon } from '../../src/daemon.js';
import { snapshotPath } from '../../src/devices/model-snapshot.js';
import { NvmeHost } from '../../src/initiator/index.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { pattern } from '../helpers/pattern.js';
import { freePort } from '../helpers/net.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:persist';
const dir = mkdtempSync(join(tmpdir(), 'nvmf-emu-persist-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function topology(port: number, ns: object[]): TopologyInput {
  return {
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: port }, subsystems: [NQN] }],
    subsystems: [{ nqn: NQN, attr: { allow_any_host: 1 }, namespaces: ns as never }],
  };
}


describe('clean restart', () => {
  it('keeps the data and the FTL state of a conv namespace', async () => {
    const path = join(dir, 'conv.img');
    const cfg = (): ReturnType<typeof validateTopology> => {
      const t = validateTopology(topology(4420, [{ nsid: 1, device: { path }, emulation: { type: 'conv', preset: 'samsung-970pro', capacity: '16MiB', pages_per_block: 4 } }]));
      t.ports[0]!.addr.trsvcid = 0;
      return t;
    };
    const d1 = await startDaemon({ topology: cfg(), engine: { workers: 1 } });
    const h1 = await NvmeHost.connect({ host: '127.0.0.1', port: d1.listeners[0]!.port, subnqn: NQN });
    // Overwrite the namespace twice over so GC has run and wear exists.
    for (let pass = 0; pass < 2; pass++) for (let i = 0; i < 256; i++) await h1.write(1, i * 128, pattern(64 * 1024, pass * 1000 + i));
    await h1.disconnect();
    const ns1 = d1.target.subsystems.get(NQN)!.namespaces.get(1)!;
    await d1.engine.whenReady();
    await new Promise((r) => setTimeout(r, 50)); // counters are mirrored every few ms
    const before = ns1.counters();
    expect(before.gcRuns).toBeGreaterThan(0);
    await d1.stop();
    expect(existsSync(snapshotPath(path))).toBe(true);

    const d2 = await startDaemon({ topology: cfg(), engine: { workers: 1 } });
    try {
      expect(existsSync(snapshotPath(path))).toBe(false); // consumed: a crash now means a fresh FTL, never a stale one
      const ns2 = d2.target.subsystems.get(NQN)!.namespaces.get(1)!;
      expect(ns2.model!.restore).toEqual({ ok: true });
      await new Promise((r) => setTimeout(r, 50));
      expect(ns2.counters()).toEqual(before);
      const h2 = await NvmeHost.connect({ host: '127.0.0.1', port: d2.listeners[0]!.port, subnqn: NQN });
      for (const i of [0, 1, 100, 255]) expect((await h2.read(1, i * 128, 128)).equals(pattern(64 * 1024, 1000 + i)), `block ${i}`).toBe(true);
      await h2.disconnect();
    } finally {
      await d2.stop();
    }
  });

  it('names device.path when the file cannot be used', async () => {
    const big = join(dir, 'too-big.img');
    writeFileSync(big, Buffer.alloc(2 * 1024 * 1024));
    const t = validateTopology(topology(4420, [{ nsid: 1, device: { path: big }, emulation: { type: 'nvm', capacity: '1MiB' } }]));
    await expect(startDaemon({ topology: t })).rejects.toMatchObject({ errors: [{ path: 'subsystems[0].namespaces[0].device.path', message: expect.stringContaining('more than the namespace capacity') }] });
  });
});

describe('crashes and signals (the daemon as a process)', () => {
  it('kill -9 keeps what was acknowledged after Flush or FUA', async () => {
    const path = join(dir, 'nvm.img');
    const port = await freePort();
    const cfgPath = join(dir, 'kill.json');
    writeFileSync(cfgPath, JSON.stringify(topology(port, [{ nsid: 1, device: { path }, emulation: { type: 'nvm', capacity: '40MiB', lba_size: 4096 } }])));
    const p1 = await spawnDaemon(['--config', cfgPath, '--no-http-enabled', '--log-level', 'warn']);
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN, ioQueues: 4, queueSize: 32 });
    // 30 MiB at queue depth 64, then Flush and kill at once: the write-back is surely behind the
    // acknowledgements, so only a Flush that waits for it keeps this data.
    await Promise.all(Array.from({ length: 240 }, (_, i) => h.write(1, i * 32, pattern(128 * 1024, i))));
    await h.flush(1);
    await Promise.all(Array.from({ length: 16 }, (_, i) => h.write(1, 7680 + i * 4, pattern(16 * 1024, 100 + i), { fua: true })));
    p1.proc.kill('SIGKILL');
    expect(await p1.exited).toBe('SIGKILL');
    await h.close().catch(() => {});

    const p2 = await spawnDaemon(['--config', cfgPath, '--no-http-enabled', '--log-level', 'warn']);
    try {
      const h2 = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN });
      for (let i = 0; i < 240; i++) expect((await h2.read(1, i * 32, 32)).equals(pattern(128 * 1024, i)), `flushed write ${i}`).toBe(true);
      for (let i = 0; i < 16; i++) expect((await h2.read(1, 7680 + i * 4, 4)).equals(pattern(16 * 1024, 100 + i)), `FUA write ${i}`).toBe(true);
      await h2.disconnect();
    } finally {
      p2.proc.kill('SIGTERM');
      await p2.exited;
    }
  });

  it('SIGTERM completes commands already running, saves, and exits promptly', async () => {
    const path = join(dir, 'slow.img');
    const port = await freePort();
    const cfgPath = join(dir, 'term.json');
    // 300 ms per read: commands are surely running when the signal arrives.
    writeFileSync(cfgPath, JSON.stringify(topology(port, [{ nsid: 1, device: { path }, emulation: { type: 'nvm', capacity: '8MiB', lba_size: 4096, read_latency_ns: 300_000_000 } }])));
    const p = await spawnDaemon(['--config', cfgPath, '--no-http-enabled', '--log-level', 'info']);
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN, ioQueues: 2 });
    await h.write(1, 0, pattern(4096, 5)); // not flushed: the clean shutdown saves it
    const reads = [0, 1, 2, 3].map((i) => h.read(1, 0, 1, { qid: 1 + (i % 2) }));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    p.proc.kill('SIGTERM');
    const done = await Promise.allSettled(reads);
    expect(done.map((d) => d.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(await p.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8000); // bounded: 5 s drain at most, plus saving
    expect(p.output()).toMatch(/namespace saved/);
    await h.close().catch(() => {});
    const p2 = await spawnDaemon(['--config', cfgPath, '--no-http-enabled', '--log-level', 'warn']);
    try {
      const h2 = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN });
      expect((await h2.read(1, 0, 1)).equals(pattern(4096, 5))).toBe(true);
      await h2.disconnect();
    } finally {
      p2.proc.kill('SIGTERM');
      await p2.exited;
    }
  });
});
