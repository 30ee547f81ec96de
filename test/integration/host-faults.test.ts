// Hosts that misbehave or vanish, and the target changing under I/O: connections closed in the
// middle of an R2T transfer or while read data is going out, queues torn down with commands on
// the device engine, a namespace removed while a host writes to it. Nothing leaks (connections,
// controllers, R2T buffers, in-flight accounting) and no wrong data is ever returned.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost, NvmeStatusError } from '../../src/initiator/index.js';
import { NvmOpcode, PduType } from '../../src/protocol/constants.js';
import { SglId } from '../../src/protocol/constants.js';
import { Status } from '../../src/protocol/status.js';
import { pattern } from '../helpers/pattern.js';
import { RawClient } from './helpers/raw-client.js';
import { loopbackTopology } from '../helpers/topology.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:host-faults';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000c1';
let daemon: Daemon;
let port: number;

beforeAll(async () => {
  const t = loopbackTopology(NQN, [
    { nsid: 1, emulation: { type: 'nvm', capacity: '64MiB', lba_size: 4096 } },
    { nsid: 2, emulation: { type: 'nvm', capacity: '64MiB', lba_size: 4096, read_latency_ns: 2_000_000, write_latency_ns: 2_000_000 } },
  ]);
  daemon = await startDaemon({ topology: t, http: { address: '127.0.0.1', port: 0, enabled: true }, engine: { workers: 1 } });
  port = daemon.listeners[0]!.port;
});

afterAll(async () => {
  await daemon?.stop();
});

async function settled(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (daemon.target.counters.connectionsActive === 0 && daemon.target.subsystems.get(NQN)!.controllers.size === 0) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  // Commands that were on the engine when their queue went complete there, then release.
  await new Promise((r) => setTimeout(r, 50));
}

/** An I/O queue of a fresh controller over the raw client. */
async function rawIo(): Promise<{ admin: RawClient; io: RawClient }> {
  const admin = await RawClient.connect(port);
  const c = await admin.connect({ subnqn: NQN, hostnqn: HOSTNQN, kato: 0 });
  await admin.enable();
  const io = await RawClient.connect(port);
  await io.connect({ subnqn: NQN, hostnqn: HOSTNQN, qid: 1, sqsize: 63, cntlid: c.dw0 & 0xffff });
  return { admin, io };
}

describe('hosts vanishing', () => {
  it('mid-R2T (half the H2C data sent), mid-C2H, with commands on the engine: no leaks', async () => {
    const pool = daemon.target.bufferPool;
    const base = pool.outstanding;
    for (let round = 0; round < 30; round++) {
      const { admin, io } = await rawIo();
      const nsid = 1 + (round % 2);
      // A 1 MiB write fetched by R2T: answer the R2T with half the data, then vanish.
      const sqe = Buffer.alloc(64);
      sqe[0] = NvmOpcode.Write;
      sqe.writeUInt16LE(7, 2);
      sqe.writeUInt32LE(nsid, 4);
      sqe.writeUInt32LE(1 << 20, 24 + 8);
      sqe[24 + 15] = SglId.TransportDataBlock;
      sqe.writeUInt32LE(255, 48); // NLB 256 x 4 KiB
      io.send(io.buildCapsule(sqe, null));
      const r2t = await io.next();
      expect(r2t?.type).toBe(PduType.R2T);
      const ttag = r2t!.raw.readUInt16LE(10);
      io.send(io.buildH2CData(7, ttag, 0, pattern(128 * 1024, round), false));
      // And a big read whose data is going out when the socket goes.
      void io.exec({ opcode: NvmOpcode.Read, cid: 0, nsid, cdw10: 0, cdw12: 255 }, { readLength: 1 << 20 }).catch(() => {});
      await new Promise((r) => setTimeout(r, round % 3));
      await io.close();
      await admin.close();
    }
    await settled();
    expect(daemon.target.counters.connectionsActive).toBe(0);
    expect(daemon.target.subsystems.get(NQN)!.controllers.size).toBe(0);
    expect(pool.outstanding).toBe(base);
    for (const ns of daemon.target.subsystems.get(NQN)!.namespaces.values()) expect(ns.stats.ioNow).toBe(0);
    // Nothing half-written became visible: the writes never completed, the blocks read as zeroes.
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN });
    expect((await h.read(1, 0, 32)).equals(Buffer.alloc(128 * 1024))).toBe(true);
    await h.disconnect();
  });
});

describe('namespace removed under I/O', () => {
  it('writers get Invalid Namespace (never wrong data); the other namespace is untouched', async () => {
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN, ioQueues: 2 });
    const statuses = new Map<number, number>();
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await h.write(2, (i % 512) * 8, pattern(32 * 1024, i));
          statuses.set(0, (statuses.get(0) ?? 0) + 1);
        } catch (err) {
          if (!(err instanceof NvmeStatusError)) throw err;
          statuses.set(err.status, (statuses.get(err.status) ?? 0) + 1);
          if (err.status === Status.InvalidNamespace) break;
        }
      }
    })();
    await h.write(1, 0, pattern(4096, 42));
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems/${encodeURIComponent(NQN)}/namespaces/2`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    await writer;
    stop = true;
    expect(statuses.get(0)).toBeGreaterThan(0);
    expect(statuses.get(Status.InvalidNamespace)).toBe(1);
    expect([...statuses.keys()].every((s) => s === 0 || s === Status.InvalidNamespace)).toBe(true);
    expect((await h.read(1, 0, 1)).equals(pattern(4096, 42))).toBe(true);
    await h.disconnect();
  });
});
