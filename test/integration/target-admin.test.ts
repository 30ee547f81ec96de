// Admin command set over real TCP, checked against the topology the daemon was started with:
// Identify (CNS 01h/00h/02h/03h/08h), SMART and error log pages, features, AER.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminOpcode, NvmOpcode } from '../../src/protocol/constants.js';
import { type SqeFields } from '../../src/protocol/sqe.js';
import { RawClient, STATUS_SC, STATUS_SCT } from './helpers/raw-client.js';
import { openController, pattern, sleep, startTarget, type RawController, type TestTarget } from './helpers/target.js';

const SUBNQN = 'nqn.2024-01.io.nvmf-emu:target-admin';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:dddddddd-0000-0000-0000-000000000004';
const NS3 = { uuid: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0ff', nguid: '00112233445566778899aabbccddeeff', eui64: '0123456789abcdef' };
const KATO = 120_000;

let t: TestTarget;
let port: number;
let ctl: RawController;
let a: RawClient;
let q: RawClient;

beforeAll(async () => {
  t = await startTarget({
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, param: { inline_data_size: 16384 }, subsystems: [SUBNQN] }],
    subsystems: [
      {
        nqn: SUBNQN,
        attr: { allow_any_host: 1, serial: 'SN-ADMIN-01', model: 'nvmf-emu admin test', firmware: 'FW1.2' },
        namespaces: [
          { nsid: 1, emulation: { type: 'nvm', capacity: '32MiB', lba_size: 4096 } },
          { nsid: 3, device: NS3, emulation: { type: 'nvm', capacity: '16MiB', lba_size: 512 } },
          { nsid: 5, enable: 0, emulation: { type: 'nvm', capacity: '16MiB' } },
          { nsid: 7, emulation: { type: 'nvm', capacity: '8MiB', lba_size: 512 } },
        ],
      },
    ],
  });
  port = t.port();
  ctl = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN, kato: KATO, ioQueues: 2 });
  a = ctl.admin;
  q = ctl.io[0]!;
});

afterAll(async () => {
  await ctl?.close();
  await t?.stop();
});

const sc = (status: number): [number, number] => [STATUS_SCT(status), STATUS_SC(status)];
const ascii = (b: Buffer, off: number, len: number): string => b.toString('latin1', off, off + len);
const rw = (opcode: number, nsid: number, slba: number, nlb: number): SqeFields => ({ opcode, cid: 0, nsid, cdw10: slba, cdw12: nlb - 1 });
const u128 = (b: Buffer, off: number): bigint => b.readBigUInt64LE(off) + (b.readBigUInt64LE(off + 8) << 64n);

async function identify(cns: number, nsid = 0): Promise<Buffer> {
  const r = await a.identify(cns, nsid);
  expect(r.cqe.status).toBe(0);
  expect(r.data.length).toBe(4096);
  return r.data;
}

