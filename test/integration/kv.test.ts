// Key-value namespaces end to end over real TCP with our initiator: both command layouts, every
// op and status, 16-byte keys, values up to MDTS, Identify / effects for CSI 01h, timing through
// the device engine, and the `nvmf-emu kv` CLI against the running daemon.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerKvCommand } from '../../src/cli/kv.js';
import { runCli } from '../helpers/cli.js';
import { NvmeHost } from '../../src/initiator/host.js';
import { Csi, IdentifyCns, LogPage, NvmOpcode } from '../../src/protocol/constants.js';
import { decodeIdentifyKvNamespace, KvOpcode, KvOption, kvSqeFields, KvVendorOpcode, type KvCommandSet } from '../../src/protocol/kv.js';
import { encodeSqe } from '../../src/protocol/sqe.js';
import { Status } from '../../src/protocol/status.js';
import { pattern } from '../helpers/pattern.js';
import { startTarget, type TestTarget } from './helpers/target.js';
import { statusOf } from '../helpers/net.js';

const SUBNQN = 'nqn.2024-01.io.nvmf-emu:kv-test';
const MiB = 1024 * 1024;
const VENDOR = 1; // command_set nvmevirt (CSI 0)
const NVMEKV = 2; // command_set nvme-kv (CSI 01h)
const SMALL = 3; // nvme-kv, 4 KiB: fills up
const SLOW = 4; // nvmevirt with a 40 ms index operation: proves delete/exist are timed
const ZB = 5; // nvmevirt reading CDW11[7:0] as length - 1, as NVMeVirt's code and Samsung's SDK

let t: TestTarget;
let host: NvmeHost;
const tmp = mkdtempSync(join(tmpdir(), 'kv-itest-'));

beforeAll(async () => {
  t = await startTarget({
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [SUBNQN] }],
    subsystems: [
      {
        nqn: SUBNQN,
        attr: { allow_any_host: 1 },
        namespaces: [
          { nsid: VENDOR, emulation: { type: 'kv', preset: 'kv-prototype', capacity: '64MiB' } },
          { nsid: NVMEKV, emulation: { type: 'kv', preset: 'kv-prototype', capacity: '64MiB', command_set: 'nvme-kv' } },
          { nsid: SMALL, emulation: { type: 'kv', capacity: '4KiB', command_set: 'nvme-kv' } },
          { nsid: SLOW, emulation: { type: 'kv', capacity: '1MiB', index_ns: 40_000_000 } },
          { nsid: ZB, emulation: { type: 'kv', capacity: '1MiB', vendor_key_length: 'zero-based' } },
        ],
      },
    ],
  });
  host = await NvmeHost.connect({ host: '127.0.0.1', port: t.port(), subnqn: SUBNQN, ioQueues: 2 });
});

