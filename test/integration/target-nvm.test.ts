// NVM command set over real TCP: data movement by R2T/H2CData (split at MAXH2CDATA) and
// C2HData, range and length checks with the spec's statuses, DSM, Write Zeroes, Compare, Flush.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NvmeHost } from '../../src/initiator/index.js';
import { NvmOpcode, PduFlag, PduType, SglId, TermFes } from '../../src/protocol/constants.js';
import { encodeSqe, type SqeFields } from '../../src/protocol/sqe.js';
import { RawClient, STATUS_DNR, STATUS_SC, STATUS_SCT } from './helpers/raw-client.js';
import { openController, pattern, startTarget, type RawController, type TestTarget } from './helpers/target.js';

const SUBNQN = 'nqn.2024-01.io.nvmf-emu:target-nvm';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:cccccccc-0000-0000-0000-000000000003';
const NS1_BYTES = 64 * 1024 * 1024; // 512-byte LBAs
const NS1_NLB = NS1_BYTES / 512;

let t: TestTarget;
let port: number;
let ctl: RawController;
let q: RawClient;

beforeAll(async () => {
  t = await startTarget({
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, param: { inline_data_size: 4096 }, subsystems: [SUBNQN] }],
    subsystems: [
      {
        nqn: SUBNQN,
        attr: { allow_any_host: 1 },
        namespaces: [
          { nsid: 1, emulation: { type: 'nvm', capacity: NS1_BYTES, lba_size: 512 } },
          // Non-zero modelled latency: completions go through the asynchronous path.
          { nsid: 2, emulation: { type: 'nvm', capacity: '4MiB', lba_size: 4096, read_latency_ns: 1_000_000, write_latency_ns: 1_000_000 } },
          { nsid: 3, enable: 0, emulation: { type: 'nvm', capacity: '4MiB' } },
        ],
      },
    ],
  });
  port = t.port();
  ctl = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN, ioQueues: 1 });
  q = ctl.io[0]!;
});

afterAll(async () => {
  await ctl?.close();
  await t?.stop();
});

const rw = (opcode: number, nsid: number, slba: number, nlb: number, extra: Partial<SqeFields> = {}): SqeFields => ({
  opcode,
  cid: 0,
  nsid,
  cdw10: slba % 0x100000000,
  cdw11: Math.floor(slba / 0x100000000),
  cdw12: nlb - 1,
  ...extra,
});
const sc = (status: number): [number, number] => [STATUS_SCT(status), STATUS_SC(status)];

