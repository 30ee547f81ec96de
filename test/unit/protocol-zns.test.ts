// ZNS structures byte by byte: expected bytes are written out by hand from the Zoned Namespace
// Command Set 1.1 layouts (Identify ZNS controller/namespace, zone descriptor, report header,
// Zone Management Send/Receive dwords, Changed Zone List), never produced by the encoder.
import { describe, expect, it } from 'vitest';
import { Status, statusSc, statusSct } from '../../src/protocol/status.js';
import {
  decodeChangedZoneList,
  decodeIdentifyZnsNamespace,
  decodeZoneMgmtRecv,
  decodeZoneMgmtSend,
  decodeZoneReport,
  encodeChangedZoneList,
  encodeIdentifyZnsController,
  encodeIdentifyZnsNamespace,
  encodeZoneMgmtRecvCdws,
  encodeZoneMgmtSendCdws,
  readZoneDescriptor,
  writeReportHeader,
  writeZoneDescriptor,
  ZoneState,
} from '../../src/protocol/zns.js';

const hex = (b: Buffer, off: number, len: number): string => b.subarray(off, off + len).toString('hex');
const zeroRange = (b: Buffer, from: number, to: number): boolean => b.subarray(from, to).every((x) => x === 0);

describe('Identify ZNS', () => {
  it('controller (CNS 06h, CSI 02h): ZASL in byte 0, the rest reserved', () => {
    const b = encodeIdentifyZnsController({ zasl: 6 });
    expect(b.length).toBe(4096);
    expect(b[0]).toBe(0x06);
    expect(zeroRange(b, 1, 4096)).toBe(true);
  });

  it('namespace (CNS 05h, CSI 02h): ZOC, OZCS, MAR, MOR, RRL, FRL, LBAFE at 2816', () => {
    const b = encodeIdentifyZnsNamespace({
      zoc: 0,
      ozcs: 1,
      mar: 13,
      mor: 0xffffffff,
      rrl: 0x01020304,
      frl: 0x0a0b0c0d,
      lbafe: [
        { zsze: 0x8000n, zdes: 0 },
        { zsze: 0x1000n, zdes: 2 },
      ],
    });
    expect(hex(b, 0, 2)).toBe('0000'); // ZOC
    expect(hex(b, 2, 2)).toBe('0100'); // OZCS: RAZB
    expect(hex(b, 4, 4)).toBe('0d000000'); // MAR, 0's based
    expect(hex(b, 8, 4)).toBe('ffffffff'); // MOR: no limit
    expect(hex(b, 12, 4)).toBe('04030201');
    expect(hex(b, 16, 4)).toBe('0d0c0b0a');
    expect(zeroRange(b, 20, 2816)).toBe(true);
    expect(hex(b, 2816, 16)).toBe('0080000000000000' + '00' + '00'.repeat(7));
    expect(hex(b, 2832, 16)).toBe('0010000000000000' + '02' + '00'.repeat(7));
    expect(zeroRange(b, 2848, 4096)).toBe(true);
    expect(decodeIdentifyZnsNamespace(b)).toMatchObject({ mar: 13, mor: 0xffffffff, lbafe: [{ zsze: 0x8000n, zdes: 0 }, { zsze: 0x1000n, zdes: 2 }] });
  });
});

