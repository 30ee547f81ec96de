// The initiator library end to end against the real target (startDaemon).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateTopology } from '../../src/config/topology.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { discover, HostQueue, NvmeHost, NvmeStatusError } from '../../src/initiator/index.js';
import { DISCOVERY_NQN, FeatureId, IdentifyCns, LogPage, PduType, TermFes } from '../../src/protocol/constants.js';
import { encodeICReq } from '../../src/protocol/pdu.js';
import { Status } from '../../src/protocol/status.js';
import { pattern } from '../helpers/pattern.js';

const SUBNQN = 'nqn.2024-01.io.nvmf-emu:initiator-test';
const CAPACITY = 64 * 1024 * 1024;

let daemon: Daemon;
let port: number;

beforeAll(async () => {
  const topology = validateTopology({
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [SUBNQN] }],
    subsystems: [
      {
        nqn: SUBNQN,
        attr: { allow_any_host: 1 },
        namespaces: [{ nsid: 1, emulation: { type: 'nvm', capacity: CAPACITY, lba_size: 4096 } }],
      },
    ],
  });
  // The validator requires 1..65535; the listener accepts 0 (ephemeral port) after validation.
  topology.ports[0]!.addr.trsvcid = 0;
  daemon = await startDaemon({ topology });
  port = daemon.listeners[0]!.port;
});

afterAll(async () => {
  await daemon?.stop();
});


async function withHost<T>(o: Partial<Parameters<typeof NvmeHost.connect>[0]>, fn: (h: NvmeHost) => Promise<T>): Promise<T> {
  const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ...o });
  try {
    return await fn(h);
  } finally {
    await h.disconnect();
  }
}

