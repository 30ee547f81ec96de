import { describe, expect, it } from 'vitest';
import { AdminOpcode, Disc, FabricsType, LogPage, NvmOpcode, SglId } from '../../src/protocol/constants.js';
import { encodeDiscoveryLog } from '../../src/protocol/discovery-log.js';
import {
  decodeDiscoveryEntries,
  decodeDiscoveryEntry,
  decodeDiscoveryLogHeader,
  decodeDsmRanges,
  decodeIdentifyControllerInfo,
  decodeIdentifyNamespaceLba,
  decodeNsList,
  decodeNumberOfQueues,
  DsmAttr,
  encodeCapsuleCmd,
  encodeDisconnectSqe,
  encodeDsmRanges,
  encodeDsmSqe,
  encodeGetFeaturesSqe,
  encodeGetLogPageSqe,
  encodeIdentifySqe,
  encodeNumberOfQueues,
  encodeRwSqe,
  encodeSetFeaturesSqe,
  RwFlag,
} from '../../src/protocol/host-codecs.js';
import { encodeIdentifyNamespace, encodeNsList, IdCtrlOff } from '../../src/protocol/identify.js';
import { decodeGetLogPage } from '../../src/protocol/log-pages.js';
import { cdw } from '../../src/protocol/sqe.js';

function refCrc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('encodeCapsuleCmd', () => {
  const sqe = Buffer.alloc(64, 0xaa);

  it('replaces CID and SGL (address 0, length, reserved zero, type) and sizes PLEN', () => {
    const b = Buffer.alloc(80, 0x55);
    const n = encodeCapsuleCmd(b, 0, sqe, 0x0102, SglId.DataBlockOffset, 4096, 4096, true, true);
    expect(n).toBe(76);
    // CH: CapsuleCmd, HDGSTF|DDGSTF, HLEN 72, PDO 76, PLEN 72+4+4096+4 = 4176 = 0x1050
    expect(b.subarray(0, 8).toString('hex')).toBe('0403484c50100000');
    const s = b.subarray(8, 72);
    expect(s[0]).toBe(0xaa);
    expect(s.subarray(2, 4).toString('hex')).toBe('0201');
    expect(s.subarray(24, 40).toString('hex')).toBe('0000000000000000' + '00100000' + '000000' + '01');
    expect(s.subarray(40).every((x) => x === 0xaa)).toBe(true);
    expect(b.readUInt32LE(72)).toBe(refCrc32c(b.subarray(0, 72)));
    expect(sqe.every((x) => x === 0xaa)).toBe(true); // caller's SQE untouched
  });

  it('transport SGL for R2T/C2H transfers: no in-capsule data, PDO 0', () => {
    const b = Buffer.alloc(72);
    expect(encodeCapsuleCmd(b, 0, sqe, 7, SglId.TransportDataBlock, 0x20000, 0, false, true)).toBe(72);
    expect(b.subarray(0, 8).toString('hex')).toBe('0400480048000000');
    expect(b.subarray(8 + 24, 8 + 40).toString('hex')).toBe('0000000000000000' + '00000200' + '000000' + '5a');
  });

  it("sglType null keeps the caller's SGL bytes", () => {
    const b = Buffer.alloc(72);
    encodeCapsuleCmd(b, 0, sqe, 7, null, 0, 0, false, false);
    expect(b.subarray(8 + 24, 8 + 40).every((x) => x === 0xaa)).toBe(true);
    expect(b.readUInt16LE(8 + 2)).toBe(7);
  });
});

