// Identify data structures byte by byte: expected bytes are written out by hand (offsets and hex
// from NVMe Base 2.0 5.17.2 / NVM Command Set 1.0 4.1.5), never produced by the encoder.
import { describe, expect, it } from 'vitest';
import {
  encodeIdentifyController,
  encodeIdentifyCsIndependentNs,
  encodeIdentifyNamespace,
  encodeNsDescriptors,
  encodeNsList,
  type IdentifyControllerFields,
  type IdentifyNamespaceFields,
} from '../../src/protocol/identify.js';

const hex = (b: Buffer, off: number, len: number): string => b.subarray(off, off + len).toString('hex');
const spaces = (n: number): string => '20'.repeat(n);
const zeros = (n: number): string => '00'.repeat(n);
const asciiHex = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
/** True when every byte of [from, to) is zero. */
const zeroRange = (b: Buffer, from: number, to: number): boolean => b.subarray(from, to).every((x) => x === 0);

function ctrlFields(over: Partial<IdentifyControllerFields> = {}): IdentifyControllerFields {
  return {
    vid: 0x1b36,
    ssvid: 0x1af4,
    serial: 'SN-0001',
    model: 'nvmf-emu model',
    firmware: 'FW1',
    rab: 6,
    ieeeOui: 0x0050c2,
    cmic: 0x02,
    mdts: 8,
    cntlid: 0x1234,
    version: 0x00020000,
    oaes: 0x80000100,
    ctratt: 0x00000001,
    cntrltype: 1,
    oacs: 0,
    acl: 3,
    aerl: 3,
    frmw: 0x03,
    lpa: 0x07,
    elpe: 63,
    wctemp: 0x0157,
    cctemp: 0x0175,
    kas: 10,
    sqes: 0x66,
    cqes: 0x44,
    maxcmd: 1024,
    nn: 0x00000400,
    oncs: 0x008d,
    fuses: 0,
    fna: 0,
    vwc: 0x07,
    sgls: 0x00100001,
    mnan: 0,
    subnqn: 'nqn.2024-01.io.nvmf-emu:unit',
    ioccsz: 516,
    iorcsz: 1,
    icdoff: 0,
    fcatt: 0,
    msdbd: 1,
    ps0MaxPowerCw: 900,
    ...over,
  };
}

