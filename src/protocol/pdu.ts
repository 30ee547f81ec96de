// NVMe/TCP PDU headers (transport spec 1.0, section 3.6): every header layout encoded and
// decoded here and nowhere else. All multi-byte fields are little-endian.
import { PduFlag, PduHlen, PduType, TERM_REQ_MAX_DATA } from './constants.js';
import { putU16, putU32 } from './bytes.js';
import { crc32cHeader24, crc32cRange } from './digest.js';

/** Common header: type, flags, hlen, pdo, plen. */
export const CH_SIZE = 8;
export const DIGEST_SIZE = 4;

export interface CommonHeader {
  type: number;
  flags: number;
  hlen: number;
  pdo: number;
  plen: number;
}

export function readCommonHeader(b: Buffer, off = 0): CommonHeader {
  return { type: b[off]!, flags: b[off + 1]!, hlen: b[off + 2]!, pdo: b[off + 3]!, plen: b.readUInt32LE(off + 4) };
}

export function writeCommonHeader(b: Buffer, off: number, type: number, flags: number, hlen: number, pdo: number, plen: number): void {
  b[off] = type;
  b[off + 1] = flags;
  b[off + 2] = hlen;
  b[off + 3] = pdo;
  putU32(b, off + 4, plen);
}

/** Offsets of fields inside each header, used for C2HTermReq field error information. */
export const FieldOff = {
  type: 0,
  flags: 1,
  hlen: 2,
  pdo: 3,
  plen: 4,
  icPfv: 8,
  icHpda: 10,
  icDgst: 11,
  icMaxr2t: 12,
  dataCccid: 8,
  dataTtag: 10,
  dataDatao: 12,
  dataDatal: 16,
} as const;

// ---- Initialization ----

export interface ICReq {
  pfv: number;
  hpda: number;
  hdgst: boolean;
  ddgst: boolean;
  maxr2t: number;
}

export function decodeICReq(b: Buffer, off = 0): ICReq {
  const dgst = b[off + 11]!;
  return {
    pfv: b.readUInt16LE(off + 8),
    hpda: b[off + 10]!,
    hdgst: (dgst & 1) !== 0,
    ddgst: (dgst & 2) !== 0,
    maxr2t: b.readUInt32LE(off + 12),
  };
}

export function encodeICReq(r: ICReq): Buffer {
  const b = Buffer.alloc(PduHlen.ICReq);
  writeCommonHeader(b, 0, PduType.ICReq, 0, PduHlen.ICReq, 0, PduHlen.ICReq);
  b.writeUInt16LE(r.pfv, 8);
  b[10] = r.hpda;
  b[11] = (r.hdgst ? 1 : 0) | (r.ddgst ? 2 : 0);
  b.writeUInt32LE(r.maxr2t, 12);
  return b;
}

export interface ICResp {
  pfv: number;
  cpda: number;
  hdgst: boolean;
  ddgst: boolean;
  maxh2cdata: number;
}

export function encodeICResp(r: ICResp): Buffer {
  const b = Buffer.alloc(PduHlen.ICResp);
  writeCommonHeader(b, 0, PduType.ICResp, 0, PduHlen.ICResp, 0, PduHlen.ICResp);
  b.writeUInt16LE(r.pfv, 8);
  b[10] = r.cpda;
  b[11] = (r.hdgst ? 1 : 0) | (r.ddgst ? 2 : 0);
  b.writeUInt32LE(r.maxh2cdata, 12);
  return b;
}

export function decodeICResp(b: Buffer, off = 0): ICResp {
  const dgst = b[off + 11]!;
  return { pfv: b.readUInt16LE(off + 8), cpda: b[off + 10]!, hdgst: (dgst & 1) !== 0, ddgst: (dgst & 2) !== 0, maxh2cdata: b.readUInt32LE(off + 12) };
}

// ---- Data transfer headers (H2CData, C2HData, R2T share one 24-byte layout) ----

export interface DataHeader {
  cccid: number;
  ttag: number;
  /** datao for data PDUs, r2to for R2T. */
  offset: number;
  /** datal for data PDUs, r2tl for R2T. */
  length: number;
}

export function decodeDataHeader(b: Buffer, off = 0): DataHeader {
  return { cccid: b.readUInt16LE(off + 8), ttag: b.readUInt16LE(off + 10), offset: b.readUInt32LE(off + 12), length: b.readUInt32LE(off + 16) };
}

