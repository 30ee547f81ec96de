// A file-backed namespace far larger than limits.max_memory keeps working: its cache drops chunks
// (writing dirty ones to the file first) instead of refusing writes, memory stays within the
// limit, and everything written is there after a restart. A memory-backed namespace next to it
// gets memory back from that cache, and still gets Capacity Exceeded once its own data fills the
// budget (nowhere else to put it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost } from '../../src/initiator/index.js';
import { Status } from '../../src/protocol/status.js';
import { statusOf } from '../helpers/net.js';
import { pattern } from '../helpers/pattern.js';
import { loopbackTopology } from '../helpers/topology.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:file-over-budget';
const CHUNK = 256 * 1024; // the stores' allocation unit
const LIMIT = 4 * CHUNK; // 1 MiB for 32 MiB of file namespace
const BLOCKS = (32 * 1024 * 1024) / 4096;
const QD = 8;
const dir = mkdtempSync(join(tmpdir(), 'nvmf-emu-over-budget-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Extents of 1..64 blocks, so writes straddle chunk boundaries, covering the namespace once.
const extents: { slba: number; nlb: number; seed: number }[] = [];
for (let slba = 0, k = 0; slba < BLOCKS; k++) {
  const nlb = Math.min(1 + ((k * 37) % 64), BLOCKS - slba);
  extents.push({ slba, nlb, seed: 1000 + k });
  slba += nlb;
}

async function start(): Promise<{ daemon: Daemon; host: NvmeHost }> {
  const t = loopbackTopology(NQN, [
    { nsid: 1, device: { path: join(dir, 'big.img') }, emulation: { type: 'nvm', capacity: '32MiB', lba_size: 4096 } },
    { nsid: 2, emulation: { type: 'nvm', capacity: '8MiB', lba_size: 4096 } },
  ]);
  const daemon = await startDaemon({ topology: t, engine: { workers: 1 }, limits: { maxMemoryBytes: LIMIT } });
  const host = await NvmeHost.connect({ host: '127.0.0.1', port: daemon.listeners[0]!.port, subnqn: NQN });
  return { daemon, host };
}

/** Run `fn` over `items` with `QD` commands in flight. */
async function inFlight<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: QD }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

describe('file-backed namespace over the memory budget', () => {
  it('verified writes over the whole namespace succeed within the limit, and read back after a restart', async () => {
    const { daemon, host } = await start();
    let peak = 0;
    try {
      await inFlight(extents, async (e) => {
        await host.write(1, e.slba, pattern(e.nlb * 4096, e.seed));
        peak = Math.max(peak, daemon.target.memory.used);
        expect((await host.read(1, e.slba, e.nlb)).equals(pattern(e.nlb * 4096, e.seed)), `extent at ${e.slba}`).toBe(true);
        peak = Math.max(peak, daemon.target.memory.used);
      });
      expect(peak).toBeLessThanOrEqual(LIMIT);

      // The memory namespace takes the budget back from the file cache, then is refused.
      await host.write(2, 0, pattern(LIMIT, 7));
      expect(daemon.target.memory.used).toBe(LIMIT);
      expect(await statusOf(host.write(2, LIMIT / 4096, pattern(4096, 8)))).toBe(Status.CapacityExceeded);
      // The file namespace still takes writes (straight to the file), with FUA too.
      const last = extents[extents.length - 1]!;
      const again = { ...last, seed: 99 };
      await host.write(1, again.slba, pattern(again.nlb * 4096, again.seed), { fua: true });
      extents[extents.length - 1] = again;
      expect((await host.read(1, again.slba, again.nlb)).equals(pattern(again.nlb * 4096, again.seed))).toBe(true);
      expect(daemon.target.memory.used).toBe(LIMIT);
      await host.flush(1);
    } finally {
      await host.disconnect().catch(() => {});
      await daemon.stop();
    }

    const second = await start();
    try {
      await inFlight(extents, async (e) => {
        expect((await second.host.read(1, e.slba, e.nlb)).equals(pattern(e.nlb * 4096, e.seed)), `extent at ${e.slba} after restart`).toBe(true);
      });
      expect(second.daemon.target.memory.used).toBeLessThanOrEqual(LIMIT);
    } finally {
      await second.host.disconnect().catch(() => {});
      await second.daemon.stop();
    }
  });
});
