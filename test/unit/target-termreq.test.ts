// C2HTermReq as the target builds it. NVMe/TCP limits a termination request PDU to 152 bytes
// in total (24-byte header + at most 128 bytes of the offending PDU header): Linux
// (NVME_TCP_MAX_C2HTERM_PLEN 152, and hosts drop longer ones as malformed), SPDK
// (SPDK_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE 128) and FreeBSD all use that limit.
import { describe, expect, it } from 'vitest';
import { PduType, TermFes } from '../../src/protocol/constants.js';
import { encodeTermReq } from '../../src/protocol/pdu.js';

describe('C2HTermReq encoding', () => {
  it('24-byte header: type 03h, HLEN 24, PDO 0, PLEN, FES at 8, FEI at 10, reserved zero', () => {
    const off = Buffer.from('0400480048000000', 'hex');
    const b = encodeTermReq(PduType.C2HTermReq, TermFes.InvalidHeaderField, 2, off);
    expect(b.toString('hex')).toBe('03' + '00' + '18' + '00' + '20000000' + '0100' + '02000000' + '00'.repeat(10) + '0400480048000000');
  });

  it('echoes a 128-byte header (an ICReq) whole: PLEN 152', () => {
    const icreq = Buffer.alloc(128, 0x11);
    const b = encodeTermReq(PduType.C2HTermReq, TermFes.InvalidHeaderField, 8, icreq);
    expect(b.length).toBe(152);
    expect(b.readUInt32LE(4)).toBe(152);
    expect(b.subarray(24).equals(icreq)).toBe(true);
  });

  it('never exceeds the 152-byte PDU limit', () => {
    const big = Buffer.from(Array.from({ length: 200 }, (_, i) => i & 0xff));
    const b = encodeTermReq(PduType.C2HTermReq, TermFes.PduSequenceError, 0, big);
    expect(b.readUInt32LE(4)).toBeLessThanOrEqual(152);
    expect(b.length).toBe(152);
    expect(b.subarray(24).equals(big.subarray(0, 128))).toBe(true);
  });
});
