import { describe, expect, it } from 'vitest';
import { PduFlag, PduType, TermFes } from '../../src/protocol/constants.js';
import {
  decodeDataHeader,
  decodeICReq,
  decodeICResp,
  decodeTermReq,
  encodeICReq,
  encodeICResp,
  encodeTermReq,
  readCommonHeader,
  sealHeaderDigest,
  writeCapsuleCmdHeader,
  writeCapsuleRespHeader,
  writeCommonHeader,
  writeDataHeader,
} from '../../src/protocol/pdu.js';

/** Independent bitwise CRC32C, so digests are not checked against themselves. */
function refCrc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
const le32 = (v: number): string => Buffer.from([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]).toString('hex');
const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
const zeros = (n: number): string => '00'.repeat(n);

describe('common header', () => {
  it('writes type, flags, hlen, pdo and little-endian plen', () => {
    const b = Buffer.alloc(8);
    writeCommonHeader(b, 0, 0x07, 0x0c, 24, 28, 0x01020304);
    expect(b.toString('hex')).toBe('070c181c04030201');
    expect(readCommonHeader(b)).toEqual({ type: 7, flags: 0x0c, hlen: 24, pdo: 28, plen: 0x01020304 });
  });
});

describe('ICReq / ICResp', () => {
  it('encodes ICReq byte-exactly (PFV 0, HPDA 0, HDGST only, MAXR2T 0)', () => {
    const b = encodeICReq({ pfv: 0, hpda: 0, hdgst: true, ddgst: false, maxr2t: 0 });
    expect(b.length).toBe(128);
    expect(b.toString('hex')).toBe('0000800080000000' + '0000' + '00' + '01' + '00000000' + zeros(112));
  });

  it('encodes ICReq DGST bits and MAXR2T', () => {
    const b = encodeICReq({ pfv: 0, hpda: 3, hdgst: true, ddgst: true, maxr2t: 0x01020304 });
    expect(b.subarray(8, 16).toString('hex')).toBe('0000' + '03' + '03' + '04030201');
    expect(decodeICReq(b)).toEqual({ pfv: 0, hpda: 3, hdgst: true, ddgst: true, maxr2t: 0x01020304 });
    expect(decodeICReq(encodeICReq({ pfv: 0, hpda: 0, hdgst: false, ddgst: true, maxr2t: 0 }))).toMatchObject({ hdgst: false, ddgst: true });
  });

  it('encodes ICResp byte-exactly (CPDA 1, both digests, MAXH2CDATA 128 KiB)', () => {
    const b = encodeICResp({ pfv: 0, cpda: 1, hdgst: true, ddgst: true, maxh2cdata: 0x20000 });
    expect(b.toString('hex')).toBe('0100800080000000' + '0000' + '01' + '03' + '00000200' + zeros(112));
  });

  it('decodes a hand-written ICResp', () => {
    const b = Buffer.concat([hex('01 00 80 00 80 00 00 00 | 00 00 | 00 | 02 | 00 40 00 00'), Buffer.alloc(112)]);
    expect(decodeICResp(b)).toEqual({ pfv: 0, cpda: 0, hdgst: false, ddgst: true, maxh2cdata: 0x4000 });
  });
});

describe('CapsuleResp header', () => {
  it('without header digest: 24-byte header, PLEN 24', () => {
    const b = Buffer.alloc(28, 0xee);
    expect(writeCapsuleRespHeader(b, 0, false)).toBe(24);
    expect(b.subarray(0, 8).toString('hex')).toBe('0500180018000000');
  });

  it('with header digest: HDGSTF, PLEN 28, digest sealed over the 24 header bytes', () => {
    const b = Buffer.alloc(32);
    expect(writeCapsuleRespHeader(b, 4, true)).toBe(28);
    expect(b.subarray(4, 12).toString('hex')).toBe('050118001c000000');
    b.writeUInt16LE(0x1234, 4 + 8 + 12); // a CID in the CQE
    sealHeaderDigest(b, 4, 24);
    expect(b.readUInt32LE(28)).toBe(refCrc32c(b.subarray(4, 28)));
  });
});

