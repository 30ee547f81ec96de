// Host-side (initiator) encoders and decoders: capsule command headers with the SGL and CID
// filled in, command SQEs the initiator builds, CAP decoding, Identify fields the host needs,
// and the discovery log page decoder. Layouts only; no I/O.
import { AdminOpcode, FabricsType, NvmOpcode, PduFlag, PduHlen, PduType } from './constants.js';
import { DISC_ENTRY_SIZE, DISC_HDR_SIZE, DiscEntryOff } from './discovery-log.js';
import { ConnectOff, type CapFields } from './fabrics.js';
import { IdCtrlOff, IdNsOff, readAsciiTrimmed } from './identify.js';
import { DIGEST_SIZE, sealHeaderDigest, writeCommonHeader } from './pdu.js';
import { SQE_SIZE, SqeOff } from './sqe.js';

// ---- Capsule command ----

/**
 * Write a CapsuleCmd PDU header (CH + SQE [+ header digest]) into `b` at `off`, copying the
 * caller's 64-byte SQE, then overwriting its CID and (unless `sglType` is null) its SGL data
 * block descriptor with address 0, `sglLength` and `sglType`. `inCapsuleLen` bytes of data
 * follow the header (plus a data digest when `ddgst` and data present); PLEN accounts for them.
 * Returns the header length (72, or 76 with a header digest).
 */
export function encodeCapsuleCmd(
  b: Buffer,
  off: number,
  sqe: Buffer,
  cid: number,
  sglType: number | null,
  sglLength: number,
  inCapsuleLen: number,
  hdgst: boolean,
  ddgst: boolean,
): number {
  const hlen = PduHlen.CapsuleCmd;
  const hd = hdgst ? DIGEST_SIZE : 0;
  const dd = ddgst && inCapsuleLen > 0 ? DIGEST_SIZE : 0;
  const flags = (hdgst ? PduFlag.HDGSTF : 0) | (dd ? PduFlag.DDGSTF : 0);
  writeCommonHeader(b, off, PduType.CapsuleCmd, flags, hlen, inCapsuleLen > 0 ? hlen + hd : 0, hlen + hd + inCapsuleLen + dd);
  const s = off + 8;
  sqe.copy(b, s, 0, SQE_SIZE);
  b.writeUInt16LE(cid, s + SqeOff.cid);
  if (sglType !== null) {
    b.writeBigUInt64LE(0n, s + SqeOff.sglAddress);
    b.writeUInt32LE(sglLength >>> 0, s + SqeOff.sglLength);
    b.fill(0, s + SqeOff.sglLength + 4, s + SqeOff.sglType);
    b[s + SqeOff.sglType] = sglType;
  }
  if (hdgst) sealHeaderDigest(b, off, hlen);
  return hlen + hd;
}

// ---- CAP ----

/** Decode the 64-bit CAP property (inverse of fabrics.ts encodeCap). */
export function decodeCap(v: bigint): CapFields {
  const bit = (n: bigint): boolean => ((v >> n) & 1n) === 1n;
  return {
    mqes: Number(v & 0xffffn),
    cqr: bit(16n),
    timeout500ms: Number((v >> 24n) & 0xffn),
    cssNvm: bit(37n),
    cssIoSets: bit(43n),
    cssAdminOnly: bit(44n),
    mpsmin: Number((v >> 48n) & 0xfn),
    mpsmax: Number((v >> 52n) & 0xfn),
  };
}

// ---- SQE builders (all write a complete 64-byte SQE into `out`, CID 0, PSDT = SGL) ----

function beginSqe(out: Buffer, opcode: number, nsid: number): Buffer {
  out.fill(0, 0, SQE_SIZE);
  out[SqeOff.opcode] = opcode;
  out[SqeOff.flags] = 0x40;
  out.writeUInt32LE(nsid >>> 0, SqeOff.nsid);
  return out;
}

function setDw(out: Buffer, n: number, v: number): void {
  out.writeUInt32LE(v >>> 0, SqeOff.cdw10 + (n - 10) * 4);
}

/** Read/Write/Compare/Verify/Write Zeroes: SLBA in cdw10/11, NLB (zero-based) in cdw12 15:0. */
export const RwFlag = {
  /** Limited retry (cdw12 bit 31). */
  LR: 1 << 31,
  /** Force unit access (cdw12 bit 30). */
  FUA: 1 << 30,
  /** Write Zeroes: deallocate (cdw12 bit 25). */
  DEAC: 1 << 25,
} as const;

