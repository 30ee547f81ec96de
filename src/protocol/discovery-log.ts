// Discovery log page (LID 70h, NVMe Base 2.0 5.16.1.23): 1024-byte header, 1024-byte entries.
import { Disc } from './constants.js';

export const DISC_HDR_SIZE = 1024;
export const DISC_ENTRY_SIZE = 1024;

export const DiscEntryOff = {
  trtype: 0,
  adrfam: 1,
  subtype: 2,
  treq: 3,
  portid: 4,
  cntlid: 6,
  asqsz: 8,
  eflags: 10,
  trsvcid: 32,
  subnqn: 256,
  traddr: 512,
  tsas: 768,
} as const;

export interface DiscoveryEntry {
  adrfam: number;
  subtype: number;
  treq: number;
  portid: number;
  asqsz: number;
  eflags: number;
  trsvcid: string;
  subnqn: string;
  traddr: string;
}

/** Encodes the whole log (header + entries); the caller slices it by LPO and length. */
export function encodeDiscoveryLog(genctr: bigint, entries: readonly DiscoveryEntry[]): Buffer {
  const b = Buffer.alloc(DISC_HDR_SIZE + entries.length * DISC_ENTRY_SIZE);
  b.writeBigUInt64LE(genctr, 0);
  b.writeBigUInt64LE(BigInt(entries.length), 8);
  b.writeUInt16LE(0, 16); // RECFMT 0
  entries.forEach((e, i) => {
    const off = DISC_HDR_SIZE + i * DISC_ENTRY_SIZE;
    const o = DiscEntryOff;
    b[off + o.trtype] = Disc.TrtypeTcp;
    b[off + o.adrfam] = e.adrfam;
    b[off + o.subtype] = e.subtype;
    b[off + o.treq] = e.treq;
    b.writeUInt16LE(e.portid, off + o.portid);
    b.writeUInt16LE(0xffff, off + o.cntlid); // dynamic controller model
    b.writeUInt16LE(e.asqsz, off + o.asqsz);
    b.writeUInt16LE(e.eflags, off + o.eflags);
    // TRSVCID and TRADDR are ASCII strings padded with spaces; SUBNQN is NUL padded.
    b.fill(0x20, off + o.trsvcid, off + o.trsvcid + 32);
    b.write(e.trsvcid.slice(0, 32), off + o.trsvcid, 32, 'latin1');
    b.write(e.subnqn.slice(0, 255), off + o.subnqn, 256, 'utf8');
    b.fill(0x20, off + o.traddr, off + o.traddr + 256);
    b.write(e.traddr.slice(0, 256), off + o.traddr, 256, 'latin1');
    // TSAS for TCP: SECTYPE 0 (no security).
  });
  return b;
}