describe('command SQE builders', () => {
  const out = Buffer.alloc(64, 0xff);

  it('Read/Write: SLBA @40 (64-bit), NLB zero-based @48, FUA bit 30, PSDT SGL', () => {
    encodeRwSqe(out, NvmOpcode.Write, 1, 0x1_0000_0002n, 8, RwFlag.FUA);
    expect(out[0]).toBe(0x01);
    expect(out[1]).toBe(0x40);
    expect(out.readUInt32LE(4)).toBe(1);
    expect(out.subarray(40, 52).toString('hex')).toBe('0200000001000000' + '07000040');
    expect(out.subarray(52).every((x) => x === 0)).toBe(true);
    encodeRwSqe(out, NvmOpcode.WriteZeroes, 2, 5, 65536, RwFlag.DEAC);
    expect(cdw(out, 12)).toBe(0xffff | (1 << 25));
    expect(() => encodeRwSqe(out, NvmOpcode.Read, 1, 0, 0)).toThrow(RangeError);
    expect(() => encodeRwSqe(out, NvmOpcode.Read, 1, 0, 65537)).toThrow(RangeError);
    expect(() => encodeRwSqe(out, NvmOpcode.Read, 1, -1, 1)).toThrow(RangeError);
  });

  it('Identify: CNS @cdw10 7:0, CNTID @31:16, CSI @cdw11 31:24', () => {
    encodeIdentifySqe(out, 0x06, { nsid: 0, cntid: 0x1234, csi: 2 });
    expect(out[0]).toBe(AdminOpcode.Identify);
    expect(cdw(out, 10)).toBe(0x12340006);
    expect(cdw(out, 11)).toBe(0x02000000);
  });

  it('Get Log Page: NUMDL/NUMDU, LSP, RAE, LPO, CSI agree with the target-side decoder', () => {
    const len = 4 * 0x20000; // NUMD = 0x1FFFF
    encodeGetLogPageSqe(out, LogPage.Discovery, len, { offset: 0x1_0000_0400n, lsp: 0x5, rae: true, csi: 1, nsid: 0xffffffff });
    expect(cdw(out, 10)).toBe(0xffff_8570);
    expect(cdw(out, 11)).toBe(1);
    expect(cdw(out, 12)).toBe(0x400);
    expect(cdw(out, 13)).toBe(1);
    expect(decodeGetLogPage(cdw(out, 10), cdw(out, 11), cdw(out, 12), cdw(out, 13), cdw(out, 14))).toMatchObject({
      lid: 0x70,
      lsp: 5,
      rae: true,
      length: len,
      offset: 0x1_0000_0400,
      csi: 1,
    });
    encodeGetLogPageSqe(out, 2, 512);
    expect(cdw(out, 10)).toBe(0x02 | (127 << 16));
    expect(() => encodeGetLogPageSqe(out, 2, 6)).toThrow(RangeError);
  });

  it('Get/Set Features', () => {
    encodeGetFeaturesSqe(out, 0x07, { sel: 3, cdw11: 9 });
    expect(out[0]).toBe(AdminOpcode.GetFeatures);
    expect(cdw(out, 10)).toBe(0x307);
    expect(cdw(out, 11)).toBe(9);
    encodeSetFeaturesSqe(out, 0x07, encodeNumberOfQueues(4, 4), { save: true });
    expect(out[0]).toBe(AdminOpcode.SetFeatures);
    expect(cdw(out, 10)).toBe(0x80000007);
    expect(cdw(out, 11)).toBe(0x00030003);
    expect(decodeNumberOfQueues(0x00010007)).toEqual({ nsq: 8, ncq: 2 });
  });

  it('Dataset Management: NR zero-based, AD attribute, 16-byte ranges', () => {
    encodeDsmSqe(out, 1, 2, DsmAttr.AD);
    expect(out[0]).toBe(NvmOpcode.DatasetManagement);
    expect(cdw(out, 10)).toBe(1);
    expect(cdw(out, 11)).toBe(4);
    const r = encodeDsmRanges([
      { slba: 0x10, nlb: 8 },
      { slba: 0x1_0000_0000n, nlb: 1, attributes: 0xabc },
    ]);
    expect(r.toString('hex')).toBe('00000000' + '08000000' + '1000000000000000' + 'bc0a0000' + '01000000' + '0000000001000000');
    expect(decodeDsmRanges(r, 2)).toEqual([
      { attributes: 0, nlb: 8, slba: 0x10n },
      { attributes: 0xabc, nlb: 1, slba: 0x1_0000_0000n },
    ]);
  });

  it('Disconnect: opcode 7Fh, FCTYPE 08h, RECFMT 0', () => {
    encodeDisconnectSqe(out);
    expect(out[0]).toBe(0x7f);
    expect(out[4]).toBe(FabricsType.Disconnect);
    expect(out.subarray(5).every((x) => x === 0)).toBe(true);
  });
});