describe('Identify', () => {
  it('CNS 01h: controller data matches the subsystem, port and controller', async () => {
    const b = await identify(1);
    expect(ascii(b, 4, 20)).toBe('SN-ADMIN-01         ');
    expect(ascii(b, 24, 40)).toBe('nvmf-emu admin test' + ' '.repeat(21));
    expect(ascii(b, 64, 8)).toBe('FW1.2   ');
    expect(b[77]).toBe(8); // MDTS: 2^8 x 4 KiB = 1 MiB
    expect(b.readUInt16LE(78)).toBe(ctl.cntlid);
    expect(b.readUInt32LE(80)).toBe(0x00020000);
    expect(b.readUInt32LE(92)).toBe(1 << 8); // OAES: namespace attribute notices
    expect(b.readUInt32LE(96) & 1).toBe(1); // CTRATT: 128-bit host identifier
    expect(b[111]).toBe(1); // CNTRLTYPE: I/O controller
    expect(b.readUInt16LE(320)).toBe(10); // KAS: 100 ms units
    expect(b[512]).toBe(0x66);
    expect(b[513]).toBe(0x44);
    expect(b.readUInt16LE(514)).toBe(1024);
    expect(b.readUInt32LE(516)).toBe(1024); // NN
    expect(b.readUInt16LE(520)).toBe(0x01 | 0x04 | 0x08 | 0x80); // ONCS: Compare, DSM, Write Zeroes, Verify
    expect(b[525]).toBe(0x07); // VWC present, Flush to FFFFFFFFh supported
    expect(b.readUInt32LE(536)).toBe(0x00100001); // SGLS
    const nul = b.indexOf(0, 768);
    expect(b.toString('utf8', 768, nul)).toBe(SUBNQN);
    expect(b.subarray(nul, 1024).equals(Buffer.alloc(1024 - nul))).toBe(true);
    expect(b.readUInt32LE(1792)).toBe((64 + 16384) / 16); // IOCCSZ from the port's inline_data_size
    expect(b.readUInt32LE(1796)).toBe(1); // IORCSZ
    expect(b.readUInt16LE(1800)).toBe(0); // ICDOFF
    expect(b[1802]).toBe(0); // FCATT: dynamic controller model
    expect(b[1803]).toBe(1); // MSDBD
  });

  it('CNS 02h: active namespace list, ascending, above the given NSID', async () => {
    const ids = (b: Buffer): number[] => {
      const out: number[] = [];
      for (let o = 0; o < 4096 && b.readUInt32LE(o) !== 0; o += 4) out.push(b.readUInt32LE(o));
      return out;
    };
    expect(ids(await identify(2, 0))).toEqual([1, 3, 7]);
    expect(ids(await identify(2, 1))).toEqual([3, 7]);
    expect(ids(await identify(2, 3))).toEqual([7]);
    expect(ids(await identify(2, 7))).toEqual([]);
    expect(sc((await a.identify(2, 0xfffffffe)).cqe.status)).toEqual([0, 0x0b]);
  });

  it('CNS 00h: namespace sizes and LBA formats follow the emulation block', async () => {
    const n1 = await identify(0, 1);
    expect(n1.readBigUInt64LE(0)).toBe(BigInt((32 << 20) / 4096)); // NSZE
    expect(n1.readBigUInt64LE(8)).toBe(BigInt((32 << 20) / 4096)); // NCAP
    expect(n1[25]).toBe(1); // NLBAF: two formats, zero-based
    expect(n1[26] & 0x0f).toBe(1); // FLBAS: format 1 (4 KiB)
    expect(n1[128 + 2]).toBe(9); // LBAF0: 512 B
    expect(n1[128 + 4 + 2]).toBe(12); // LBAF1: 4 KiB
    expect(n1[33] & 0x07).toBe(1); // DLFEAT: deallocated blocks read as zeroes
    const n3 = await identify(0, 3);
    expect(n3.readBigUInt64LE(0)).toBe(BigInt((16 << 20) / 512));
    expect(n3[26] & 0x0f).toBe(0);
    expect(n3.subarray(104, 120).toString('hex')).toBe(NS3.nguid);
    expect(n3.subarray(120, 128).toString('hex')).toBe(NS3.eui64);
    // Derived identifiers are present and differ between namespaces.
    expect(n1.subarray(104, 120).equals(Buffer.alloc(16))).toBe(false);
    expect(n1.subarray(104, 120).equals(n3.subarray(104, 120))).toBe(false);
    // An allocated-but-inactive NSID returns zeroes; NSID 0 and NSIDs above NN are invalid.
    expect((await identify(0, 5)).equals(Buffer.alloc(4096))).toBe(true);
    expect(sc((await a.identify(0, 0)).cqe.status)).toEqual([0, 0x0b]);
    expect(sc((await a.identify(0, 2000)).cqe.status)).toEqual([0, 0x0b]);
  });

  it('CNS 00h: NUSE follows what was written (sparse namespace)', async () => {
    expect((await identify(0, 1)).readBigUInt64LE(16)).toBe(0n);
    expect((await q.exec(rw(NvmOpcode.Write, 1, 100, 1), { data: pattern(4096, 1) })).cqe.status).toBe(0);
    const nuse = (await identify(0, 1)).readBigUInt64LE(16);
    expect(nuse).toBeGreaterThan(0n);
    expect(nuse).toBeLessThanOrEqual(BigInt((32 << 20) / 4096));
  });

  it('CNS 03h: descriptor list EUI-64, NGUID, UUID, then CSI', async () => {
    const b = await identify(3, 3);
    expect(b.subarray(0, 4).toString('hex')).toBe('01080000');
    expect(b.subarray(4, 12).toString('hex')).toBe(NS3.eui64);
    expect(b.subarray(12, 16).toString('hex')).toBe('02100000');
    expect(b.subarray(16, 32).toString('hex')).toBe(NS3.nguid);
    expect(b.subarray(32, 36).toString('hex')).toBe('03100000');
    expect(b.subarray(36, 52).toString('hex')).toBe(NS3.uuid.replace(/-/g, ''));
    expect(b.subarray(52, 57).toString('hex')).toBe('0401000000'); // CSI: NVM
    expect(b.subarray(57).equals(Buffer.alloc(4096 - 57))).toBe(true);
    // Identify Namespace and the descriptor list agree for a derived namespace too.
    const d1 = await identify(3, 1);
    const n1 = await identify(0, 1);
    expect(d1.subarray(4, 12).equals(n1.subarray(120, 128))).toBe(true);
    expect(d1.subarray(16, 32).equals(n1.subarray(104, 120))).toBe(true);
    expect(sc((await a.identify(3, 5)).cqe.status)).toEqual([0, 0x0b]);
  });

  it('CNS 08h: I/O command set independent namespace data', async () => {
    const b = await identify(8, 1);
    expect(b[1]).toBe(1); // NMIC: shared
    expect(b[14]! & 1).toBe(1); // NSTAT: ready
    expect((await identify(8, 5)).equals(Buffer.alloc(4096))).toBe(true);
  });

  it('unknown CNS -> Invalid Field', async () => {
    expect(sc((await a.identify(0x42)).cqe.status)).toEqual([0, 0x02]);
  });
});

