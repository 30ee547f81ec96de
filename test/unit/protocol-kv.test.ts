import { describe, expect, it } from 'vitest';
import {
  decodeKvBatch,
  encodeKvBatch,
  KV_BATCH_HEAD_SIZE,
  decodeIdentifyKvNamespace,
  decodeIterRead,
  decodeKvCommand,
  decodeKvList,
  encodeIdentifyKvNamespace,
  encodeIterRead,
  encodeKvList,
  KvOpcode,
  KvOption,
  kvSqeFields,
  KvVendorOpcode,
} from '../../src/protocol/kv.js';
import { encodeSqe } from '../../src/protocol/sqe.js';
import { Status, statusName } from '../../src/protocol/status.js';

/** What the seed's script passes for a 4-character chunk: `0x$(echo -n abcd | rev | xxd -p)`. */
const seedDword = (chunk: string): number => parseInt(Buffer.from([...chunk].reverse().join(''), 'latin1').toString('hex'), 16);

describe('KV command layouts (src/protocol/kv.ts)', () => {
  it('vendor layout: the seed script’s CDW12..15 carry the key with byte 0 in the low byte of CDW12', () => {
    const key = 'abcdefghijklmno'; // 15 characters, as the seed's
    const sqe = encodeSqe({
      opcode: 0x81,
      cid: 7,
      nsid: 1,
      cdw10: 36,
      cdw11: key.length,
      cdw12: seedDword('abcd'),
      cdw13: seedDword('efgh'),
      cdw14: seedDword('ijkl'),
      cdw15: seedDword('mno'),
    });
    expect(seedDword('abcd')).toBe(0x64636261);
    expect(sqe.subarray(48, 64).toString('hex')).toBe(Buffer.from('abcdefghijklmno\0', 'latin1').toString('hex'));
    const c = decodeKvCommand(sqe, 'nvmevirt');
    expect(c).toMatchObject({ opcode: 0x81, keyLength: 15, cdw10: 36, options: 0 });
    expect(c.key.toString('latin1')).toBe(key);
  });

  it('vendor layout: a 16-byte key uses all four dwords; kvSqeFields encodes the same bytes', () => {
    const key = Buffer.from('0123456789abcdef');
    const f = kvSqeFields('nvmevirt', { opcode: KvVendorOpcode.Retrieve, nsid: 1, key, cdw10: 100, options: KvOption.VendorRetrieveSizeOnly });
    expect(f).toEqual({
      opcode: 0x90,
      nsid: 1,
      cdw2: 0,
      cdw3: 0,
      cdw10: 100,
      cdw11: 0x210,
      cdw12: 0x33323130,
      cdw13: 0x37363534,
      cdw14: 0x62613938,
      cdw15: 0x66656463,
    });
    const sqe = encodeSqe({ ...f, cid: 1 });
    const c = decodeKvCommand(sqe, 'nvmevirt');
    expect(c.key.equals(key)).toBe(true);
    expect(c.keyLength).toBe(16);
    expect(c.options).toBe(KvOption.VendorRetrieveSizeOnly);
  });

  it('NVMe KV layout: key in CDW2, CDW3, CDW14, CDW15; key length and options in CDW11', () => {
    const key = Buffer.from('0123456789abcdef');
    const f = kvSqeFields('nvme-kv', { opcode: KvOpcode.Store, nsid: 2, key, cdw10: 4096, options: KvOption.MustNotExist | KvOption.Append });
    const sqe = encodeSqe({ ...f, cid: 9 });
    expect(sqe.readUInt32LE(8)).toBe(0x33323130); // CDW2
    expect(sqe.readUInt32LE(12)).toBe(0x37363534); // CDW3
    expect(sqe.readUInt32LE(48)).toBe(0); // CDW12
    expect(sqe.readUInt32LE(52)).toBe(0); // CDW13
    expect(sqe.readUInt32LE(56)).toBe(0x62613938); // CDW14
    expect(sqe.readUInt32LE(60)).toBe(0x66656463); // CDW15
    expect(sqe.readUInt32LE(40)).toBe(4096); // CDW10 value size
    expect(sqe.readUInt32LE(44)).toBe(0x0a10); // CDW11: bit 9 must-not-exist, bit 11 append, KL 16
    const c = decodeKvCommand(sqe, 'nvme-kv');
    expect(c.key.equals(key)).toBe(true);
    expect(c.options).toBe(KvOption.MustNotExist | KvOption.Append);
  });

  it('zero-based key length (NVMeVirt code, Samsung SDK): CDW11[7:0] = length - 1', () => {
    const key = Buffer.from('0123456789abcdef');
    const f = kvSqeFields('nvmevirt', { opcode: KvVendorOpcode.Store, nsid: 1, key, zeroBasedKeyLength: true });
    expect(f.cdw11).toBe(15);
    const sqe = encodeSqe({ ...f, cid: 1 });
    expect(decodeKvCommand(sqe, 'nvmevirt', true).key.equals(key)).toBe(true);
    // Read as a byte count, the same command names a 15-byte key.
    expect(decodeKvCommand(sqe, 'nvmevirt').key.toString()).toBe('0123456789abcde');
  });

  it('a key length beyond 16 decodes as stated (the handler rejects it) with the 16 key bytes', () => {
    const sqe = encodeSqe({ opcode: 0x02, cid: 1, cdw11: 17 });
    const c = decodeKvCommand(sqe, 'nvme-kv');
    expect(c.keyLength).toBe(17);
    expect(c.key.length).toBe(16);
    expect(() => kvSqeFields('nvme-kv', { opcode: 1, nsid: 1, key: Buffer.alloc(17) })).toThrow(/at most 16/);
  });

  it('List data: count, then 2-byte length + key, each entry padded to 4 bytes', () => {
    const keys = ['a', 'bcd', 'efghij'].map((k) => Buffer.from(k));
    const { data, count } = encodeKvList(keys, 64);
    expect(count).toBe(3);
    expect(data.toString('hex')).toBe(
      '03000000' + '0100' + '61' + '00' + '0300' + '626364' + '000000' + '0600' + '65666768696a',
    );
    expect(data.length).toBe(24);
    expect(decodeKvList(data).map((k) => k.toString())).toEqual(['a', 'bcd', 'efghij']);
    // Only whole entries that fit: 4 + 4 + 8 = 16 bytes holds two keys.
    const small = encodeKvList(keys, 19);
    expect(small.count).toBe(2);
    expect(small.data.length).toBe(16);
    expect(small.data.readUInt32LE(0)).toBe(2);
    expect(encodeKvList(keys, 0).data.length).toBe(0);
  });

  it('iterate read data: count, then 4-byte length + key padded to 4 bytes', () => {
    const { data, count } = encodeIterRead([Buffer.from('xy'), Buffer.from('12345')], 100);
    expect(count).toBe(2);
    expect(data.toString('hex')).toBe('02000000' + '02000000' + '78790000' + '05000000' + '3132333435000000');
    expect(decodeIterRead(data).map((k) => k.toString())).toEqual(['xy', '12345']);
  });

  it('KV Identify Namespace (CNS 05h, CSI 01h) field offsets', () => {
    const nguid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const eui64 = Buffer.from('0102030405060708', 'hex');
    const b = encodeIdentifyKvNamespace({
      nsze: 1n << 30n,
      nuse: 12345n,
      nsfeat: 0,
      nmic: 1,
      novg: 0,
      anagrpid: 0,
      formats: [{ maxKeyLength: 16, maxValueLength: 1 << 20, maxKeys: 0 }],
      nguid,
      eui64,
    });
    expect(b.length).toBe(4096);
    expect(b.readBigUInt64LE(0)).toBe(1n << 30n);
    expect(b.readBigUInt64LE(16)).toBe(12345n);
    expect(b[25]).toBe(0); // NKVF zero-based: one format
    expect(b[26]).toBe(1); // NMIC
    expect(b.subarray(48, 64).equals(nguid)).toBe(true);
    expect(b.subarray(64, 72).equals(eui64)).toBe(true);
    expect(b.readUInt16LE(72)).toBe(16); // KVF0.KML
    expect(b.readUInt32LE(76)).toBe(1 << 20); // KVF0.VML
    expect(b.readUInt32LE(80)).toBe(0); // KVF0.MNK
    expect(b.subarray(88).every((x) => x === 0)).toBe(true);
    expect(decodeIdentifyKvNamespace(b)).toEqual({ nsze: 1n << 30n, nuse: 12345n, formats: [{ maxKeyLength: 16, maxValueLength: 1 << 20, maxKeys: 0 }] });
  });

  it('KV statuses are generic (SCT 0) 85h..89h with DNR', () => {
    expect(Status.KvInvalidValueSize).toBe(0x4085);
    expect(Status.KvInvalidKeySize).toBe(0x4086);
    expect(Status.KvKeyDoesNotExist).toBe(0x4087);
    expect(Status.KvUnrecoveredError).toBe(0x4088);
    expect(Status.KvKeyExists).toBe(0x4089);
    expect(statusName(Status.KvKeyDoesNotExist)).toBe('KvKeyDoesNotExist');
  });
});