describe('Identify decoders', () => {
  it('controller: MDTS @77, IOCCSZ @1792, names trimmed', () => {
    const b = Buffer.alloc(4096);
    b.write('SN123   ', 4, 'latin1');
    b.fill(0x20, 24, 64);
    b.write('Model X', 24, 'latin1');
    b[IdCtrlOff.mdts] = 5;
    b.writeUInt16LE(0x21, IdCtrlOff.cntlid);
    b.writeUInt32LE(260, IdCtrlOff.ioccsz);
    b.writeUInt32LE(1, IdCtrlOff.iorcsz);
    b.write('nqn.x', IdCtrlOff.subnqn, 'utf8');
    const i = decodeIdentifyControllerInfo(b);
    expect(i).toMatchObject({ serial: 'SN123', model: 'Model X', mdts: 5, mdtsBytes: 131072, cntlid: 0x21, ioccsz: 260, iorcsz: 1, subnqn: 'nqn.x' });
    b[IdCtrlOff.mdts] = 0;
    expect(decodeIdentifyControllerInfo(b).mdtsBytes).toBe(0);
  });

  it('namespace: FLBAS selects the LBA format (including bits 6:5 as high index bits)', () => {
    const lbaFormats = Array.from({ length: 20 }, (_, i) => ({ ms: i, lbads: i === 17 ? 12 : 9, rp: 0 }));
    const fields = {
      nsze: 1000n, ncap: 900n, nuse: 10n, nsfeat: 0, flbas: 0, lbaFormats, nmic: 0, dlfeat: 0, nvmcapBytes: 0n,
      npwg: 0, npwa: 0, npdg: 0, npda: 0, nows: 0, anagrpid: 0, nguid: Buffer.alloc(16), eui64: Buffer.alloc(8),
    };
    expect(decodeIdentifyNamespaceLba(encodeIdentifyNamespace(fields))).toEqual({ nsze: 1000n, ncap: 900n, nuse: 10n, lbafIndex: 0, lbads: 9, lbaSize: 512, ms: 0 });
    // index 17 = 0b1_0001: low nibble 1, bits 6:5 = 01
    const i17 = decodeIdentifyNamespaceLba(encodeIdentifyNamespace({ ...fields, flbas: 0x01 | (1 << 5) }));
    expect(i17).toMatchObject({ lbafIndex: 17, lbads: 12, lbaSize: 4096, ms: 17 });
  });

  it('active namespace list', () => {
    expect(decodeNsList(encodeNsList([1, 2, 7], 0))).toEqual([1, 2, 7]);
    expect(decodeNsList(encodeNsList([1, 2, 7], 1))).toEqual([2, 7]);
  });
});

describe('discovery log', () => {
  it('decodes a hand-built entry at the documented offsets', () => {
    const e = Buffer.alloc(1024);
    e[0] = 3;
    e[1] = 1;
    e[2] = 2;
    e[3] = 0;
    e.writeUInt16LE(7, 4);
    e.writeUInt16LE(0xffff, 6);
    e.writeUInt16LE(32, 8);
    e.writeUInt16LE(2, 10);
    e.fill(0x20, 32, 64);
    e.write('4420', 32, 'latin1');
    e.write('nqn.2024-01.io.example:a', 256, 'utf8');
    e.fill(0x20, 512, 768);
    e.write('192.168.1.5', 512, 'latin1');
    e[768] = 0x11;
    expect(decodeDiscoveryEntry(e)).toEqual({
      trtype: 3, adrfam: 1, subtype: 2, treq: 0, portid: 7, cntlid: 0xffff, asqsz: 32, eflags: 2,
      trsvcid: '4420', subnqn: 'nqn.2024-01.io.example:a', traddr: '192.168.1.5', tsas: e.subarray(768),
    });
  });

  it('round-trips the target-side encoder', () => {
    const entries = [
      { adrfam: Disc.AdrfamIpv4, subtype: Disc.SubtypeCurrentDiscovery, treq: 0, portid: 1, asqsz: 32, eflags: Disc.EflagsEpcsd, trsvcid: '8009', subnqn: 'nqn.2014-08.org.nvmexpress.discovery', traddr: '127.0.0.1' },
      { adrfam: Disc.AdrfamIpv6, subtype: Disc.SubtypeNvm, treq: 0, portid: 2, asqsz: 128, eflags: 0, trsvcid: '4420', subnqn: 'nqn.2024-01.io.example:b', traddr: '::1' },
    ];
    const log = encodeDiscoveryLog(42n, entries);
    expect(decodeDiscoveryLogHeader(log)).toEqual({ genctr: 42n, numrec: 2n, recfmt: 0 });
    const got = decodeDiscoveryEntries(log, 2, 1024);
    expect(got).toHaveLength(2);
    got.forEach((g, i) => {
      const { tsas, ...rest } = g;
      expect(tsas.length).toBe(256);
      expect(rest).toEqual({ ...entries[i], trtype: Disc.TrtypeTcp, cntlid: 0xffff });
    });
    expect(decodeDiscoveryEntries(log, 5, 1024)).toHaveLength(2); // stops at the end of the buffer
  });
});