describe('log pages', () => {
  it('SMART / health: counters follow the host writes and reads of a namespace', async () => {
    const smart = async (nsid: number): Promise<Buffer> => {
      const r = await a.getLogPage(0x02, 512, { nsid });
      expect(r.cqe.status).toBe(0);
      return r.data;
    };
    const before = await smart(7);
    expect(before.readUInt16LE(1)).toBe(308); // composite temperature, kelvins
    expect(before[3]).toBe(100); // available spare
    expect(u128(before, 48)).toBe(0n);
    expect(u128(before, 80)).toBe(0n);
    const allBefore = await smart(0xffffffff);

    for (let i = 0; i < 3; i++) expect((await q.exec(rw(NvmOpcode.Write, 7, i * 128, 128), { data: pattern(65536, i) })).cqe.status).toBe(0);
    expect((await q.exec(rw(NvmOpcode.Write, 7, 4096, 2048), { data: pattern(1 << 20, 9) })).cqe.status).toBe(0);
    expect((await q.exec(rw(NvmOpcode.Read, 7, 4096, 2048), { readLength: 1 << 20 })).cqe.status).toBe(0);

    const after = await smart(7);
    // 3 x 64 KiB + 1 MiB = 2432 units of 512 bytes -> 3 data units (thousands, rounded up).
    expect(u128(after, 48)).toBe(3n);
    expect(u128(after, 80)).toBe(4n); // host write commands
    expect(u128(after, 32)).toBe(3n); // 2048 units read -> 3
    expect(u128(after, 64)).toBe(1n); // host read commands
    const allAfter = await smart(0xffffffff);
    expect(u128(allAfter, 80) - u128(allBefore, 80)).toBe(4n);
    expect(u128(allAfter, 64) - u128(allBefore, 64)).toBe(1n);
    // A namespace that is not active has no SMART page.
    expect(sc((await a.getLogPage(0x02, 512, { nsid: 5 })).cqe.status)).toEqual([0, 0x0b]);
  });

  it('SMART honours the log page offset', async () => {
    const whole = (await a.getLogPage(0x02, 512, { nsid: 7 })).data;
    const part = await a.getLogPage(0x02, 64, { nsid: 7, offset: 32 });
    expect(part.cqe.status).toBe(0);
    expect(part.data.equals(whole.subarray(32, 96))).toBe(true);
    expect(sc((await a.getLogPage(0x02, 64, { nsid: 7, offset: 2 })).cqe.status)).toEqual([0, 0x02]);
  });

  it('error information: a failed command leaves an entry (newest first) and SMART counts it', async () => {
    const read = await q.exec(rw(NvmOpcode.Read, 1, 1 << 20, 1), { readLength: 4096 });
    expect(sc(read.cqe.status)).toEqual([0, 0x80]);
    const bad = await a.exec({ opcode: 0x7e, cid: 0 });
    expect(sc(bad.cqe.status)).toEqual([0, 0x01]);
    const log = await a.getLogPage(0x01, 2 * 64);
    expect(log.cqe.status).toBe(0);
    const e0 = log.data.subarray(0, 64);
    const e1 = log.data.subarray(64, 128);
    // Newest: the admin Invalid Opcode.
    expect(e0.readUInt16LE(8)).toBe(0); // SQID
    expect(e0.readUInt16LE(10)).toBe(bad.cqe.cid);
    expect(e0.readUInt16LE(12)).toBe(((0x4000 | 0x01) << 1) & 0xffff); // status field, phase bit 0
    // Before it: the I/O LBA Out of Range.
    expect(e1.readUInt16LE(8)).toBe(1);
    expect(e1.readUInt16LE(10)).toBe(read.cqe.cid);
    expect(e1.readUInt16LE(12)).toBe(((0x4000 | 0x80) << 1) & 0xffff);
    expect(e1.readUInt32LE(24)).toBe(1); // NSID
    expect(e1[29]).toBe(3); // TRTYPE TCP
    expect(e0.readBigUInt64LE(0)).toBe(e1.readBigUInt64LE(0) + 1n); // error count increases
    const smart = (await a.getLogPage(0x02, 512, { nsid: 0xffffffff })).data;
    expect(u128(smart, 176)).toBe(e0.readBigUInt64LE(0)); // number of error information log entries
  });

  it('unknown log page -> Invalid Log Page (SCT 1, SC 09h)', async () => {
    expect(sc((await a.getLogPage(0x3f, 512)).cqe.status)).toEqual([1, 0x09]);
  });
});