describe('data transfer', () => {
  it('the target offers MAXH2CDATA 128 KiB in ICResp', () => {
    expect(q.maxh2cdata).toBe(128 * 1024);
    expect(q.icresp!.raw.readUInt16LE(8)).toBe(0); // PFV
    expect(q.icresp!.raw[10]).toBe(0); // CPDA
  });

  it.each([
    [64 * 1024, 1],
    [1024 * 1024, 8],
  ])('%i-byte write by R2T + %i H2CData PDUs, read back by C2HData', async (bytes, h2cPdus) => {
    const d = pattern(bytes, bytes);
    const slba = bytes === 65536 ? 0 : 8192;
    const w = await q.exec(rw(NvmOpcode.Write, 1, slba, bytes / 512), { data: d });
    expect(w.cqe.status).toBe(0);
    expect(w.r2ts).toHaveLength(1);
    const r2t = w.r2ts[0]!;
    expect(r2t.raw.readUInt32LE(12)).toBe(0); // R2TO
    expect(r2t.raw.readUInt32LE(16)).toBe(bytes); // R2TL: the whole transfer
    expect(w.h2cSent).toBe(h2cPdus);
    const r = await q.exec(rw(NvmOpcode.Read, 1, slba, bytes / 512), { readLength: bytes });
    expect(r.cqe.status).toBe(0);
    expect(r.data.equals(d)).toBe(true);
    // Data PDUs cover the transfer; the last one carries LAST_PDU.
    expect(r.c2h.reduce((n, p) => n + p.data!.length, 0)).toBe(bytes);
    expect(r.c2h.at(-1)!.flags & PduFlag.LAST_PDU).toBe(PduFlag.LAST_PDU);
  });

  it('another controller (through the initiator library) reads what the raw client wrote', async () => {
    const d = pattern(1024 * 1024, 1024 * 1024);
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ioQueues: 1 });
    try {
      expect((await h.read(1, 8192, 2048)).equals(d)).toBe(true);
      const e = pattern(8192, 42);
      await h.write(1, 30000, e);
      const r = await q.exec(rw(NvmOpcode.Read, 1, 30000, 16), { readLength: 8192 });
      expect(r.data.equals(e)).toBe(true);
    } finally {
      await h.disconnect();
    }
  });

  it('in-capsule write data up to the port inline_data_size needs no R2T', async () => {
    const d = pattern(4096, 9);
    const w = await q.exec(rw(NvmOpcode.Write, 1, 40000, 8), { data: d, inCapsule: true });
    expect(w.cqe.status).toBe(0);
    expect(w.r2ts).toHaveLength(0);
    expect((await q.exec(rw(NvmOpcode.Read, 1, 40000, 8), { readLength: 4096 })).data.equals(d)).toBe(true);
  });

  it('in-capsule data above the I/O queue inline_data_size is fatal (FES 5)', async () => {
    const c = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN, ioQueues: 1 });
    const io = c.io[0]!;
    const sqe = encodeSqe({ ...rw(NvmOpcode.Write, 1, 40000, 16), sgl: { length: 8192, type: SglId.DataBlockOffset } });
    io.send(io.buildCapsule(sqe, Buffer.alloc(8192)));
    const term = await io.expectTermReq();
    expect(term.fes).toBe(TermFes.DataTransferLimitExceeded);
    await c.close();
  });

  it('an H2CData PDU larger than MAXH2CDATA is fatal (FES 5): the host must split', async () => {
    const c = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN, ioQueues: 1 });
    const io = c.io[0]!;
    const sqe = encodeSqe({ ...rw(NvmOpcode.Write, 1, 50000, 512), cid: 7, sgl: { length: 256 * 1024, type: SglId.TransportDataBlock } });
    io.send(io.buildCapsule(sqe, null));
    const r2t = (await io.next())!;
    expect(r2t.type).toBe(PduType.R2T);
    io.send(io.buildH2CData(7, r2t.raw.readUInt16LE(10), 0, Buffer.alloc(256 * 1024), true));
    const term = await io.expectTermReq();
    expect(term.fes).toBe(TermFes.DataTransferLimitExceeded);
    expect(term.fei).toBe(16); // DATAL
    await c.close();
  });

  it('many R2T writes in flight at once on two queues (some failing their data digest) keep their data apart', async () => {
    const c = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN, ioQueues: 2, ddgst: true });
    const sizes = [4096, 65536, 131072, 262144, 8192, 1048576, 196608, 12288];
    const jobs = Array.from({ length: 24 }, (_, i) => {
      const bytes = sizes[i % sizes.length]!;
      return { i, bytes, slba: 60000 + i * 2048, data: pattern(bytes, 500 + i), corrupt: i % 5 === 4 };
    });
    const results = await Promise.all(
      jobs.map((j) => c.io[j.i % 2]!.exec(rw(NvmOpcode.Write, 1, j.slba, j.bytes / 512), { data: j.data, corruptDataDigest: j.corrupt })),
    );
    results.forEach((r, k) => expect(r.cqe.status).toBe(jobs[k]!.corrupt ? 0x22 : 0));
    const back = await Promise.all(jobs.map((j) => c.io[(j.i + 1) % 2]!.exec(rw(NvmOpcode.Read, 1, j.slba, j.bytes / 512), { readLength: j.bytes })));
    back.forEach((r, k) => {
      const j = jobs[k]!;
      expect(r.cqe.status).toBe(0);
      expect(r.data.equals(j.corrupt ? Buffer.alloc(j.bytes) : j.data)).toBe(true);
    });
    await c.close();
  });

  it('completions of a namespace with modelled latency arrive (asynchronous completion path)', async () => {
    const d = pattern(16384, 3);
    expect((await q.exec(rw(NvmOpcode.Write, 2, 10, 4), { data: d })).cqe.status).toBe(0);
    const r = await q.exec(rw(NvmOpcode.Read, 2, 10, 4), { readLength: 16384 });
    expect(r.cqe.status).toBe(0);
    expect(r.data.equals(d)).toBe(true);
  });
});