describe('zone descriptor and report header', () => {
  it('descriptor: ZT byte 0 low nibble, ZS byte 1 high nibble, ZA, ZAI, ZCAP@8, ZSLBA@16, WP@24', () => {
    const b = Buffer.alloc(64, 0xaa);
    writeZoneDescriptor(b, 0, { zt: 2, zs: ZoneState.ImplicitlyOpened, za: 0x80, zai: 0, zcap: 0x7800, zslba: 0x10000, wp: 0x10010 });
    expect(hex(b, 0, 8)).toBe('0220800000000000');
    expect(hex(b, 8, 8)).toBe('0078000000000000');
    expect(hex(b, 16, 8)).toBe('0000010000000000');
    expect(hex(b, 24, 8)).toBe('1000010000000000');
    expect(zeroRange(b, 32, 64)).toBe(true);
    expect(readZoneDescriptor(b, 0)).toEqual({ zt: 2, zs: 2, za: 0x80, zai: 0, zcap: 0x7800, zslba: 0x10000, wp: 0x10010 });
  });

  it('each state code sits in the high nibble of byte 1', () => {
    const b = Buffer.alloc(64);
    const want: [number, string][] = [
      [ZoneState.Empty, '10'],
      [ZoneState.ImplicitlyOpened, '20'],
      [ZoneState.ExplicitlyOpened, '30'],
      [ZoneState.Closed, '40'],
      [ZoneState.ReadOnly, 'd0'],
      [ZoneState.Full, 'e0'],
      [ZoneState.Offline, 'f0'],
    ];
    for (const [zs, byte] of want) {
      writeZoneDescriptor(b, 0, { zt: 2, zs, za: 0, zai: 0, zcap: 0, zslba: 0, wp: 0 });
      expect(hex(b, 1, 1)).toBe(byte);
    }
  });

  it('report header: NZ as 64-bit little endian, then 56 reserved bytes; decode stops at what fits', () => {
    const b = Buffer.alloc(64 + 2 * 64, 0xff);
    writeReportHeader(b, 0, 5);
    expect(hex(b, 0, 8)).toBe('0500000000000000');
    expect(zeroRange(b, 8, 64)).toBe(true);
    writeZoneDescriptor(b, 64, { zt: 2, zs: 1, za: 0, zai: 0, zcap: 8, zslba: 0, wp: 0 });
    writeZoneDescriptor(b, 128, { zt: 2, zs: 0xe, za: 0, zai: 0, zcap: 8, zslba: 8, wp: 16 });
    const r = decodeZoneReport(b);
    expect(r.nrZones).toBe(5);
    expect(r.zones.map((z) => z.zslba)).toEqual([0, 8]);
  });
});

describe('Zone Management command dwords', () => {
  it('Send: SLBA in CDW10/11, ZSA in CDW13 bits 7:0, Select All bit 8', () => {
    const c = encodeZoneMgmtSendCdws({ slba: 0x1_0000_8000, action: 0x04, selectAll: true });
    expect(c).toEqual({ cdw10: 0x8000, cdw11: 1, cdw13: 0x104 });
    expect(decodeZoneMgmtSend(c.cdw10, c.cdw11, c.cdw13)).toEqual({ slba: 0x1_0000_8000, action: 4, selectAll: true, zsaso: false });
  });

  it('Receive: NUMD 0\'s based dwords in CDW12, ZRA bits 7:0, ZRASF 15:8, Partial bit 16', () => {
    const c = encodeZoneMgmtRecvCdws({ slba: 64, bytes: 4096, action: 1, filter: 5, partial: true });
    expect(c).toEqual({ cdw10: 64, cdw11: 0, cdw12: 1023, cdw13: 0x10501 });
    expect(decodeZoneMgmtRecv(c.cdw10, c.cdw11, c.cdw12, c.cdw13)).toEqual({ slba: 64, bytes: 4096, action: 1, filter: 5, partial: true });
  });
});

describe('Changed Zone List log page (BFh)', () => {
  it('count in bytes 0-1, 6 reserved, then 8-byte zone identifiers (ZSLBA)', () => {
    const b = encodeChangedZoneList([0x40, 0x1_0000_0000]);
    expect(b.length).toBe(4096);
    expect(hex(b, 0, 8)).toBe('0200000000000000');
    expect(hex(b, 8, 8)).toBe('4000000000000000');
    expect(hex(b, 16, 8)).toBe('0000000001000000');
    expect(zeroRange(b, 24, 4096)).toBe(true);
    expect(decodeChangedZoneList(b)).toEqual({ overflow: false, zslbas: [0x40, 0x1_0000_0000] });
  });

  it('more than 511 zones: count FFFFh and no list', () => {
    const b = encodeChangedZoneList(Array.from({ length: 512 }, (_, i) => i * 8));
    expect(hex(b, 0, 2)).toBe('ffff');
    expect(zeroRange(b, 2, 4096)).toBe(true);
  });
});

describe('ZNS statuses (command specific, B8h..BFh)', () => {
  it.each([
    ['ZoneBoundaryError', 0xb8],
    ['ZoneIsFull', 0xb9],
    ['ZoneIsReadOnly', 0xba],
    ['ZoneIsOffline', 0xbb],
    ['ZoneInvalidWrite', 0xbc],
    ['TooManyActiveZones', 0xbd],
    ['TooManyOpenZones', 0xbe],
    ['InvalidZoneStateTransition', 0xbf],
  ] as const)('%s = SCT 1, SC %i, DNR', (name, sc) => {
    const s = Status[name];
    expect(statusSct(s)).toBe(1);
    expect(statusSc(s)).toBe(sc);
    expect(s & (1 << 14)).not.toBe(0);
  });
});