describe('vendor batch payload (85h)', () => {
  it("Samsung's layout: 512-byte head of 16-byte attributes, then per sub-command 64 bytes, key and value each padded to 64", () => {
    const b = encodeKvBatch([
      { opcode: 0x81, key: Buffer.from('k1'), value: Buffer.from('hello'), option: 0x02 },
      { opcode: 0xa1, key: Buffer.from('gone'), value: Buffer.alloc(0), option: 0 },
    ]);
    expect(KV_BATCH_HEAD_SIZE).toBe(512);
    expect(b.length).toBe(512 + (64 + 64 + 64) + (64 + 64 + 0));
    expect(b.subarray(0, 16).toString('hex')).toBe('81020000' + '05000000' + '02000000' + '00000000');
    expect(b.subarray(16, 32).toString('hex')).toBe('a1040000' + '00000000' + '00000000' + '00000000');
    expect(b.subarray(32, 512).every((x) => x === 0)).toBe(true);
    expect(b.subarray(512, 576).every((x) => x === 0)).toBe(true); // sub-command header
    expect(b.subarray(576, 578).toString()).toBe('k1');
    expect(b.subarray(640, 645).toString()).toBe('hello');
    expect(b.subarray(704 + 64, 704 + 68).toString()).toBe('gone');
    const d = decodeKvBatch(b, 2)!;
    expect(d.map((e) => [e.opcode, e.key.toString(), e.value.toString(), e.option])).toEqual([
      [0x81, 'k1', 'hello', 2],
      [0xa1, 'gone', '', 0],
    ]);
    expect(decodeKvBatch(b.subarray(0, 600), 2)).toBeNull();
    expect(decodeKvBatch(b, 0)).toBeNull();
    expect(decodeKvBatch(b, 9)).toBeNull();
    expect(() => encodeKvBatch([])).toThrow(/1\.\.8/);
  });
});

describe('keyAfter (List paging in the initiator)', () => {
  it('is the next key in byte order', async () => {
    const { keyAfter } = await import('../../src/initiator/host.js');
    expect(keyAfter(Buffer.from('ab'))!.toString('hex')).toBe('616200');
    const k16 = Buffer.from('0123456789abcdef');
    expect(keyAfter(k16)!.toString()).toBe('0123456789abcdeg');
    expect(keyAfter(Buffer.concat([Buffer.from('0123456789abcd'), Buffer.from([0x41, 0xff])]))!.toString()).toBe('0123456789abcdB');
    expect(keyAfter(Buffer.alloc(16, 0xff))).toBeNull();
  });
});