/**
 * Write a 24-byte data-transfer header (plus header digest when `hdgst`) into `b` at `off`.
 * Returns the number of bytes written (24 or 28). `dataLen` and `ddgst` size the PLEN.
 */
export function writeDataHeader(
  b: Buffer,
  off: number,
  type: number,
  flags: number,
  cccid: number,
  ttag: number,
  offset: number,
  length: number,
  dataLen: number,
  hdgst: boolean,
  ddgst: boolean,
): number {
  const hlen = 24;
  const hd = hdgst ? DIGEST_SIZE : 0;
  const pdo = dataLen > 0 ? hlen + hd : 0;
  const plen = hlen + hd + dataLen + (ddgst && dataLen > 0 ? DIGEST_SIZE : 0);
  const f = flags | (hdgst ? PduFlag.HDGSTF : 0) | (ddgst && dataLen > 0 ? PduFlag.DDGSTF : 0);
  writeCommonHeader(b, off, type, f, hlen, pdo, plen);
  putU16(b, off + 8, cccid);
  putU16(b, off + 10, ttag);
  putU32(b, off + 12, offset);
  putU32(b, off + 16, length);
  putU32(b, off + 20, 0);
  if (hdgst) putU32(b, off + hlen, crc32cHeader24(b, off));
  return hlen + hd;
}

// ---- Capsules ----

/** CapsuleResp: 8-byte CH + 16-byte CQE (+ header digest). The caller fills the CQE at off+8. */
export function writeCapsuleRespHeader(b: Buffer, off: number, hdgst: boolean): number {
  const hd = hdgst ? DIGEST_SIZE : 0;
  writeCommonHeader(b, off, PduType.CapsuleResp, hdgst ? PduFlag.HDGSTF : 0, PduHlen.CapsuleResp, 0, PduHlen.CapsuleResp + hd);
  return PduHlen.CapsuleResp + hd;
}

/** Finish a header digest over the first `hlen` bytes at `off`. */
export function sealHeaderDigest(b: Buffer, off: number, hlen: number): void {
  putU32(b, off + hlen, hlen === 24 ? crc32cHeader24(b, off) : crc32cRange(b, off, off + hlen));
}

/** CapsuleCmd header for the initiator: CH + SQE; returns header bytes (72 or 76). */
export function writeCapsuleCmdHeader(b: Buffer, off: number, sqe: Buffer, inCapsuleLen: number, hdgst: boolean, ddgst: boolean): number {
  const hlen = PduHlen.CapsuleCmd;
  const hd = hdgst ? DIGEST_SIZE : 0;
  const pdo = inCapsuleLen > 0 ? hlen + hd : 0;
  const dd = ddgst && inCapsuleLen > 0 ? DIGEST_SIZE : 0;
  const flags = (hdgst ? PduFlag.HDGSTF : 0) | (dd ? PduFlag.DDGSTF : 0);
  writeCommonHeader(b, off, PduType.CapsuleCmd, flags, hlen, pdo, hlen + hd + inCapsuleLen + dd);
  sqe.copy(b, off + 8, 0, 64);
  if (hdgst) sealHeaderDigest(b, off, hlen);
  return hlen + hd;
}

// ---- Termination ----

export interface TermReq {
  type: number;
  fes: number;
  fei: number;
  data: Buffer;
}

/** C2HTermReq / H2CTermReq: 24-byte header + up to 128 bytes of the offending PDU header. */
export function encodeTermReq(type: number, fes: number, fei: number, offending: Buffer | null): Buffer {
  const dataLen = offending ? Math.min(offending.length, TERM_REQ_MAX_DATA) : 0;
  const b = Buffer.alloc(PduHlen.TermReq + dataLen);
  writeCommonHeader(b, 0, type, 0, PduHlen.TermReq, 0, PduHlen.TermReq + dataLen);
  b.writeUInt16LE(fes, 8);
  b.writeUInt32LE(fei >>> 0, 10);
  if (offending && dataLen) offending.copy(b, PduHlen.TermReq, 0, dataLen);
  return b;
}

export function decodeTermReq(b: Buffer, off = 0): TermReq {
  const ch = readCommonHeader(b, off);
  return { type: ch.type, fes: b.readUInt16LE(off + 8), fei: b.readUInt32LE(off + 10), data: b.subarray(off + ch.hlen, off + ch.plen) };
}