describe('statuses', () => {
  it('read at or across the end of the namespace -> LBA Out of Range (SCT 0, SC 80h)', async () => {
    const past = await q.exec(rw(NvmOpcode.Read, 1, NS1_NLB, 1), { readLength: 512 });
    expect(sc(past.cqe.status)).toEqual([0, 0x80]);
    expect(STATUS_DNR(past.cqe.status)).toBe(true);
    expect(past.c2h).toHaveLength(0);
    const across = await q.exec(rw(NvmOpcode.Read, 1, NS1_NLB - 1, 2), { readLength: 1024 });
    expect(sc(across.cqe.status)).toEqual([0, 0x80]);
    const last = await q.exec(rw(NvmOpcode.Read, 1, NS1_NLB - 1, 1), { readLength: 512 });
    expect(last.cqe.status).toBe(0);
    const w = await q.exec(rw(NvmOpcode.Write, 1, NS1_NLB, 1), { data: Buffer.alloc(512) });
    expect(sc(w.cqe.status)).toEqual([0, 0x80]);
    const huge = await q.exec(rw(NvmOpcode.Read, 1, 2 ** 40, 1), { readLength: 512 });
    expect(sc(huge.cqe.status)).toEqual([0, 0x80]);
  });

  it('SGL length different from NLB x LBA size -> Data SGL Length Invalid (SC 0Fh)', async () => {
    const r = await q.exec(rw(NvmOpcode.Read, 1, 0, 8), { readLength: 2048 });
    expect(sc(r.cqe.status)).toEqual([0, 0x0f]);
    expect(r.c2h).toHaveLength(0);
    const w = await q.exec(rw(NvmOpcode.Write, 1, 0, 1), { data: Buffer.alloc(1024) });
    expect(sc(w.cqe.status)).toEqual([0, 0x0f]);
    const wic = await q.exec(rw(NvmOpcode.Write, 1, 0, 4), { data: Buffer.alloc(1024), inCapsule: true });
    expect(sc(wic.cqe.status)).toEqual([0, 0x0f]);
  });

  it('transfer above MDTS (1 MiB) -> SC 0Fh, without an R2T for writes', async () => {
    const bytes = 1024 * 1024 + 512;
    const r = await q.exec(rw(NvmOpcode.Read, 1, 0, bytes / 512), { readLength: bytes });
    expect(sc(r.cqe.status)).toEqual([0, 0x0f]);
    const w = await q.exec(rw(NvmOpcode.Write, 1, 0, bytes / 512), { data: Buffer.alloc(bytes) });
    expect(sc(w.cqe.status)).toEqual([0, 0x0f]);
    expect(w.r2ts).toHaveLength(0);
  });

  it('unknown I/O opcode -> Invalid Opcode (SC 01h)', async () => {
    for (const opcode of [0x7c, 0x03, 0x80]) {
      const r = await q.exec({ opcode, cid: 0, nsid: 1 });
      expect(sc(r.cqe.status)).toEqual([0, 0x01]);
    }
  });

  it('invalid / inactive NSID -> Invalid Namespace or Format (SC 0Bh)', async () => {
    for (const nsid of [0, 3, 99, 0xfffffffe]) {
      const r = await q.exec(rw(NvmOpcode.Read, nsid, 0, 1), { readLength: 512 });
      expect(sc(r.cqe.status)).toEqual([0, 0x0b]);
    }
    expect(sc((await q.exec({ opcode: NvmOpcode.Flush, cid: 0, nsid: 99 })).cqe.status)).toEqual([0, 0x0b]);
  });

  it('an unsupported SGL descriptor type -> SGL Descriptor Type Invalid (SC 11h)', async () => {
    const sqe = encodeSqe({ ...rw(NvmOpcode.Read, 1, 0, 1), sgl: { length: 512, type: 0x00 } });
    const r = await q.exec(sqe, { keepSgl: true, readLength: 512 });
    expect(sc(r.cqe.status)).toEqual([0, 0x11]);
  });
});