describe('initiator <-> target', () => {
  it('connects, identifies, and reads back 4 KiB and 1 MiB writes', async () => {
    await withHost({ ioQueues: 1 }, async (h) => {
      expect(h.cntlid).toBeGreaterThan(0);
      expect(h.controllerInfo!.subnqn).toBe(SUBNQN);
      expect(h.ioQueues).toHaveLength(1);
      expect(await h.activeNamespaces()).toEqual([1]);
      const ns = await h.namespaceInfo(1);
      expect(ns.lbaSize).toBe(4096);
      expect(ns.nsze).toBe(BigInt(CAPACITY / 4096));

      const a = pattern(4096, 1);
      await h.write(1, 0, a);
      expect((await h.read(1, 0, 1)).equals(a)).toBe(true);

      const big = pattern(1 << 20, 2);
      await h.write(1, 1000, big);
      expect((await h.read(1, 1000, 256)).equals(big)).toBe(true);
      expect((await h.read(1, 1000, 1)).equals(big.subarray(0, 4096))).toBe(true);
    });
  });

  it('works with header and data digests on', async () => {
    await withHost({ ioQueues: 2, hdgst: true, ddgst: true }, async (h) => {
      expect(h.admin.hdgst && h.admin.ddgst).toBe(true);
      const a = pattern(4096, 3);
      await h.write(1, 7, a);
      expect((await h.read(1, 7, 1)).equals(a)).toBe(true);
      const big = pattern(1 << 20, 4);
      await h.write(1, 2000, big);
      expect((await h.read(1, 2000, 256)).equals(big)).toBe(true);
      const id = await h.identify(IdentifyCns.Controller);
      expect(id.length).toBe(4096);
      // Each kind of change shows in the next read's digest (the reader checks every digest, so a
      // digest of stale data fails the read).
      const b = pattern(4096, 5);
      await h.write(1, 8, b);
      expect((await h.read(1, 7, 2)).equals(Buffer.concat([a, b]))).toBe(true);
      const c = pattern(4096, 6);
      await h.write(1, 7, c);
      expect((await h.read(1, 7, 2)).equals(Buffer.concat([c, b]))).toBe(true);
      await h.writeZeroes(1, 8, 1);
      expect((await h.read(1, 7, 2)).equals(Buffer.concat([c, Buffer.alloc(4096)]))).toBe(true);
      await h.deallocate(1, [{ slba: 7, nlb: 1 }]);
      expect((await h.read(1, 6, 3)).equals(Buffer.alloc(3 * 4096))).toBe(true);
      // Many reads in flight at once: the target sums their data digests together, just before
      // the batch is written (each block prefetched when its read completed).
      const blocks = Array.from({ length: 48 }, (_, i) => pattern(4096 * (1 + (i % 3)), 10 + i));
      await Promise.all(blocks.map((blk, i) => h.write(1, 100 + 4 * i, blk)));
      const got = await Promise.all(blocks.map((blk, i) => h.read(1, 100 + 4 * i, blk.length / 4096)));
      got.forEach((g, i) => expect(g.equals(blocks[i]!), `read ${i}`).toBe(true));
      // Enough batches that the target's 64 KiB header arena is replaced in the middle of some
      // (~60 bytes of headers and digests a read): a digest deferred to the flush still lands in
      // the buffer its header went to.
      for (let round = 0; round < 40; round++) {
        const again = await Promise.all(blocks.map((blk, i) => h.read(1, 100 + 4 * i, blk.length / 4096)));
        again.forEach((g, i) => expect(g.equals(blocks[i]!), `round ${round} read ${i}`).toBe(true));
      }
      // Reads racing writes of the same blocks (on one queue they arrive in one chunk and run in
      // one tick; the two queues are not ordered): each read returns the old or the new bytes, with
      // the digest of what it returned (the target knows the digests of blocks read before: a
      // write must not leave one stale).
      let cur = blocks.slice(0, 16).map((blk) => blk.subarray(0, 4096));
      for (let round = 0; round < 8; round++) {
        const next = cur.map((_, i) => pattern(4096, 1000 + round * 16 + i));
        const ops = cur.flatMap((_, i) => [h.read(1, 100 + 4 * i, 1), h.write(1, 100 + 4 * i, next[i]!), h.read(1, 100 + 4 * i, 1)]);
        const res = await Promise.all(ops);
        cur.forEach((old, i) => {
          const before = res[3 * i] as Buffer;
          const after = res[3 * i + 2] as Buffer;
          expect(before.equals(old) || before.equals(next[i]!), `round ${round} block ${i}`).toBe(true);
          expect(after.equals(old) || after.equals(next[i]!), `round ${round} block ${i}`).toBe(true);
        });
        cur = next;
      }
    });
  });

  it('runs concurrent I/O on 4 I/O queues', async () => {
    await withHost({ ioQueues: 4, queueSize: 32, ddgst: true }, async (h) => {
      expect(h.ioQueues.map((q) => q.qid)).toEqual([1, 2, 3, 4]);
      const N = 256;
      const blocks = Array.from({ length: N }, (_, i) => pattern(8192, 100 + i));
      await Promise.all(blocks.map((b, i) => h.write(1, 4096 + i * 2, b, { qid: (i % 4) + 1 })));
      const back = await Promise.all(blocks.map((_, i) => h.read(1, 4096 + i * 2, 2, { qid: ((i + 1) % 4) + 1 })));
      back.forEach((b, i) => expect(b.equals(blocks[i]!)).toBe(true));
      // Mixed sizes, round-robin queue choice, in flight together.
      const sizes = [1, 3, 16, 32, 64, 2, 128];
      const jobs = sizes.map(async (nlb, i) => {
        const slba = 10000 + i * 256;
        const d = pattern(nlb * 4096, 900 + i);
        await h.write(1, slba, d);
        return (await h.read(1, slba, nlb)).equals(d);
      });
      expect(await Promise.all(jobs)).toEqual(sizes.map(() => true));
    });
  });

  it('flush, write zeroes, deallocate, compare, verify', async () => {
    await withHost({}, async (h) => {
      const d = pattern(8192, 7);
      await h.write(1, 50, d);
      await h.flush(1);
      expect(await h.compare(1, 50, d)).toBe(true);
      expect(await h.compare(1, 50, pattern(8192, 8))).toBe(false);
      await h.verify(1, 50, 2);
      await h.writeZeroes(1, 50, 1);
      expect((await h.read(1, 50, 1)).every((x) => x === 0)).toBe(true);
      await h.deallocate(1, [{ slba: 51, nlb: 1 }]);
    });
  });

  it('reports errors with .status / .statusName', async () => {
    await withHost({}, async (h) => {
      const nblocks = CAPACITY / 4096;
      const e = await h.read(1, nblocks, 1).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(NvmeStatusError);
      expect((e as NvmeStatusError).status & 0x7ff).toBe(Status.LbaOutOfRange & 0x7ff);
      const r = await h.ioCommand(1, { opcode: 0x02, nsid: 99, cdw12: 0 }, { readLength: 4096 });
      expect(r.cqe.status & 0x7ff).toBe(Status.InvalidNamespace & 0x7ff);
      const nq = await h.getFeatures(FeatureId.NumberOfQueues);
      expect(nq.dw0 & 0xffff).toBeGreaterThanOrEqual(0);
      const smart = await h.getLogPage(LogPage.Smart, 512, { nsid: 0xffffffff });
      expect(smart.length).toBe(512);
    });
  });

  it('rejects a Connect to an unknown subsystem with a Connect status', async () => {
    const e = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: 'nqn.2024-01.io.nvmf-emu:nope' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NvmeStatusError);
    expect((e as NvmeStatusError).statusName).toMatch(/^Connect/);
  });

  it('discovers the subsystem', async () => {
    const r = await discover({ host: '127.0.0.1', port });
    const nvm = r.entries.find((e) => e.subnqn === SUBNQN);
    expect(nvm).toBeDefined();
    expect(nvm!.trtype).toBe(3);
    expect(nvm!.trsvcid).toBe(String(port));
    expect(r.entries.every((e) => e.subnqn === SUBNQN || e.subnqn === DISCOVERY_NQN)).toBe(true);
  });

  it('the target answers a malformed PDU with C2HTermReq and closes', async () => {
    const q = await HostQueue.connect({ host: '127.0.0.1', port, qid: 0 });
    const bad = Buffer.alloc(72);
    bad[0] = PduType.CapsuleCmd;
    bad[2] = 60; // wrong HLEN (must be 72)
    bad.writeUInt32LE(72, 4);
    q.sendRaw(bad);
    await q.whenClosed;
    expect(q.lastTermReq).not.toBeNull();
    expect(q.lastTermReq!.fes).toBe(TermFes.InvalidHeaderField);
    expect(q.lastTermReq!.fei).toBe(2); // offset of HLEN
    expect(q.lastTermReq!.data.subarray(0, 8).equals(bad.subarray(0, 8))).toBe(true);
  });

  it('the target rejects a second ICReq on an initialized connection', async () => {
    const q = await HostQueue.connect({ host: '127.0.0.1', port, qid: 0 });
    q.sendRaw(encodeICReq({ pfv: 0, hpda: 0, hdgst: false, ddgst: false, maxr2t: 0 }));
    await q.whenClosed;
    expect(q.lastTermReq?.fes).toBe(TermFes.PduSequenceError);
  });
});
