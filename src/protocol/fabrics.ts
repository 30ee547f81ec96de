// Fabrics command layouts: Connect (SQE fields + 1024-byte data), Property Get/Set, and the
// controller properties CAP/CC/CSTS.
import { AdminOpcode, FabricsType, SglId } from './constants.js';
import { encodeSqe } from './sqe.js';

export const CONNECT_DATA_SIZE = 1024;

/** Connect SQE field offsets (within the 64-byte SQE). */
export const ConnectOff = { recfmt: 40, qid: 42, sqsize: 44, cattr: 46, kato: 48 } as const;
/** Connect data field offsets (within the 1024-byte data). */
export const ConnectDataOff = { hostid: 0, cntlid: 16, subnqn: 256, hostnqn: 512 } as const;
export const NQN_FIELD_SIZE = 256;

export interface ConnectData {
  hostid: Buffer;
  cntlid: number;
  subnqn: string;
  hostnqn: string;
}

function readNqn(b: Buffer, off: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + NQN_FIELD_SIZE ? off + NQN_FIELD_SIZE : end);
}

export function decodeConnectData(b: Buffer): ConnectData {
  return {
    hostid: Buffer.from(b.subarray(0, 16)),
    cntlid: b.readUInt16LE(ConnectDataOff.cntlid),
    subnqn: readNqn(b, ConnectDataOff.subnqn),
    hostnqn: readNqn(b, ConnectDataOff.hostnqn),
  };
}

export function encodeConnectData(d: ConnectData): Buffer {
  const b = Buffer.alloc(CONNECT_DATA_SIZE);
  d.hostid.copy(b, 0, 0, 16);
  b.writeUInt16LE(d.cntlid, ConnectDataOff.cntlid);
  b.write(d.subnqn, ConnectDataOff.subnqn, NQN_FIELD_SIZE - 1, 'utf8');
  b.write(d.hostnqn, ConnectDataOff.hostnqn, NQN_FIELD_SIZE - 1, 'utf8');
  return b;
}

export interface ConnectCmd {
  cid: number;
  qid: number;
  sqsize: number;
  kato: number;
  recfmt?: number;
  cattr?: number;
}

export function encodeConnectSqe(c: ConnectCmd): Buffer {
  const sqe = encodeSqe({ opcode: AdminOpcode.Fabrics, cid: c.cid, sgl: { length: CONNECT_DATA_SIZE, type: SglId.DataBlockOffset } });
  sqe[4] = FabricsType.Connect;
  sqe.writeUInt16LE(c.recfmt ?? 0, ConnectOff.recfmt);
  sqe.writeUInt16LE(c.qid, ConnectOff.qid);
  sqe.writeUInt16LE(c.sqsize, ConnectOff.sqsize);
  sqe[ConnectOff.cattr] = c.cattr ?? 0;
  sqe.writeUInt32LE(c.kato, ConnectOff.kato);
  return sqe;
}

/** Connect's "invalid parameter" result: offset of the bad field, bit 16 set if in the data. */
export const ipoData = (off: number): number => (1 << 16) | off;
export const ipoSqe = (off: number): number => off;

/** Property Get/Set SQE offsets: ATTRIB (size: 0 = 4 bytes, 1 = 8 bytes), OFST, VALUE. */
export const PropOff = { attrib: 40, offset: 44, value: 48 } as const;

export function encodePropertyGetSqe(cid: number, offset: number, size8: boolean): Buffer {
  const sqe = encodeSqe({ opcode: AdminOpcode.Fabrics, cid, sgl: { length: 0, type: SglId.TransportDataBlock } });
  sqe[4] = FabricsType.PropertyGet;
  sqe[PropOff.attrib] = size8 ? 1 : 0;
  sqe.writeUInt32LE(offset, PropOff.offset);
  return sqe;
}

export function encodePropertySetSqe(cid: number, offset: number, value: bigint, size8: boolean): Buffer {
  const sqe = encodeSqe({ opcode: AdminOpcode.Fabrics, cid, sgl: { length: 0, type: SglId.TransportDataBlock } });
  sqe[4] = FabricsType.PropertySet;
  sqe[PropOff.attrib] = size8 ? 1 : 0;
  sqe.writeUInt32LE(offset, PropOff.offset);
  sqe.writeBigUInt64LE(value, PropOff.value);
  return sqe;
}

/** CAP fields (NVMe Base 2.0, 3.1.3.1). */
export interface CapFields {
  mqes: number; // zero-based
  cqr: boolean;
  timeout500ms: number;
  cssNvm: boolean;
  cssIoSets: boolean;
  cssAdminOnly: boolean;
  mpsmin: number;
  mpsmax: number;
}

export function encodeCap(c: CapFields): bigint {
  let v = BigInt(c.mqes & 0xffff);
  if (c.cqr) v |= 1n << 16n;
  v |= BigInt(c.timeout500ms & 0xff) << 24n;
  if (c.cssNvm) v |= 1n << 37n;
  if (c.cssIoSets) v |= 1n << 43n;
  if (c.cssAdminOnly) v |= 1n << 44n;
  v |= BigInt(c.mpsmin & 0xf) << 48n;
  v |= BigInt(c.mpsmax & 0xf) << 52n;
  return v;
}

/** CC fields. */
export const Cc = {
  en: (cc: number) => (cc & 1) !== 0,
  css: (cc: number) => (cc >> 4) & 0x7,
  mps: (cc: number) => (cc >> 7) & 0xf,
  ams: (cc: number) => (cc >> 11) & 0x7,
  shn: (cc: number) => (cc >> 14) & 0x3,
  iosqes: (cc: number) => (cc >> 16) & 0xf,
  iocqes: (cc: number) => (cc >> 20) & 0xf,
} as const;

export const Csts = { RDY: 1, CFS: 2, SHST_OCCURRING: 1 << 2, SHST_COMPLETE: 2 << 2 } as const;

/** The CC value Linux writes to enable a controller (MPS 0, AMS 0, IOSQES 6, IOCQES 4). */
export const ccEnableValue = (css: number): number => 1 | (css << 4) | (6 << 16) | (4 << 20);