afterAll(async () => {
  await host?.disconnect();
  await t?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const ns = (nsid: number) => t.daemon.target.subsystems.get(SUBNQN)!.namespaces.get(nsid)!;
const key = (s: string): Buffer => Buffer.from(s, 'latin1');
/** What the seed script passes: `0x$(echo -n "$CHUNK" | rev | xxd -p)`. */
const seedDword = (chunk: string): number => (chunk.length === 0 ? 0 : parseInt(Buffer.from([...chunk].reverse().join(''), 'latin1').toString('hex'), 16));
const sc = (status: number): number => status & 0x7ff;


describe('kv: NVMeVirt vendor opcodes on an NVM-identified namespace', () => {
  it("runs the seed script's store/retrieve: CDW10 = value bytes, CDW11 = key length, reversed 4-byte chunks in CDW12..15", async () => {
    for (const k of ['0f1e2d3c4b5a697', '0f1e2d3c4b5a6978']) {
      // 15 characters as the seed script (NVMeVirt's limit), then the full 16.
      const val = Buffer.from('3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b');
      const chunks = [k.slice(0, 4), k.slice(4, 8), k.slice(8, 12), k.slice(12)];
      const dws = { cdw10: val.length, cdw11: k.length, cdw12: seedDword(chunks[0]!), cdw13: seedDword(chunks[1]!), cdw14: seedDword(chunks[2]!), cdw15: seedDword(chunks[3]!) };
      const st = await host.ioCommand(1, { opcode: 0x81, nsid: VENDOR, ...dws }, { data: val });
      expect(st.cqe.status).toBe(0);
      const r = await host.ioCommand(1, { opcode: 0x90, nsid: VENDOR, ...dws }, { readLength: val.length });
      expect(r.cqe.status).toBe(0);
      expect(r.data!.toString()).toBe(val.toString());
      expect(r.cqe.dw0).toBe(val.length);
      // Our initiator encodes the same command.
      expect((await host.kvRetrieve(VENDOR, key(k))).value.toString()).toBe(val.toString());
    }
  });

  it('takes the value length from the transfer, not CDW10 (NVMeVirt reads it in dwords, scripts pass bytes)', async () => {
    const v = Buffer.from('twelve bytes');
    const f = kvSqeFields('nvmevirt', { opcode: KvVendorOpcode.Store, nsid: VENDOR, key: key('len'), cdw10: 3 }); // 3 dwords (NVMeVirt) or 3 bytes (scripts)? Neither: the transfer says 12
    expect((await host.ioCommand(1, encodeSqe({ ...f, cid: 0 }), { data: v })).cqe.status).toBe(0);
    const got = await host.kvRetrieve(VENDOR, key('len'));
    expect(got.value.toString()).toBe('twelve bytes');
  });

  it('delete, exist, append, idempotent store, size-only retrieve, and their statuses', async () => {
    await host.kvStore(VENDOR, key('k1'), Buffer.from('abc'));
    expect(await host.kvExists(VENDOR, key('k1'))).toBe(true);
    await host.kvStore(VENDOR, key('k1'), Buffer.from('def'), { append: true });
    expect((await host.kvRetrieve(VENDOR, key('k1'))).value.toString()).toBe('abcdef');
    expect(await statusOf(host.kvStore(VENDOR, key('k1'), Buffer.from('x'), { mustNotExist: true }))).toBe(0x380); // Samsung's key exists
    const sizeOnly = kvSqeFields('nvmevirt', { opcode: KvVendorOpcode.Retrieve, nsid: VENDOR, key: key('k1'), options: KvOption.VendorRetrieveSizeOnly });
    const so = await host.ioCommand(1, encodeSqe({ ...sizeOnly, cid: 0 }), { readLength: 64 });
    expect(so.cqe.status).toBe(0);
    expect(so.cqe.dw0).toBe(6);
    await host.kvDelete(VENDOR, key('k1'));
    expect(await host.kvExists(VENDOR, key('k1'))).toBe(false);
    // NVMeVirt's and Samsung's status for a missing key, exactly (their SDK compares it): 310h, no DNR.
    expect(await statusOf(host.kvRetrieve(VENDOR, key('k1')))).toBe(0x310);
    expect(Status.KvVendorKeyNotExist).toBe(0x310);
    // Delete of a missing key: Key Does Not Exist with the check-exist option, success without it.
    expect(await statusOf(host.kvDelete(VENDOR, key('k1')))).toBe(0x310);
    const plain = kvSqeFields('nvmevirt', { opcode: KvVendorOpcode.Delete, nsid: VENDOR, key: key('k1') });
    expect((await host.ioCommand(1, encodeSqe({ ...plain, cid: 0 }))).cqe.status).toBe(0);
  });

  it("rejects key lengths 0 and 17 with Samsung's key length invalid (303h); a 16-byte key is fine", async () => {
    for (const opcode of [KvVendorOpcode.Store, KvVendorOpcode.Retrieve, KvVendorOpcode.Delete, KvVendorOpcode.Exist]) {
      for (const kl of [0, 17]) {
        const f = kvSqeFields('nvmevirt', { opcode, nsid: VENDOR, key: key('0123456789abcdef'), keyLength: kl });
        const r = await host.ioCommand(1, encodeSqe({ ...f, cid: 0 }), opcode === KvVendorOpcode.Store ? { data: Buffer.from('v') } : undefined);
        expect(r.cqe.status).toBe(Status.KvVendorKeyLengthInvalid);
      }
    }
    expect(Status.KvVendorKeyLengthInvalid).toBe(0x303);
    await host.kvStore(VENDOR, key('0123456789abcdef'), Buffer.from('sixteen'));
    expect((await host.kvRetrieve(VENDOR, key('0123456789abcdef'))).value.toString()).toBe('sixteen');
    // Keys that differ only in the 16th byte are different keys.
    await host.kvStore(VENDOR, key('0123456789abcdeX'), Buffer.from('other'));
    expect((await host.kvRetrieve(VENDOR, key('0123456789abcdef'))).value.toString()).toBe('sixteen');
  });

  it('values up to MDTS (1 MiB, by R2T); a retrieve into a smaller buffer returns what fits and the full size', async () => {
    const big = pattern(MiB, 7);
    await host.kvStore(VENDOR, key('big'), big);
    const whole = await host.kvRetrieve(VENDOR, key('big'));
    expect(whole.size).toBe(MiB);
    expect(whole.value.equals(big)).toBe(true);
    const part = await host.kvRetrieve(VENDOR, key('big'), { bufferSize: 4096 });
    expect(part.size).toBe(MiB);
    expect(part.value.equals(big.subarray(0, 4096))).toBe(true);
    // Beyond MDTS the transport refuses the transfer.
    const f = kvSqeFields('nvmevirt', { opcode: KvVendorOpcode.Store, nsid: VENDOR, key: key('huge') });
    const r = await host.ioCommand(1, encodeSqe({ ...f, cid: 0 }), { data: Buffer.alloc(MiB + 4096) });
    expect(r.cqe.status).toBe(Status.DataSglLengthInvalid);
  });

  it('vendor_key_length zero-based: CDW11 = length - 1 (a 16-byte key is 15); the seed convention then stores key + NUL, as NVMeVirt', async () => {
    const zb = { zeroBasedKeyLength: true };
    await host.kvStore(ZB, key('0123456789abcdef'), Buffer.from('v16'), zb);
    expect((await host.kvRetrieve(ZB, key('0123456789abcdef'), zb)).value.toString()).toBe('v16');
    // The seed passes 15 for a 15-character key: read zero-based, that is 16 bytes, the 16th the NUL
    // left in CDW15's top byte: what NVMeVirt stores for it.
    const chunks = ['abcd', 'efgh', 'ijkl', 'mno'];
    const dws = { cdw11: 15, cdw12: seedDword(chunks[0]!), cdw13: seedDword(chunks[1]!), cdw14: seedDword(chunks[2]!), cdw15: seedDword(chunks[3]!) };
    expect((await host.ioCommand(1, { opcode: 0x81, nsid: ZB, ...dws }, { data: Buffer.from('seed') })).cqe.status).toBe(0);
    expect((await host.kvRetrieve(ZB, Buffer.from('abcdefghijklmno\0', 'latin1'), zb)).value.toString()).toBe('seed');
    expect(ns(ZB).kv!.list(Buffer.alloc(0)).map((k) => k.toString('latin1'))).toEqual(['0123456789abcdef', 'abcdefghijklmno\0']);
    // CDW11[7:0] = 16 is a 17-byte key here: refused (NVMeVirt overflows).
    const f = kvSqeFields('nvmevirt', { opcode: KvVendorOpcode.Exist, nsid: ZB, key: key('0123456789abcdef'), keyLength: 16 });
    expect((await host.ioCommand(1, encodeSqe({ ...f, cid: 0 }))).cqe.status).toBe(Status.KvVendorKeyLengthInvalid);
  });

  it("a full namespace answers Samsung's capacity status (312h)", async () => {
    expect(await statusOf(host.kvStore(SLOW, key('full'), Buffer.alloc(MiB)))).toBe(0x312);
    expect(await host.kvExists(SLOW, key('full'))).toBe(false);
  });

  it('batch (85h): stores and deletes in one command, in order; stops at the first failure', async () => {
    await host.kvStore(VENDOR, key('b-old'), Buffer.from('x'));
    const n = await host.kvBatch(VENDOR, [
      { key: key('b-1'), value: Buffer.from('one') },
      { key: key('b-2'), value: pattern(10_000, 5) },
      { key: key('b-old') },
    ]);
    expect(n).toBe(3);
    expect((await host.kvRetrieve(VENDOR, key('b-1'))).value.toString()).toBe('one');
    expect((await host.kvRetrieve(VENDOR, key('b-2'))).value.equals(pattern(10_000, 5))).toBe(true);
    expect(await host.kvExists(VENDOR, key('b-old'))).toBe(false);
    // An idempotent store of an existing key stops the batch: the first sub-command stays applied.
    const st = await statusOf(host.kvBatch(VENDOR, [{ key: key('b-3'), value: Buffer.from('3') }, { key: key('b-1'), value: Buffer.from('!'), mustNotExist: true }, { key: key('b-4'), value: Buffer.from('4') }]));
    expect(st).toBe(Status.KvVendorKeyExists);
    expect(await host.kvExists(VENDOR, key('b-3'))).toBe(true);
    expect(await host.kvExists(VENDOR, key('b-4'))).toBe(false);
    expect((await host.kvRetrieve(VENDOR, key('b-1'))).value.toString()).toBe('one');
    // A malformed batch (count beyond the payload) changes nothing.
    const bad = await host.ioCommand(1, { opcode: KvVendorOpcode.Batch, nsid: VENDOR, cdw11: 9 }, { data: Buffer.alloc(512) });
    expect(bad.cqe.status).toBe(Status.InvalidField);
  });

  it('iterates keys with a prefix (iterate request/read/close)', async () => {
    for (const k of ['it-c', 'it-a', 'it-b']) await host.kvStore(VENDOR, key(k), Buffer.from(k));
    expect((await host.kvList(VENDOR, { prefix: key('it-') })).map(String)).toEqual(['it-a', 'it-b', 'it-c']);
    expect((await host.kvList(VENDOR, { prefix: key('it-'), bufferSize: 16 })).map(String)).toEqual(['it-a', 'it-b', 'it-c']);
  });

  it('identifies as NVM (CSI 0): the block side reads zeroes, other NVM commands are refused', async () => {
    const d = await host.identify(IdentifyCns.NsDescriptors, { nsid: VENDOR });
    expect(csiOf(d)).toBe(Csi.Nvm);
    expect(await host.activeNamespaces()).toEqual([1, 2, 3, 4, 5]);
    // NUSE (in LBAs) follows the keys and values stored, and falls back when they are deleted.
    const nuse = async (): Promise<bigint> => (await host.identify(IdentifyCns.Namespace, { nsid: VENDOR })).readBigUInt64LE(16);
    const before = await nuse();
    await host.kvStore(VENDOR, key('nuse'), Buffer.alloc(100_000));
    expect((await nuse()) - before).toBeGreaterThanOrEqual(195n);
    await host.kvDelete(VENDOR, key('nuse'));
    expect(await nuse()).toBe(before);
    const data = await host.read(VENDOR, 0, 8);
    expect(data.every((b) => b === 0)).toBe(true);
    const w = await host.ioCommand(1, { opcode: NvmOpcode.Write, nsid: VENDOR, cdw12: 0 }, { data: Buffer.alloc(512) });
    expect(w.cqe.status).toBe(Status.InvalidOpcode);
    // The NVM effects log lists the vendor opcodes.
    const log = await host.getLogPage(LogPage.CommandEffects, 4096);
    expect(log.readUInt32LE(1024 + 0x81 * 4) & 3).toBe(3);
    expect(log.readUInt32LE(1024 + 0x90 * 4) & 3).toBe(1);
  });
});

describe('kv: NVMe Key Value Command Set (CSI 01h)', () => {
  const o = { commandSet: 'nvme-kv' as KvCommandSet };

  it('store / retrieve / exist / delete with a 16-byte key', async () => {
    const k = key('ABCDEFGHIJKLMNOP');
    await host.kvStore(NVMEKV, k, Buffer.from('hello'), o);
    expect(await host.kvExists(NVMEKV, k, o)).toBe(true);
    expect((await host.kvRetrieve(NVMEKV, k, o)).value.toString()).toBe('hello');
    await host.kvDelete(NVMEKV, k, o);
    expect(await host.kvExists(NVMEKV, k, o)).toBe(false);
    expect(sc(await statusOf(host.kvDelete(NVMEKV, k, o)))).toBe(sc(Status.KvKeyDoesNotExist));
    expect(sc(await statusOf(host.kvRetrieve(NVMEKV, k, o)))).toBe(sc(Status.KvKeyDoesNotExist));
    // The vendor opcodes mean nothing here.
    const r = await host.ioCommand(1, { opcode: KvVendorOpcode.Exist, nsid: NVMEKV, cdw11: 1 });
    expect(r.cqe.status).toBe(Status.InvalidOpcode);
  });

  it('store options: must exist, must not exist, append; both exist options at once is Invalid Field', async () => {
    const k = key('opt');
    expect(sc(await statusOf(host.kvStore(NVMEKV, k, Buffer.from('1'), { ...o, mustExist: true })))).toBe(sc(Status.KvKeyDoesNotExist));
    await host.kvStore(NVMEKV, k, Buffer.from('1'), { ...o, mustNotExist: true });
    expect(sc(await statusOf(host.kvStore(NVMEKV, k, Buffer.from('2'), { ...o, mustNotExist: true })))).toBe(sc(Status.KvKeyExists));
    await host.kvStore(NVMEKV, k, Buffer.from('3'), { ...o, mustExist: true });
    await host.kvStore(NVMEKV, k, Buffer.from('45'), { ...o, append: true });
    expect((await host.kvRetrieve(NVMEKV, k, o)).value.toString()).toBe('345');
    const both = kvSqeFields('nvme-kv', { opcode: KvOpcode.Store, nsid: NVMEKV, key: k, cdw10: 1, options: KvOption.MustExist | KvOption.MustNotExist });
    expect((await host.ioCommand(1, encodeSqe({ ...both, cid: 0 }), { data: Buffer.from('x') })).cqe.status).toBe(Status.InvalidField);
  });

  it('Invalid Key Size, Invalid Value Size; the host buffer size (CDW10) truncates a retrieve, dword 0 has the full size', async () => {
    for (const kl of [0, 17]) {
      const f = kvSqeFields('nvme-kv', { opcode: KvOpcode.Retrieve, nsid: NVMEKV, key: key('x'), keyLength: kl, cdw10: 16 });
      expect((await host.ioCommand(1, encodeSqe({ ...f, cid: 0 }), { readLength: 16 })).cqe.status).toBe(Status.KvInvalidKeySize);
      const st = kvSqeFields('nvme-kv', { opcode: KvOpcode.Store, nsid: NVMEKV, key: key('x'), keyLength: kl, cdw10: 1 });
      expect((await host.ioCommand(1, encodeSqe({ ...st, cid: 0 }), { data: Buffer.from('x') })).cqe.status, `store kl ${kl}`).toBe(Status.KvInvalidKeySize);
      for (const opcode of [KvOpcode.Delete, KvOpcode.Exist]) {
        const d = kvSqeFields('nvme-kv', { opcode, nsid: NVMEKV, key: key('x'), keyLength: kl });
        expect((await host.ioCommand(1, encodeSqe({ ...d, cid: 0 }))).cqe.status, `opcode ${opcode} kl ${kl}`).toBe(Status.KvInvalidKeySize);
      }
    }
    // List: key length 0 means "from the first key"; above 16 is invalid.
    const list = kvSqeFields('nvme-kv', { opcode: KvOpcode.List, nsid: NVMEKV, key: key('x'), keyLength: 17, cdw10: 64 });
    expect((await host.ioCommand(1, encodeSqe({ ...list, cid: 0 }), { readLength: 64 })).cqe.status).toBe(Status.KvInvalidKeySize);
    const tooBig = kvSqeFields('nvme-kv', { opcode: KvOpcode.Store, nsid: NVMEKV, key: key('v'), cdw10: MiB + 1 });
    expect((await host.ioCommand(1, encodeSqe({ ...tooBig, cid: 0 }), { data: Buffer.alloc(16) })).cqe.status).toBe(Status.KvInvalidValueSize);
    const v = pattern(10_000, 3);
    await host.kvStore(NVMEKV, key('trunc'), v, o);
    const f = kvSqeFields('nvme-kv', { opcode: KvOpcode.Retrieve, nsid: NVMEKV, key: key('trunc'), cdw10: 100 });
    const r = await host.ioCommand(1, encodeSqe({ ...f, cid: 0 }), { readLength: 4096 });
    expect(r.cqe.status).toBe(0);
    expect(r.cqe.dw0).toBe(10_000);
    expect(r.data!.subarray(0, 100).equals(v.subarray(0, 100))).toBe(true);
    expect(r.data!.subarray(100).every((b) => b === 0)).toBe(true);
    // A value of exactly MDTS.
    const big = pattern(MiB, 9);
    await host.kvStore(NVMEKV, key('mdts'), big, o);
    expect((await host.kvRetrieve(NVMEKV, key('mdts'), o)).value.equals(big)).toBe(true);
  });

  it('List returns keys in byte order from the given key, as many as fit', async () => {
    for (const k of ['l/b', 'l/a', 'l/c', 'l/aa']) await host.kvStore(NVMEKV, key(k), Buffer.from('v'), o);
    const all = await host.kvList(NVMEKV, { ...o, start: key('l/'), prefix: key('l/') });
    expect(all.map(String)).toEqual(['l/a', 'l/aa', 'l/b', 'l/c']);
    const f = kvSqeFields('nvme-kv', { opcode: KvOpcode.List, nsid: NVMEKV, key: key('l/aa'), cdw10: 20 });
    const r = await host.ioCommand(1, encodeSqe({ ...f, cid: 0 }), { readLength: 20 });
    expect(r.cqe.status).toBe(0);
    expect(r.cqe.dw0).toBe(2); // 4 + 8 + 8 bytes: two keys fit in 20
    expect(r.data!.readUInt32LE(0)).toBe(2);
    expect(r.data!.subarray(4, 10).toString('latin1')).toBe('\x04\x00l/aa');
    // Paging through a small buffer still visits every key once.
    expect((await host.kvList(NVMEKV, { ...o, start: key('l/'), prefix: key('l/'), bufferSize: 16 })).map(String)).toEqual(['l/a', 'l/aa', 'l/b', 'l/c']);
  });

  it('Identify: CSI 01h in the descriptors, KV namespace structure with capacity and utilisation, effects log, CSI lists', async () => {
    expect(csiOf(await host.identify(IdentifyCns.NsDescriptors, { nsid: NVMEKV }))).toBe(Csi.KeyValue);
    const before = decodeIdentifyKvNamespace(await host.identify(IdentifyCns.CsNamespace, { nsid: NVMEKV, csi: Csi.KeyValue }));
    expect(before.nsze).toBe(BigInt(64 * MiB));
    expect(before.formats).toEqual([{ maxKeyLength: 16, maxValueLength: MiB, maxKeys: 0 }]);
    await host.kvStore(NVMEKV, key('use'), Buffer.alloc(1000), o);
    const after = decodeIdentifyKvNamespace(await host.identify(IdentifyCns.CsNamespace, { nsid: NVMEKV, csi: Csi.KeyValue }));
    expect(after.nuse - before.nuse).toBe(1003n);
    await host.kvDelete(NVMEKV, key('use'), o);
    const reclaimed = decodeIdentifyKvNamespace(await host.identify(IdentifyCns.CsNamespace, { nsid: NVMEKV, csi: Csi.KeyValue }));
    expect(reclaimed.nuse).toBe(before.nuse);
    // Not a KV namespace / a KV namespace asked as NVM.
    const bad = await host.adminCommand({ opcode: 0x06, nsid: VENDOR, cdw10: IdentifyCns.CsNamespace, cdw11: Csi.KeyValue << 24 }, { readLength: 4096 });
    expect(bad.cqe.status).toBe(Status.InvalidField);
    expect((await host.identify(IdentifyCns.CsController, { csi: Csi.KeyValue })).every((b) => b === 0)).toBe(true);
    const list = await host.identify(IdentifyCns.CsActiveNsList, { csi: Csi.KeyValue });
    expect([list.readUInt32LE(0), list.readUInt32LE(4), list.readUInt32LE(8)]).toEqual([NVMEKV, SMALL, 0]);
    const sets = await host.identify(IdentifyCns.CommandSetCombinations);
    expect(sets.readBigUInt64LE(0)).toBe(7n); // NVM, KV and ZNS: every set the controller supports
    const log = await host.getLogPage(LogPage.CommandEffects, 4096, { csi: Csi.KeyValue });
    expect(log.readUInt32LE(1024 + KvOpcode.Store * 4)).toBe(3);
    expect(log.readUInt32LE(1024 + KvOpcode.Retrieve * 4)).toBe(1);
    expect(log.readUInt32LE(1024 + KvOpcode.List * 4)).toBe(1);
    expect(log.readUInt32LE(1024 + KvOpcode.Delete * 4)).toBe(3);
    expect(log.readUInt32LE(1024 + KvOpcode.Exist * 4)).toBe(1);
  });

  it('a full namespace answers Capacity Exceeded; deletes and overwrites give the space back', async () => {
    const so = { commandSet: 'nvme-kv' as KvCommandSet };
    await host.kvStore(SMALL, key('a'), Buffer.alloc(3000), so);
    expect(sc(await statusOf(host.kvStore(SMALL, key('b'), Buffer.alloc(2000), so)))).toBe(sc(Status.CapacityExceeded));
    await host.kvStore(SMALL, key('a'), Buffer.alloc(1000), so); // overwrite shrinks it
    await host.kvStore(SMALL, key('b'), Buffer.alloc(2000), so);
    await host.kvDelete(SMALL, key('a'), so);
    await host.kvDelete(SMALL, key('b'), so);
    for (let i = 0; i < 20; i++) {
      await host.kvStore(SMALL, key('c'), Buffer.alloc(4000), so);
      await host.kvDelete(SMALL, key('c'), so);
    }
    expect(ns(SMALL).kv!.stats()).toMatchObject({ keys: 0, usedBytes: 0, capacityBytes: 4096 });
  });
});

describe('kv: timing and statistics', () => {
  it('every KV command goes through the device engine: delete and exist take the modelled index time', async () => {
    await host.kvStore(SLOW, key('s'), Buffer.from('v'));
    // Exist, delete, list (each iterate command looks the index up) and a retrieve of a missing key.
    const ops = [() => host.kvExists(SLOW, key('s')), () => host.kvList(SLOW), () => host.kvDelete(SLOW, key('s')), () => host.kvRetrieve(SLOW, key('s')).catch(() => null)];
    for (const op of ops) {
      const t0 = performance.now();
      await op();
      expect(performance.now() - t0).toBeGreaterThanOrEqual(39);
    }
    const c = ns(VENDOR).counters();
    expect(c.hostWrittenBytes).toBeGreaterThan(MiB);
    expect(c.hostReadBytes).toBeGreaterThan(MiB);
  });

  it('Namespace.kv.stats(): keys, bytes, capacity, commands by op', async () => {
    const s = ns(NVMEKV).kv!.stats();
    expect(Object.keys(s)).toEqual(['keys', 'usedBytes', 'capacityBytes', 'commands']);
    expect(Object.keys(s.commands)).toEqual(['store', 'retrieve', 'delete', 'exist', 'list']);
    expect(s.capacityBytes).toBe(64 * MiB);
    expect(s.commands.store).toBeGreaterThan(5);
    expect(s.commands.list).toBeGreaterThan(0);
    expect(ns(1).kv).not.toBeNull();
  });
});

describe('nvmf-emu kv CLI', () => {
  const cli = (...args: string[]): Promise<{ out: Buffer; err: string; code: number }> =>
    runCli(registerKvCommand, ['kv', ...args, '--addr', '127.0.0.1', '--port', String(t.port()), '--nqn', SUBNQN]);

  for (const [nsid, label] of [[VENDOR, 'nvmevirt'], [NVMEKV, 'nvme-kv']] as const) {
    it(`put, get, exists, list, del on the ${label} namespace (layout detected from the CSI)`, async () => {
      const n = ['--nsid', String(nsid)];
      expect((await cli('put', 'cli-key-16-bytes', 'hello from the CLI', ...n)).code).toBe(0);
      const got = await cli('get', 'cli-key-16-bytes', ...n);
      expect(got.out.toString()).toBe('hello from the CLI');
      const file = join(tmp, `v${nsid}`);
      const bin = pattern(200_000, nsid);
      writeFileSync(file, bin);
      expect((await cli('put', 'cli-file', '--file', file, ...n)).code).toBe(0);
      expect((await cli('get', 'cli-file', ...n)).out.equals(bin)).toBe(true);
      expect(await cli('exists', 'cli-file', ...n)).toMatchObject({ code: 0 });
      expect((await cli('list', '--prefix', 'cli-', ...n)).out.toString()).toBe('cli-file\ncli-key-16-bytes\n');
      expect((await cli('del', 'cli-file', ...n)).code).toBe(0);
      const ex = await cli('exists', 'cli-file', ...n);
      expect(ex.out.toString()).toBe('no\n');
      expect(ex.code).toBe(1);
      const del = await cli('del', 'cli-file', ...n);
      expect(del.code).toBe(1);
      expect(del.err).toMatch(nsid === VENDOR ? /KvVendorKeyNotExist \(status 0x310\)/ : /KvKeyDoesNotExist/);
      expect((await cli('get', '6869', '--hex', ...n)).code).toBe(1);
    });
  }

  it('refuses a key longer than 16 bytes before connecting', async () => {
    await expect(cli('get', '0123456789abcdefX')).rejects.toThrow(/1\.\.16 bytes/);
  });
});

function csiOf(d: Buffer): number {
  for (let off = 0; off + 4 <= d.length && d[off] !== 0; off += 4 + d[off + 1]!) if (d[off] === 4) return d[off + 4]!;
  return -1;
}