export function encodeRwSqe(out: Buffer, opcode: number, nsid: number, slba: bigint | number, nlb: number, cdw12Flags = 0): Buffer {
  if (!Number.isInteger(nlb) || nlb < 1 || nlb > 0x10000) throw new RangeError(`nlb must be 1..65536, got ${nlb}`);
  beginSqe(out, opcode, nsid);
  const lba = BigInt(slba);
  if (lba < 0n || lba > 0xffffffffffffffffn) throw new RangeError(`slba out of range: ${slba}`);
  out.writeBigUInt64LE(lba, SqeOff.cdw10);
  setDw(out, 12, ((nlb - 1) | cdw12Flags) >>> 0);
  return out;
}

export function encodeFlushSqe(out: Buffer, nsid: number): Buffer {
  return beginSqe(out, NvmOpcode.Flush, nsid);
}

export interface DsmRange {
  slba: bigint | number;
  /** Length in logical blocks (1-based, as the range descriptor carries it). */
  nlb: number;
  /** Context attributes (dword 0 of the range). */
  attributes?: number;
}

export const DSM_RANGE_SIZE = 16;
/** Dataset Management attribute bits (cdw11). */
export const DsmAttr = { IDR: 1 << 0, IDW: 1 << 1, AD: 1 << 2 } as const;

/** Dataset Management SQE: NR (zero-based) in cdw10 7:0, attributes in cdw11. */
export function encodeDsmSqe(out: Buffer, nsid: number, rangeCount: number, attributes: number): Buffer {
  if (rangeCount < 1 || rangeCount > 256) throw new RangeError(`DSM range count must be 1..256, got ${rangeCount}`);
  beginSqe(out, NvmOpcode.DatasetManagement, nsid);
  setDw(out, 10, rangeCount - 1);
  setDw(out, 11, attributes);
  return out;
}

/** DSM range list: context attributes @0 (4), length in LBAs @4 (4), starting LBA @8 (8). */
export function encodeDsmRanges(ranges: readonly DsmRange[]): Buffer {
  const b = Buffer.alloc(ranges.length * DSM_RANGE_SIZE);
  ranges.forEach((r, i) => {
    const o = i * DSM_RANGE_SIZE;
    b.writeUInt32LE((r.attributes ?? 0) >>> 0, o);
    b.writeUInt32LE(r.nlb >>> 0, o + 4);
    b.writeBigUInt64LE(BigInt(r.slba), o + 8);
  });
  return b;
}

export function decodeDsmRanges(b: Buffer, count: number): DsmRange[] {
  const out: DsmRange[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * DSM_RANGE_SIZE;
    out.push({ attributes: b.readUInt32LE(o), nlb: b.readUInt32LE(o + 4), slba: b.readBigUInt64LE(o + 8) });
  }
  return out;
}

/** Identify: CNS in cdw10 7:0, CNTID in cdw10 31:16, CSI in cdw11 31:24. */
export function encodeIdentifySqe(out: Buffer, cns: number, o: { nsid?: number; cntid?: number; csi?: number } = {}): Buffer {
  beginSqe(out, AdminOpcode.Identify, o.nsid ?? 0);
  setDw(out, 10, (cns & 0xff) | ((o.cntid ?? 0) << 16));
  setDw(out, 11, (o.csi ?? 0) << 24);
  return out;
}

/** Get Log Page: `length` bytes (multiple of 4) starting at byte `offset` of the log. */
export function encodeGetLogPageSqe(
  out: Buffer,
  lid: number,
  length: number,
  o: { offset?: number | bigint; nsid?: number; lsp?: number; rae?: boolean; lsi?: number; csi?: number } = {},
): Buffer {
  if (length < 4 || length % 4 !== 0) throw new RangeError(`log page length must be a positive multiple of 4, got ${length}`);
  const numd = length / 4 - 1;
  beginSqe(out, AdminOpcode.GetLogPage, o.nsid ?? 0);
  setDw(out, 10, (lid & 0xff) | ((o.lsp ?? 0) & 0x7f) << 8 | (o.rae ? 1 << 15 : 0) | ((numd & 0xffff) << 16));
  setDw(out, 11, ((numd >>> 16) & 0xffff) | ((o.lsi ?? 0) << 16));
  const lpo = BigInt(o.offset ?? 0);
  if (lpo % 4n !== 0n) throw new RangeError('log page offset must be a multiple of 4');
  out.writeBigUInt64LE(lpo, SqeOff.cdw12);
  setDw(out, 14, (o.csi ?? 0) << 24);
  return out;
}

