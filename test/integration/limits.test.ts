// Resource limits (settings limits.*), enforced with proper rejects: connections beyond the limit
// are refused at accept, controllers beyond it get Connect Controller Busy, queues larger than
// the limit are refused at Connect, and namespace data beyond the memory budget fails with
// Capacity Exceeded (nothing written) until space is freed.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost, NvmeStatusError } from '../../src/initiator/index.js';
import { discover } from '../../src/initiator/discovery.js';
import { Status } from '../../src/protocol/status.js';
import { pattern } from '../helpers/pattern.js';
import { RawClient } from './helpers/raw-client.js';
import { statusOf } from '../helpers/net.js';
import { loopbackTopology } from '../helpers/topology.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:limits';
const CHUNK = 256 * 1024; // the sparse store's allocation unit
let daemon: Daemon;
let port: number;

beforeAll(async () => {
  const t = loopbackTopology(NQN, [{ nsid: 1, emulation: { type: 'nvm', capacity: '64MiB', lba_size: 4096 } }]);
  daemon = await startDaemon({ topology: t, limits: { maxConnections: 4, maxControllers: 1, maxQueueSize: 64, maxMemoryBytes: 4 * CHUNK } });
  port = daemon.listeners[0]!.port;
});

afterAll(async () => {
  await daemon?.stop();
});


describe('limits', () => {
  it('queues: CAP.MQES says 63, and a bigger queue is refused at Connect', async () => {
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN, ioQueues: 1, queueSize: 64 });
    try {
      expect(h.cap!.mqes).toBe(63);
    } finally {
      await h.disconnect();
    }
    const a = await RawClient.connect(port);
    const c = await a.connect({ subnqn: NQN, hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000011aa', kato: 0 });
    expect((await a.enable()).status).toBe(0);
    const q = await RawClient.connect(port);
    const r = await q.connect({ subnqn: NQN, hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000011aa', qid: 1, sqsize: 100, cntlid: c.dw0 & 0xffff });
    expect(r.status).toBe(Status.ConnectInvalidParameters);
    await q.close();
    await a.close();
  });

  it('controllers: one live controller, the next gets Connect Controller Busy; discovery is not counted', async () => {
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN });
    try {
      const err = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NvmeStatusError);
      expect((err as NvmeStatusError).status).toBe(Status.ConnectControllerBusy);
      expect((await discover({ host: '127.0.0.1', port })).entries.length).toBeGreaterThan(0);
      expect(daemon.target.counters.connectRejects.get('controller-limit')).toBe(1);
    } finally {
      await h.disconnect();
    }
    await (await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN })).disconnect(); // room again
  });

  it('connections: beyond the limit they are closed at once, and counted', async () => {
    const socks: net.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = net.connect(port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      socks.push(s);
    }
    await new Promise((r) => setTimeout(r, 50));
    const extra = net.connect(port, '127.0.0.1');
    extra.on('error', () => {});
    await new Promise((r) => extra.once('close', r));
    expect(daemon.target.counters.connectionsRefused).toBe(1);
    for (const s of socks) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await (await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN })).disconnect(); // accepted again
  });

  it('memory: writes past the budget fail with Capacity Exceeded, nothing written, until space is freed', async () => {
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN });
    try {
      for (let c = 0; c < 4; c++) await h.write(1, (c * CHUNK) / 4096, pattern(4096, c));
      expect(daemon.target.memory.used).toBe(4 * CHUNK);
      // A write across chunk 3 (held) and 4 (new) needs one more chunk: refused whole.
      const lba = (4 * CHUNK) / 4096 - 1;
      expect(await statusOf(h.write(1, lba, pattern(8192, 9)))).toBe(Status.CapacityExceeded);
      expect((await h.read(1, lba, 1)).equals(Buffer.alloc(4096))).toBe(true);
      // Writes into chunks already held still work.
      await h.write(1, 1, pattern(4096, 7));
      // Deallocating a whole chunk gives its memory back.
      await h.deallocate(1, [{ slba: 0, nlb: CHUNK / 4096 }]);
      expect(daemon.target.memory.used).toBe(3 * CHUNK);
      await h.write(1, lba, pattern(8192, 9));
      expect((await h.read(1, lba, 2)).equals(pattern(8192, 9))).toBe(true);
    } finally {
      await h.disconnect();
    }
  });
});
