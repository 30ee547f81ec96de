import { describe, expect, it } from 'vitest';
import { AdminOpcode, FabricsType, Property, SglId } from '../../src/protocol/constants.js';
import {
  Cc,
  ccEnableValue,
  CONNECT_DATA_SIZE,
  Csts,
  decodeConnectData,
  encodeCap,
  encodeConnectData,
  encodeConnectSqe,
  encodePropertyGetSqe,
  encodePropertySetSqe,
} from '../../src/protocol/fabrics.js';
import { decodeCap } from '../../src/protocol/host-codecs.js';

describe('CAP', () => {
  const base = { mqes: 0, cqr: false, timeout500ms: 0, cssNvm: false, cssIoSets: false, cssAdminOnly: false, mpsmin: 0, mpsmax: 0 };

  it('places each field at its bit position', () => {
    expect(encodeCap({ ...base, mqes: 0xffff })).toBe(0xffffn);
    expect(encodeCap({ ...base, cqr: true })).toBe(1n << 16n);
    expect(encodeCap({ ...base, timeout500ms: 0xff })).toBe(0xffn << 24n);
    expect(encodeCap({ ...base, cssNvm: true })).toBe(1n << 37n);
    expect(encodeCap({ ...base, cssIoSets: true })).toBe(1n << 43n);
    expect(encodeCap({ ...base, cssAdminOnly: true })).toBe(1n << 44n);
    expect(encodeCap({ ...base, mpsmin: 0xf })).toBe(0xfn << 48n);
    expect(encodeCap({ ...base, mpsmax: 0xf })).toBe(0xfn << 52n);
  });

  it('encodes a typical CAP value byte-exactly and decodes it back', () => {
    const f = { ...base, mqes: 0x7f, cqr: true, timeout500ms: 0x1e, cssNvm: true, cssIoSets: true };
    const v = encodeCap(f);
    expect(v).toBe(0x0000_0820_1e01_007fn);
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    expect(b.toString('hex')).toBe('7f00011e20080000');
    expect(decodeCap(v)).toEqual(f);
  });
});

describe('CC / CSTS', () => {
  it('ccEnableValue: EN, CSS at 6:4, IOSQES 6 at 19:16, IOCQES 4 at 23:20', () => {
    expect(ccEnableValue(0)).toBe(0x00460001);
    expect(ccEnableValue(6)).toBe(0x00460061);
    const cc = ccEnableValue(6) | (1 << 14);
    expect(Cc.en(cc)).toBe(true);
    expect(Cc.css(cc)).toBe(6);
    expect(Cc.mps(cc)).toBe(0);
    expect(Cc.ams(cc)).toBe(0);
    expect(Cc.shn(cc)).toBe(1);
    expect(Cc.iosqes(cc)).toBe(6);
    expect(Cc.iocqes(cc)).toBe(4);
    expect(Cc.mps(0xf << 7)).toBe(0xf);
    expect(Cc.ams(7 << 11)).toBe(7);
  });

  it('CSTS bits', () => {
    expect(Csts).toEqual({ RDY: 1, CFS: 2, SHST_OCCURRING: 4, SHST_COMPLETE: 8 });
  });
});

describe('Connect', () => {
  it('SQE layout: opcode 7Fh, FCTYPE @4, in-capsule SGL for 1024 bytes, RECFMT @40, QID @42, SQSIZE @44, CATTR @46, KATO @48', () => {
    const b = encodeConnectSqe({ cid: 0x0102, qid: 3, sqsize: 127, kato: 5000, recfmt: 0, cattr: 0x04 });
    expect(b.length).toBe(64);
    expect(b.toString('hex')).toBe(
      '7f' + '40' + '0201' + '01' + '000000' + '0000000000000000' + '0000000000000000' +
        '0000000000000000' + '00040000' + '000000' + '01' + // SGL: offset 0, length 1024, type 01h
        '0000' + '0300' + '7f00' + '04' + '00' + '88130000' + '00'.repeat(12),
    );
    expect(b[4]).toBe(FabricsType.Connect);
    expect(b[39]).toBe(SglId.DataBlockOffset);
  });

  it('data layout: HOSTID @0, CNTLID @16, SUBNQN @256, HOSTNQN @512, NUL padded', () => {
    const hostid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const d = encodeConnectData({ hostid, cntlid: 0xffff, subnqn: 'nqn.2024-01.io.example:sub', hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:x' });
    expect(d.length).toBe(CONNECT_DATA_SIZE);
    expect(d.subarray(0, 16).equals(hostid)).toBe(true);
    expect(d.subarray(16, 18).toString('hex')).toBe('ffff');
    expect(d.subarray(18, 256).every((x) => x === 0)).toBe(true);
    expect(d.toString('latin1', 256, 256 + 26)).toBe('nqn.2024-01.io.example:sub');
    expect(d.subarray(256 + 26, 512).every((x) => x === 0)).toBe(true);
    expect(d.toString('latin1', 512, 512 + 33)).toBe('nqn.2014-08.org.nvmexpress:uuid:x');
    expect(d.subarray(512 + 33).every((x) => x === 0)).toBe(true);
    expect(decodeConnectData(d)).toEqual({ hostid, cntlid: 0xffff, subnqn: 'nqn.2024-01.io.example:sub', hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:x' });
  });

  it('an NQN of 255+ bytes is cut to leave a terminating NUL', () => {
    const long = 'n'.repeat(300);
    const d = encodeConnectData({ hostid: Buffer.alloc(16), cntlid: 1, subnqn: long, hostnqn: long });
    expect(d[256 + 254]).toBe(0x6e);
    expect(d[256 + 255]).toBe(0);
    expect(decodeConnectData(d).subnqn.length).toBe(255);
  });
});

describe('Property Get / Set', () => {
  it('Get: FCTYPE 04h, ATTRIB @40 (1 = 8 bytes), OFST @44, null SGL', () => {
    const b = encodePropertyGetSqe(9, Property.CAP, true);
    expect(b[0]).toBe(AdminOpcode.Fabrics);
    expect(b.readUInt16LE(2)).toBe(9);
    expect(b[4]).toBe(FabricsType.PropertyGet);
    expect(b[39]).toBe(SglId.TransportDataBlock);
    expect(b.readUInt32LE(32)).toBe(0);
    expect(b[40]).toBe(1);
    expect(b.readUInt32LE(44)).toBe(0);
    expect(encodePropertyGetSqe(0, Property.CSTS, false).subarray(40, 48).toString('hex')).toBe('000000001c000000');
  });

  it('Set: FCTYPE 00h, VALUE @48 (8 bytes)', () => {
    const b = encodePropertySetSqe(1, Property.CC, 0x00460001n, false);
    expect(b[4]).toBe(FabricsType.PropertySet);
    expect(b.subarray(40, 56).toString('hex')).toBe('00000000' + '14000000' + '0100460000000000');
  });
});