/** Get Features: FID in cdw10 7:0, SEL in cdw10 10:8. */
export function encodeGetFeaturesSqe(out: Buffer, fid: number, o: { nsid?: number; sel?: number; cdw11?: number } = {}): Buffer {
  beginSqe(out, AdminOpcode.GetFeatures, o.nsid ?? 0);
  setDw(out, 10, (fid & 0xff) | ((o.sel ?? 0) & 7) << 8);
  setDw(out, 11, o.cdw11 ?? 0);
  return out;
}

/** Set Features: FID in cdw10 7:0, SV in cdw10 bit 31, value in cdw11 (and cdw12..). */
export function encodeSetFeaturesSqe(
  out: Buffer,
  fid: number,
  cdw11: number,
  o: { nsid?: number; save?: boolean; cdw12?: number; cdw13?: number; cdw14?: number; cdw15?: number } = {},
): Buffer {
  beginSqe(out, AdminOpcode.SetFeatures, o.nsid ?? 0);
  setDw(out, 10, (fid & 0xff) | (o.save ? 1 << 31 : 0));
  setDw(out, 11, cdw11);
  setDw(out, 12, o.cdw12 ?? 0);
  setDw(out, 13, o.cdw13 ?? 0);
  setDw(out, 14, o.cdw14 ?? 0);
  setDw(out, 15, o.cdw15 ?? 0);
  return out;
}

/** Number of Queues (feature 07h) cdw11 / result: NSQR 15:0, NCQR 31:16, both zero-based. */
export const encodeNumberOfQueues = (nsq: number, ncq: number): number => (((nsq - 1) & 0xffff) | (((ncq - 1) & 0xffff) << 16)) >>> 0;
export const decodeNumberOfQueues = (dw0: number): { nsq: number; ncq: number } => ({ nsq: (dw0 & 0xffff) + 1, ncq: (dw0 >>> 16) + 1 });

export function encodeKeepAliveSqe(out: Buffer): Buffer {
  return beginSqe(out, AdminOpcode.KeepAlive, 0);
}

/** Fabrics Disconnect: FCTYPE 08h, RECFMT 0 in bytes 41:40. */
export function encodeDisconnectSqe(out: Buffer): Buffer {
  beginSqe(out, AdminOpcode.Fabrics, 0);
  out[SqeOff.fctype] = FabricsType.Disconnect;
  out.writeUInt16LE(0, ConnectOff.recfmt);
  return out;
}

// ---- Identify fields the host uses ----

export interface IdentifyControllerInfo {
  vid: number;
  serial: string;
  model: string;
  firmware: string;
  /** Raw MDTS exponent (0 = no limit). */
  mdts: number;
  /** MDTS in bytes assuming CAP.MPSMIN = 0 (4 KiB pages); 0 = unlimited. */
  mdtsBytes: number;
  cntlid: number;
  version: number;
  cntrltype: number;
  oncs: number;
  kas: number;
  maxcmd: number;
  nn: number;
  vwc: number;
  sgls: number;
  subnqn: string;
  /** I/O queue command capsule size in 16-byte units. */
  ioccsz: number;
  iorcsz: number;
  icdoff: number;
}

export function decodeIdentifyControllerInfo(b: Buffer): IdentifyControllerInfo {
  const o = IdCtrlOff;
  const mdts = b[o.mdts]!;
  const nul = b.indexOf(0, o.subnqn);
  return {
    vid: b.readUInt16LE(o.vid),
    serial: readAsciiTrimmed(b, o.sn, 20),
    model: readAsciiTrimmed(b, o.mn, 40),
    firmware: readAsciiTrimmed(b, o.fr, 8),
    mdts,
    mdtsBytes: mdts === 0 ? 0 : 4096 * 2 ** mdts,
    cntlid: b.readUInt16LE(o.cntlid),
    version: b.readUInt32LE(o.ver),
    cntrltype: b[o.cntrltype]!,
    oncs: b.readUInt16LE(o.oncs),
    kas: b.readUInt16LE(o.kas),
    maxcmd: b.readUInt16LE(o.maxcmd),
    nn: b.readUInt32LE(o.nn),
    vwc: b[o.vwc]!,
    sgls: b.readUInt32LE(o.sgls),
    subnqn: b.toString('utf8', o.subnqn, nul < 0 || nul > o.subnqn + 256 ? o.subnqn + 256 : nul),
    ioccsz: b.readUInt32LE(o.ioccsz),
    iorcsz: b.readUInt32LE(o.iorcsz),
    icdoff: b.readUInt16LE(o.icdoff),
  };
}