describe('features', () => {
  it('Number of Queues (07h) reports what Set Features granted', async () => {
    const r = await a.getFeatures(0x07);
    expect(r.status).toBe(0);
    expect(r.dw0 >>> 0).toBe(1 | (1 << 16)); // 2 queues, zero-based
  });

  it('Volatile Write Cache (06h): enabled; Set Features changes it', async () => {
    expect((await a.getFeatures(0x06)).dw0).toBe(1);
    expect((await a.setFeatures(0x06, 0)).status).toBe(0);
    expect((await a.getFeatures(0x06)).dw0).toBe(0);
    expect((await a.getFeatures(0x06, { sel: 1 })).dw0).toBe(1); // default
    expect((await a.setFeatures(0x06, 1)).status).toBe(0);
  });

  it('Keep Alive Timer (0Fh) reports the Connect KATO; Set Features changes it', async () => {
    expect((await a.getFeatures(0x0f)).dw0).toBe(KATO);
    expect((await a.setFeatures(0x0f, 60_000)).status).toBe(0);
    expect((await a.getFeatures(0x0f)).dw0).toBe(60_000);
    expect((await a.setFeatures(0x0f, KATO)).status).toBe(0);
  });

  it('unknown feature -> Invalid Field', async () => {
    expect(sc((await a.getFeatures(0x7d)).status)).toEqual([0, 0x02]);
  });
});

describe('Asynchronous Event Request', () => {
  it('stays outstanding while other admin commands complete; the fifth is over the limit', async () => {
    const c = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN });
    const aer = { opcode: AdminOpcode.AsyncEventRequest, cid: 0 };
    const first = await c.admin.execWithin(aer, 200);
    expect(first).toBeNull(); // no completion: nothing happened
    expect((await c.admin.identify(1)).cqe.status).toBe(0);
    for (let i = 0; i < 3; i++) expect(await c.admin.execWithin(aer, 20)).toBeNull();
    // AERL is 3 (zero-based): a fifth concurrent AER is refused.
    const over = await c.admin.execWithin(aer, 2000);
    expect(over).not.toBeNull();
    expect(sc(over!.cqe.status)).toEqual([1, 0x05]);
    // Responses so far: Connect, Property Set (CC.EN), Identify, the refused AER. None for the
    // four outstanding AERs.
    await sleep(50);
    expect(c.admin.received.filter((p) => p.type === 0x05)).toHaveLength(4);
    await c.close();
  });

  it('unknown admin opcode -> Invalid Opcode', async () => {
    expect(sc((await a.exec({ opcode: 0x7c, cid: 0 })).cqe.status)).toEqual([0, 0x01]);
  });
});