describe('NVM commands', () => {
  const SLBA = 100000;

  it('Dataset Management deallocate: the ranges read back as zeroes, neighbours intact', async () => {
    const d = pattern(32 * 512, 11);
    expect((await q.exec(rw(NvmOpcode.Write, 1, SLBA, 32), { data: d })).cqe.status).toBe(0);
    const ranges = Buffer.alloc(32);
    ranges.writeUInt32LE(8, 4); // range 0: 8 LBAs at SLBA+4
    ranges.writeBigUInt64LE(BigInt(SLBA + 4), 8);
    ranges.writeUInt32LE(4, 16 + 4); // range 1: 4 LBAs at SLBA+20
    ranges.writeBigUInt64LE(BigInt(SLBA + 20), 16 + 8);
    const dsm = await q.exec({ opcode: NvmOpcode.DatasetManagement, cid: 0, nsid: 1, cdw10: 1, cdw11: 1 << 2 }, { data: ranges, inCapsule: true });
    expect(dsm.cqe.status).toBe(0);
    const r = await q.exec(rw(NvmOpcode.Read, 1, SLBA, 32), { readLength: 32 * 512 });
    const want = Buffer.from(d);
    want.fill(0, 4 * 512, 12 * 512);
    want.fill(0, 20 * 512, 24 * 512);
    expect(r.data.equals(want)).toBe(true);
  });

  it('Dataset Management with a range past the end -> LBA Out of Range, nothing deallocated', async () => {
    const d = pattern(512, 12);
    expect((await q.exec(rw(NvmOpcode.Write, 1, SLBA + 40, 1), { data: d })).cqe.status).toBe(0);
    const ranges = Buffer.alloc(32);
    ranges.writeUInt32LE(1, 4);
    ranges.writeBigUInt64LE(BigInt(SLBA + 40), 8);
    ranges.writeUInt32LE(2, 16 + 4);
    ranges.writeBigUInt64LE(BigInt(NS1_NLB - 1), 16 + 8);
    const dsm = await q.exec({ opcode: NvmOpcode.DatasetManagement, cid: 0, nsid: 1, cdw10: 1, cdw11: 1 << 2 }, { data: ranges, inCapsule: true });
    expect(sc(dsm.cqe.status)).toEqual([0, 0x80]);
    expect((await q.exec(rw(NvmOpcode.Read, 1, SLBA + 40, 1), { readLength: 512 })).data.equals(d)).toBe(true);
  });

  it('Write Zeroes zeroes exactly its range', async () => {
    const d = pattern(16 * 512, 13);
    expect((await q.exec(rw(NvmOpcode.Write, 1, SLBA + 100, 16), { data: d })).cqe.status).toBe(0);
    const wz = await q.exec(rw(NvmOpcode.WriteZeroes, 1, SLBA + 102, 3));
    expect(wz.cqe.status).toBe(0);
    const r = await q.exec(rw(NvmOpcode.Read, 1, SLBA + 100, 16), { readLength: 16 * 512 });
    const want = Buffer.from(d);
    want.fill(0, 2 * 512, 5 * 512);
    expect(r.data.equals(want)).toBe(true);
    expect(sc((await q.exec(rw(NvmOpcode.WriteZeroes, 1, NS1_NLB - 1, 2))).cqe.status)).toEqual([0, 0x80]);
  });

  it('Compare: match -> success; mismatch -> Compare Failure (SCT 2, SC 85h)', async () => {
    const d = pattern(8 * 512, 14);
    expect((await q.exec(rw(NvmOpcode.Write, 1, SLBA + 200, 8), { data: d })).cqe.status).toBe(0);
    const same = await q.exec(rw(NvmOpcode.Compare, 1, SLBA + 200, 8), { data: d });
    expect(same.cqe.status).toBe(0);
    const other = Buffer.from(d);
    other[4095] ^= 0xff; // last byte differs
    const diff = await q.exec(rw(NvmOpcode.Compare, 1, SLBA + 200, 8), { data: other });
    expect(sc(diff.cqe.status)).toEqual([2, 0x85]);
    // In-capsule compare data works as well.
    const ic = await q.exec(rw(NvmOpcode.Compare, 1, SLBA + 200, 8), { data: d, inCapsule: true });
    expect(ic.cqe.status).toBe(0);
  });

  it('Flush to one namespace and to all (NSID FFFFFFFFh); Verify', async () => {
    expect((await q.exec({ opcode: NvmOpcode.Flush, cid: 0, nsid: 1 })).cqe.status).toBe(0);
    expect((await q.exec({ opcode: NvmOpcode.Flush, cid: 0, nsid: 0xffffffff })).cqe.status).toBe(0);
    expect((await q.exec(rw(NvmOpcode.Verify, 1, SLBA, 8))).cqe.status).toBe(0);
    expect(sc((await q.exec(rw(NvmOpcode.Verify, 1, NS1_NLB, 1))).cqe.status)).toEqual([0, 0x80]);
  });

  it('the CQE echoes CID and SQID and advances SQHD', async () => {
    const a = await q.exec({ opcode: NvmOpcode.Flush, cid: 0, nsid: 1 });
    const b = await q.exec({ opcode: NvmOpcode.Flush, cid: 0, nsid: 1 });
    expect(a.cqe.sqid).toBe(1);
    expect(b.cqe.sqid).toBe(1);
    expect(b.cqe.cid).not.toBe(a.cqe.cid);
    expect(b.cqe.sqhd).toBe((a.cqe.sqhd + 1) % 128);
  });
});