describe('Identify Controller (CNS 01h)', () => {
  const b = encodeIdentifyController(ctrlFields());

  it('is 4096 bytes', () => {
    expect(b.length).toBe(4096);
  });

  it('VID/SSVID at 0/2; SN at 4 (20 bytes), MN at 24 (40), FR at 64 (8), space padded ASCII', () => {
    expect(hex(b, 0, 4)).toBe('361bf41a');
    expect(hex(b, 4, 20)).toBe(asciiHex('SN-0001') + spaces(13));
    expect(hex(b, 24, 40)).toBe(asciiHex('nvmf-emu model') + spaces(26));
    expect(hex(b, 64, 8)).toBe(asciiHex('FW1') + spaces(5));
  });

  it('RAB 72, IEEE 73..75 (LSB first), CMIC 76, MDTS 77, CNTLID 78, VER 80', () => {
    expect(hex(b, 72, 12)).toBe('06' + 'c25000' + '02' + '08' + '3412' + '00000200');
  });

  it('OAES 92, CTRATT 96, CNTRLTYPE 111', () => {
    expect(hex(b, 92, 4)).toBe('00010080');
    expect(hex(b, 96, 4)).toBe('01000000');
    expect(b[111]).toBe(0x01);
    expect(zeroRange(b, 100, 111)).toBe(true);
  });

  it('ACL/AERL/FRMW/LPA/ELPE at 258..262, WCTEMP 266, CCTEMP 268, KAS 320', () => {
    expect(hex(b, 256, 8)).toBe('0000' + '03' + '03' + '03' + '07' + '3f' + '00');
    expect(hex(b, 266, 4)).toBe('5701' + '7501');
    expect(hex(b, 320, 2)).toBe('0a00');
  });

  it('SQES 512, CQES 513, MAXCMD 514, NN 516, ONCS 520, VWC 525, SGLS 536', () => {
    expect(hex(b, 512, 8)).toBe('66' + '44' + '0004' + '00040000');
    expect(hex(b, 520, 6)).toBe('8d00' + '0000' + '00' + '07');
    expect(hex(b, 536, 4)).toBe('01001000');
  });

  it('SUBNQN at 768, NUL padded to 256 bytes', () => {
    const nqn = 'nqn.2024-01.io.nvmf-emu:unit';
    expect(hex(b, 768, nqn.length)).toBe(asciiHex(nqn));
    expect(zeroRange(b, 768 + nqn.length, 1024)).toBe(true);
  });

  it('IOCCSZ 1792, IORCSZ 1796, ICDOFF 1800, FCATT 1802, MSDBD 1803', () => {
    expect(hex(b, 1792, 12)).toBe('04020000' + '01000000' + '0000' + '00' + '01');
  });

  it('PSD0 maximum power at 2048 (centiwatts)', () => {
    expect(hex(b, 2048, 2)).toBe('8403');
  });

  it('everything not named above is zero', () => {
    const set = [
      [0, 80 + 4], [92, 100], [111, 112], [256, 264], [266, 270], [320, 322], [512, 526], [536, 540], [768, 768 + 28], [1792, 1804], [2048, 2050],
    ] as const;
    const copy = Buffer.from(b);
    for (const [f, t] of set) copy.fill(0, f, t);
    expect(copy.equals(Buffer.alloc(4096))).toBe(true);
  });

  it('long strings are cut at the field size; an empty one is all spaces', () => {
    const c = encodeIdentifyController(ctrlFields({ serial: 'S'.repeat(25), model: '', firmware: '123456789' }));
    expect(hex(c, 4, 20)).toBe('53'.repeat(20));
    expect(hex(c, 24, 40)).toBe(spaces(40));
    expect(hex(c, 64, 8)).toBe(asciiHex('12345678'));
    expect(c[72]).toBe(6); // RAB untouched by the long firmware string
  });

  it('32-bit fields with bit 31 set are written unsigned', () => {
    const c = encodeIdentifyController(ctrlFields({ oaes: 1 << 31, sgls: 0xffffffff, nn: 0xfffffffe }));
    expect(hex(c, 92, 4)).toBe('00000080');
    expect(hex(c, 536, 4)).toBe('ffffffff');
    expect(hex(c, 516, 4)).toBe('feffffff');
  });
});

function nsFields(over: Partial<IdentifyNamespaceFields> = {}): IdentifyNamespaceFields {
  return {
    nsze: 0x0102030405n,
    ncap: 0x0102030405n,
    nuse: 0x40n,
    nsfeat: 0x11,
    flbas: 1,
    lbaFormats: [
      { ms: 0, lbads: 9, rp: 1 },
      { ms: 8, lbads: 12, rp: 0 },
    ],
    nmic: 1,
    dlfeat: 0x09,
    nvmcapBytes: 0x8000000n,
    npwg: 8,
    npwa: 8,
    npdg: 8,
    npda: 8,
    nows: 8,
    anagrpid: 0,
    nguid: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
    eui64: Buffer.from('0123456789abcdef', 'hex'),
    ...over,
  };
}

describe('Identify Namespace (CNS 00h)', () => {
  const b = encodeIdentifyNamespace(nsFields());

  it('NSZE 0, NCAP 8, NUSE 16 (64-bit LE)', () => {
    expect(hex(b, 0, 24)).toBe('0504030201000000' + '0504030201000000' + '4000000000000000');
  });

  it('NSFEAT 24, NLBAF 25 (zero-based), FLBAS 26, NMIC 30, DLFEAT 33', () => {
    expect(hex(b, 24, 3)).toBe('11' + '01' + '01');
    expect(b[30]).toBe(1);
    expect(b[33]).toBe(0x09);
  });

  it('NVMCAP 48, NPWG..NOWS 64..73 zero-based', () => {
    expect(hex(b, 48, 16)).toBe('0000000800000000' + zeros(8));
    expect(hex(b, 64, 10)).toBe('0700'.repeat(5));
  });

  it('NGUID at 104, EUI64 at 120', () => {
    expect(hex(b, 104, 16)).toBe('00112233445566778899aabbccddeeff');
    expect(hex(b, 120, 8)).toBe('0123456789abcdef');
  });

  it('LBAF list at 128: MS (16 bits), LBADS in byte 2, RP in byte 3', () => {
    expect(hex(b, 128, 8)).toBe('0000' + '09' + '01' + '0800' + '0c' + '00');
    expect(zeroRange(b, 136, 4096)).toBe(true);
  });

  it('a single format gives NLBAF 0; preferred granularities of 0 stay 0', () => {
    const c = encodeIdentifyNamespace(nsFields({ lbaFormats: [{ ms: 0, lbads: 12, rp: 2 }], flbas: 0, npwg: 0, npwa: 0, npdg: 0, npda: 0, nows: 0 }));
    expect(c[25]).toBe(0);
    expect(c[26]).toBe(0);
    expect(hex(c, 64, 10)).toBe(zeros(10));
    expect(hex(c, 128, 4)).toBe('0000' + '0c' + '02');
  });
});