export interface NamespaceLbaInfo {
  nsze: bigint;
  ncap: bigint;
  nuse: bigint;
  /** Index of the LBA format in use (FLBAS bits 3:0 plus 6:5 as the high bits). */
  lbafIndex: number;
  lbads: number;
  /** Bytes per logical block (2^LBADS). */
  lbaSize: number;
  /** Metadata bytes per logical block. */
  ms: number;
}

export function decodeIdentifyNamespaceLba(b: Buffer): NamespaceLbaInfo {
  const flbas = b[IdNsOff.flbas]!;
  const lbafIndex = (flbas & 0xf) | (((flbas >> 5) & 0x3) << 4);
  const lo = IdNsOff.lbaf + lbafIndex * 4;
  const lbads = b[lo + 2]!;
  return {
    nsze: b.readBigUInt64LE(IdNsOff.nsze),
    ncap: b.readBigUInt64LE(IdNsOff.ncap),
    nuse: b.readBigUInt64LE(IdNsOff.nuse),
    lbafIndex,
    lbads,
    lbaSize: lbads >= 9 && lbads < 31 ? 2 ** lbads : 0,
    ms: b.readUInt16LE(lo),
  };
}

/** Active namespace list (CNS 02h/07h) to an array of NSIDs. */
export function decodeNsList(b: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0; o + 4 <= b.length; o += 4) {
    const id = b.readUInt32LE(o);
    if (id === 0) break;
    out.push(id);
  }
  return out;
}

// ---- Discovery log page ----

export interface DiscoveryLogHeader {
  genctr: bigint;
  numrec: bigint;
  recfmt: number;
}

export function decodeDiscoveryLogHeader(b: Buffer, off = 0): DiscoveryLogHeader {
  return { genctr: b.readBigUInt64LE(off), numrec: b.readBigUInt64LE(off + 8), recfmt: b.readUInt16LE(off + 16) };
}

export interface DiscoveryLogEntry {
  trtype: number;
  adrfam: number;
  subtype: number;
  treq: number;
  portid: number;
  cntlid: number;
  asqsz: number;
  eflags: number;
  trsvcid: string;
  subnqn: string;
  traddr: string;
  /** Transport specific address subtype (256 bytes), raw. */
  tsas: Buffer;
}

/** Strip trailing spaces and NULs (TRSVCID and TRADDR are space padded, SUBNQN NUL padded). */
function readPadded(b: Buffer, off: number, len: number, enc: 'latin1' | 'utf8'): string {
  let end = off + len;
  const nul = b.indexOf(0, off);
  if (nul >= 0 && nul < end) end = nul;
  while (end > off && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  return b.toString(enc, off, end);
}

export function decodeDiscoveryEntry(b: Buffer, off = 0): DiscoveryLogEntry {
  const o = DiscEntryOff;
  return {
    trtype: b[off + o.trtype]!,
    adrfam: b[off + o.adrfam]!,
    subtype: b[off + o.subtype]!,
    treq: b[off + o.treq]!,
    portid: b.readUInt16LE(off + o.portid),
    cntlid: b.readUInt16LE(off + o.cntlid),
    asqsz: b.readUInt16LE(off + o.asqsz),
    eflags: b.readUInt16LE(off + o.eflags),
    trsvcid: readPadded(b, off + o.trsvcid, 32, 'latin1'),
    subnqn: readPadded(b, off + o.subnqn, 256, 'utf8'),
    traddr: readPadded(b, off + o.traddr, 256, 'latin1'),
    tsas: Buffer.from(b.subarray(off + o.tsas, off + o.tsas + 256)),
  };
}

/** Decode `count` entries laid out back to back starting at `off`. */
export function decodeDiscoveryEntries(b: Buffer, count: number, off = 0): DiscoveryLogEntry[] {
  const out: DiscoveryLogEntry[] = [];
  for (let i = 0; i < count && off + (i + 1) * DISC_ENTRY_SIZE <= b.length; i++) out.push(decodeDiscoveryEntry(b, off + i * DISC_ENTRY_SIZE));
  return out;
}

export { DISC_ENTRY_SIZE, DISC_HDR_SIZE };
