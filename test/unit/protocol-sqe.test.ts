import { describe, expect, it } from 'vitest';
import { SglId } from '../../src/protocol/constants.js';
import { cdw, CQE_SIZE, decodeCqe, encodeSqe, SQE_SIZE, SqeOff, writeCqe } from '../../src/protocol/sqe.js';
import { DNR, Status, statusDnr, statusName, statusSc, statusSct } from '../../src/protocol/status.js';

describe('SQE', () => {
  it('encodes every field at its offset', () => {
    const b = encodeSqe({
      opcode: 0x02,
      cid: 0xabcd,
      nsid: 0x11223344,
      cdw2: 0x01010101,
      cdw3: 0x02020202,
      sgl: { address: 0x0807060504030201n, length: 0x1000, type: SglId.TransportDataBlock },
      cdw10: 0xa0a0a0a0,
      cdw11: 0xb1,
      cdw12: 0xc2,
      cdw13: 0xd3,
      cdw14: 0xe4,
      cdw15: 0xf5,
    });
    expect(b.length).toBe(SQE_SIZE);
    expect(b.toString('hex')).toBe(
      '02' + '40' + 'cdab' + '44332211' + // opcode, flags (PSDT=01b), CID @2, NSID @4
        '01010101' + '02020202' + // cdw2 @8, cdw3 @12
        '0000000000000000' + // MPTR @16
        '0102030405060708' + '00100000' + '000000' + '5a' + // SGL: address @24, length @32, type @39
        'a0a0a0a0' + 'b1000000' + 'c2000000' + 'd3000000' + 'e4000000' + 'f5000000',
    );
    expect(b[SqeOff.sglType]).toBe(0x5a);
    expect(b[39]).toBe(0x5a);
    expect(b.readUInt16LE(2)).toBe(0xabcd);
    expect(b.readUInt32LE(4)).toBe(0x11223344);
    expect(cdw(b, 10)).toBe(0xa0a0a0a0);
    expect(cdw(b, 15)).toBe(0xf5);
  });

  it('defaults: PSDT SGL flags, zeros elsewhere; can encode into a larger buffer at an offset', () => {
    const out = Buffer.alloc(100, 0xff);
    encodeSqe({ opcode: 0x18, cid: 1 }, out, 20);
    expect(out.subarray(0, 20).every((x) => x === 0xff)).toBe(true);
    expect(out.subarray(84).every((x) => x === 0xff)).toBe(true);
    const s = out.subarray(20, 84);
    expect(s[0]).toBe(0x18);
    expect(s[1]).toBe(0x40);
    expect(s.readUInt16LE(2)).toBe(1);
    expect(s.subarray(4).every((x) => x === 0)).toBe(true);
    expect(encodeSqe({ opcode: 1, cid: 0, flags: 0 })[1]).toBe(0);
  });

  it('accepts negative-looking 32-bit values (e.g. bit 31 set)', () => {
    const b = encodeSqe({ opcode: 1, cid: 0, cdw12: (1 << 31) | 7 });
    expect(b.readUInt32LE(48)).toBe(0x80000007);
  });
});

describe('CQE', () => {
  it('puts the status above the phase bit with DNR at bit 15 of the status field', () => {
    const b = Buffer.alloc(CQE_SIZE);
    writeCqe(b, 0, 0x11223344, 0x55667788, 0x0009, 0x0003, 0xbeef, Status.InvalidField);
    // InvalidField = SCT 0, SC 02h, DNR: 15-bit 0x4002 -> field 0x8004
    expect(b.toString('hex')).toBe('44332211' + '88776655' + '0900' + '0300' + 'efbe' + '0480');
    expect(b.readUInt16LE(14) & 0x8000).toBe(0x8000);
    expect(b.readUInt16LE(14) & 1).toBe(0);
    expect(decodeCqe(b)).toEqual({ dw0: 0x11223344, dw1: 0x55667788, sqhd: 9, sqid: 3, cid: 0xbeef, status: Status.InvalidField });
  });

  it('encodes SCT at field bits 11:9 and SC at 8:1', () => {
    const b = Buffer.alloc(16);
    writeCqe(b, 0, 0, 0, 0, 0, 0, Status.CompareFailure); // SCT 2, SC 85h, DNR
    expect(b.readUInt16LE(14)).toBe((1 << 15) | (2 << 9) | (0x85 << 1));
    writeCqe(b, 0, 0, 0, 0, 0, 0, Status.TransientTransportError); // SCT 0, SC 22h, no DNR
    expect(b.readUInt16LE(14)).toBe(0x22 << 1);
  });

  it('decode ignores the phase bit and reads at an offset', () => {
    const b = Buffer.alloc(40);
    writeCqe(b, 24, 1, 2, 3, 4, 5, Status.LbaOutOfRange);
    b[24 + 14]! |= 1; // phase
    expect(decodeCqe(b, 24)).toEqual({ dw0: 1, dw1: 2, sqhd: 3, sqid: 4, cid: 5, status: Status.LbaOutOfRange });
  });

  it('round-trips every named status', () => {
    const b = Buffer.alloc(16);
    for (const v of Object.values(Status)) {
      writeCqe(b, 0, 0, 0, 0, 0, 0, v);
      expect(decodeCqe(b).status).toBe(v);
    }
  });
});

describe('status helpers', () => {
  it('splits SCT / SC / DNR and names statuses', () => {
    expect(statusSct(Status.InvalidQueueId)).toBe(1);
    expect(statusSc(Status.InvalidQueueId)).toBe(1);
    expect(statusDnr(Status.InvalidQueueId)).toBe(true);
    expect(statusDnr(Status.DataTransferError)).toBe(false);
    expect(DNR).toBe(0x4000);
    expect(statusName(Status.InvalidField)).toBe('InvalidField');
    expect(statusName(Status.InvalidField & ~DNR)).toBe('InvalidField');
    expect(statusName(0)).toBe('Success');
    expect(statusName((7 << 8) | 0x55)).toBe('sct=7 sc=0x55');
  });
});