describe('Namespace Identification Descriptor list (CNS 03h)', () => {
  const eui64 = Buffer.from('0123456789abcdef', 'hex');
  const nguid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const uuid = Buffer.from('0f1e2d3c4b5a49788695a4b3c2d1e0ff', 'hex');

  it('each descriptor: NIDT, NIDL, 2 reserved bytes, value; CSI last; zero terminated', () => {
    const b = encodeNsDescriptors({ eui64, nguid, uuid, csi: 0 });
    expect(b.length).toBe(4096);
    expect(hex(b, 0, 12)).toBe('01080000' + '0123456789abcdef');
    expect(hex(b, 12, 20)).toBe('02100000' + '00112233445566778899aabbccddeeff');
    expect(hex(b, 32, 20)).toBe('03100000' + '0f1e2d3c4b5a49788695a4b3c2d1e0ff');
    expect(hex(b, 52, 5)).toBe('04010000' + '00');
    expect(zeroRange(b, 57, 4096)).toBe(true);
  });

  it('absent identifiers are left out; the CSI descriptor is always there', () => {
    const b = encodeNsDescriptors({ nguid, csi: 2 });
    expect(hex(b, 0, 25)).toBe('02100000' + '00112233445566778899aabbccddeeff' + '04010000' + '02');
    expect(zeroRange(b, 25, 4096)).toBe(true);
    const only = encodeNsDescriptors({ csi: 0 });
    expect(hex(only, 0, 5)).toBe('0401000000');
  });
});

describe('Active Namespace ID list (CNS 02h)', () => {
  it('lists the NSIDs greater than the given one, ascending, zero terminated', () => {
    const b = encodeNsList([1, 3, 7, 10, 0x12345678], 3);
    expect(b.length).toBe(4096);
    expect(hex(b, 0, 16)).toBe('07000000' + '0a000000' + '78563412' + '00000000');
    expect(zeroRange(b, 12, 4096)).toBe(true);
  });

  it('NSID 0 lists all; an NSID at or above the last lists none', () => {
    expect(hex(encodeNsList([2, 5], 0), 0, 12)).toBe('02000000' + '05000000' + '00000000');
    expect(encodeNsList([2, 5], 5).equals(Buffer.alloc(4096))).toBe(true);
  });

  it('holds at most 1024 entries', () => {
    const ids = Array.from({ length: 1100 }, (_, i) => i + 1);
    const b = encodeNsList(ids, 0);
    expect(b.length).toBe(4096);
    expect(b.readUInt32LE(0)).toBe(1);
    expect(b.readUInt32LE(4092)).toBe(1024);
  });
});

describe('I/O Command Set Independent Identify Namespace (CNS 08h)', () => {
  it('NSFEAT 0, NMIC 1, ANAGRPID 4, NSTAT 14', () => {
    const b = encodeIdentifyCsIndependentNs({ nsfeat: 0x11, nmic: 1, anagrpid: 0x01020304, ready: true });
    expect(hex(b, 0, 15)).toBe('11' + '01' + '0000' + '04030201' + zeros(6) + '01');
    expect(zeroRange(b, 15, 4096)).toBe(true);
    expect(encodeIdentifyCsIndependentNs({ nsfeat: 0, nmic: 0, anagrpid: 0, ready: false }).equals(Buffer.alloc(4096))).toBe(true);
  });
});