describe('data headers', () => {
  it('C2HData without digests', () => {
    const b = Buffer.alloc(24);
    const n = writeDataHeader(b, 0, PduType.C2HData, PduFlag.LAST_PDU | PduFlag.SUCCESS, 0x1234, 0, 0x1000, 0x200, 0x200, false, false);
    expect(n).toBe(24);
    expect(b.toString('hex')).toBe(
      '07' + '0c' + '18' + '18' + '18020000' + // CH: PLEN 24 + 512
        '3412' + '0000' + '00100000' + '00020000' + '00000000',
    );
    expect(decodeDataHeader(b)).toEqual({ cccid: 0x1234, ttag: 0, offset: 0x1000, length: 0x200 });
  });

  it('C2HData with header and data digests', () => {
    const b = Buffer.alloc(28);
    const n = writeDataHeader(b, 0, PduType.C2HData, PduFlag.LAST_PDU, 7, 0, 0, 512, 512, true, true);
    expect(n).toBe(28);
    const header = hex('07 07 18 1c 20 02 00 00 | 07 00 00 00 | 00 00 00 00 | 00 02 00 00 | 00 00 00 00');
    expect(b.subarray(0, 24).toString('hex')).toBe(header.toString('hex'));
    expect(b.subarray(24, 28).toString('hex')).toBe(le32(refCrc32c(header)));
  });

  it('H2CData with TTAG and header digest only', () => {
    const b = Buffer.alloc(28);
    writeDataHeader(b, 0, PduType.H2CData, PduFlag.LAST_PDU, 0x0102, 0xbeef, 0x2000, 0x1000, 0x1000, true, false);
    const header = hex('06 05 18 1c 1c 10 00 00 | 02 01 ef be | 00 20 00 00 | 00 10 00 00 | 00 00 00 00');
    expect(b.subarray(0, 24).equals(header)).toBe(true);
    expect(b.readUInt32LE(24)).toBe(refCrc32c(header));
  });

  it('R2T (no data): PDO 0, no DDGSTF even with data digests on', () => {
    const b = Buffer.alloc(28);
    const n = writeDataHeader(b, 0, PduType.R2T, 0, 5, 7, 0, 8192, 0, true, true);
    expect(n).toBe(28);
    const header = hex('09 01 18 00 1c 00 00 00 | 05 00 07 00 | 00 00 00 00 | 00 20 00 00 | 00 00 00 00');
    expect(b.subarray(0, 24).equals(header)).toBe(true);
    expect(b.readUInt32LE(24)).toBe(refCrc32c(header));
  });
});

describe('CapsuleCmd header', () => {
  it('copies the SQE at byte 8 and sizes PLEN for in-capsule data and digests', () => {
    const sqe = Buffer.alloc(64);
    for (let i = 0; i < 64; i++) sqe[i] = i + 1;
    const b = Buffer.alloc(76);
    expect(writeCapsuleCmdHeader(b, 0, sqe, 512, true, true)).toBe(76);
    // PLEN = 72 + 4 + 512 + 4 = 592 = 0x250, PDO = 76
    expect(b.subarray(0, 8).toString('hex')).toBe('0403484c50020000');
    expect(b.subarray(8, 72).equals(sqe)).toBe(true);
    expect(b.readUInt32LE(72)).toBe(refCrc32c(b.subarray(0, 72)));
  });

  it('no data: PDO 0, no DDGSTF', () => {
    const b = Buffer.alloc(72);
    expect(writeCapsuleCmdHeader(b, 0, Buffer.alloc(64), 0, false, true)).toBe(72);
    expect(b.subarray(0, 8).toString('hex')).toBe('0400480048000000');
  });
});

describe('TermReq', () => {
  it('encodes FES at 8, FEI at 10 and echoes at most 128 bytes of the offending header', () => {
    const offending = Buffer.from(Array.from({ length: 200 }, (_, i) => i & 0xff));
    const b = encodeTermReq(PduType.C2HTermReq, TermFes.PduSequenceError, 4, offending);
    expect(b.length).toBe(24 + 128);
    expect(b.subarray(0, 24).toString('hex')).toBe('030018' + '00' + '98000000' + '0200' + '04000000' + zeros(10));
    expect(b.subarray(24).equals(offending.subarray(0, 128))).toBe(true);
    const t = decodeTermReq(b);
    expect(t).toMatchObject({ type: PduType.C2HTermReq, fes: 2, fei: 4 });
    expect(t.data.equals(offending.subarray(0, 128))).toBe(true);
  });

  it('keeps a short offending header whole and allows none', () => {
    const short = encodeTermReq(PduType.H2CTermReq, TermFes.HeaderDigestError, 0xdeadbeef, Buffer.alloc(28, 0xaa));
    expect(short.length).toBe(52);
    expect(short.subarray(0, 16).toString('hex')).toBe('0200180034000000' + '0300' + 'efbeadde' + '0000');
    const none = encodeTermReq(PduType.C2HTermReq, TermFes.InvalidHeaderField, 2, null);
    expect(none.toString('hex')).toBe('0300180018000000' + '0100' + '02000000' + zeros(10));
    expect(decodeTermReq(none).data.length).toBe(0);
  });
});
