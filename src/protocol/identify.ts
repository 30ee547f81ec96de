// Identify data structures (NVMe Base 2.0 5.17.2, NVM Command Set 1.0 4.1.5). Every byte offset
// of these 4096-byte structures is named here; handlers pass plain values in.
import { NidType } from './constants.js';

export const IDENTIFY_SIZE = 4096;

export const IdCtrlOff = {
  vid: 0,
  ssvid: 2,
  sn: 4,
  mn: 24,
  fr: 64,
  rab: 72,
  ieee: 73,
  cmic: 76,
  mdts: 77,
  cntlid: 78,
  ver: 80,
  rtd3r: 84,
  rtd3e: 88,
  oaes: 92,
  ctratt: 96,
  cntrltype: 111,
  oacs: 256,
  acl: 258,
  aerl: 259,
  frmw: 260,
  lpa: 261,
  elpe: 262,
  npss: 263,
  avscc: 264,
  wctemp: 266,
  cctemp: 268,
  kas: 320,
  sqes: 512,
  cqes: 513,
  maxcmd: 514,
  nn: 516,
  oncs: 520,
  fuses: 522,
  fna: 524,
  vwc: 525,
  awun: 526,
  awupf: 528,
  acwu: 532,
  sgls: 536,
  mnan: 540,
  subnqn: 768,
  ioccsz: 1792,
  iorcsz: 1796,
  icdoff: 1800,
  fcatt: 1802,
  msdbd: 1803,
  ofcs: 1804,
  psd0: 2048,
} as const;

export interface IdentifyControllerFields {
  vid: number;
  ssvid: number;
  serial: string;
  model: string;
  firmware: string;
  rab: number;
  ieeeOui: number;
  cmic: number;
  mdts: number;
  cntlid: number;
  version: number;
  oaes: number;
  ctratt: number;
  cntrltype: number;
  oacs: number;
  acl: number;
  aerl: number;
  frmw: number;
  lpa: number;
  elpe: number;
  wctemp: number;
  cctemp: number;
  kas: number;
  sqes: number;
  cqes: number;
  maxcmd: number;
  nn: number;
  oncs: number;
  fuses: number;
  fna: number;
  vwc: number;
  sgls: number;
  mnan: number;
  subnqn: string;
  ioccsz: number;
  iorcsz: number;
  icdoff: number;
  fcatt: number;
  msdbd: number;
  /** Power state 0 maximum power, in centiwatts. */
  ps0MaxPowerCw: number;
}

/** ASCII field padded with spaces, as the spec requires for SN, MN and FR. */
export function writeAsciiPadded(b: Buffer, off: number, len: number, s: string): void {
  b.fill(0x20, off, off + len);
  b.write(s.slice(0, len), off, len, 'latin1');
}

export function readAsciiTrimmed(b: Buffer, off: number, len: number): string {
  return b.toString('latin1', off, off + len).replace(/[\0 ]+$/, '');
}

export function encodeIdentifyController(f: IdentifyControllerFields): Buffer {
  const b = Buffer.alloc(IDENTIFY_SIZE);
  const o = IdCtrlOff;
  b.writeUInt16LE(f.vid, o.vid);
  b.writeUInt16LE(f.ssvid, o.ssvid);
  writeAsciiPadded(b, o.sn, 20, f.serial);
  writeAsciiPadded(b, o.mn, 40, f.model);
  writeAsciiPadded(b, o.fr, 8, f.firmware);
  b[o.rab] = f.rab;
  b[o.ieee] = f.ieeeOui & 0xff;
  b[o.ieee + 1] = (f.ieeeOui >> 8) & 0xff;
  b[o.ieee + 2] = (f.ieeeOui >> 16) & 0xff;
  b[o.cmic] = f.cmic;
  b[o.mdts] = f.mdts;
  b.writeUInt16LE(f.cntlid, o.cntlid);
  b.writeUInt32LE(f.version >>> 0, o.ver);
  b.writeUInt32LE(f.oaes >>> 0, o.oaes);
  b.writeUInt32LE(f.ctratt >>> 0, o.ctratt);
  b[o.cntrltype] = f.cntrltype;
  b.writeUInt16LE(f.oacs, o.oacs);
  b[o.acl] = f.acl;
  b[o.aerl] = f.aerl;
  b[o.frmw] = f.frmw;
  b[o.lpa] = f.lpa;
  b[o.elpe] = f.elpe;
  b.writeUInt16LE(f.wctemp, o.wctemp);
  b.writeUInt16LE(f.cctemp, o.cctemp);
  b.writeUInt16LE(f.kas, o.kas);
  b[o.sqes] = f.sqes;
  b[o.cqes] = f.cqes;
  b.writeUInt16LE(f.maxcmd, o.maxcmd);
  b.writeUInt32LE(f.nn >>> 0, o.nn);
  b.writeUInt16LE(f.oncs, o.oncs);
  b.writeUInt16LE(f.fuses, o.fuses);
  b[o.fna] = f.fna;
  b[o.vwc] = f.vwc;
  b.writeUInt32LE(f.sgls >>> 0, o.sgls);
  b.writeUInt32LE(f.mnan >>> 0, o.mnan);
  b.write(f.subnqn.slice(0, 255), o.subnqn, 256, 'utf8');
  b.writeUInt32LE(f.ioccsz >>> 0, o.ioccsz);
  b.writeUInt32LE(f.iorcsz >>> 0, o.iorcsz);
  b.writeUInt16LE(f.icdoff, o.icdoff);
  b[o.fcatt] = f.fcatt;
  b[o.msdbd] = f.msdbd;
  b.writeUInt16LE(f.ps0MaxPowerCw, o.psd0);
  return b;
}

export const IdNsOff = {
  nsze: 0,
  ncap: 8,
  nuse: 16,
  nsfeat: 24,
  nlbaf: 25,
  flbas: 26,
  mc: 27,
  dpc: 28,
  dps: 29,
  nmic: 30,
  rescap: 31,
  fpi: 32,
  dlfeat: 33,
  nawun: 34,
  nawupf: 36,
  nacwu: 38,
  noiob: 46,
  nvmcap: 48,
  npwg: 64,
  npwa: 66,
  npdg: 68,
  npda: 70,
  nows: 72,
  mssrl: 74,
  mcl: 76,
  msrc: 80,
  anagrpid: 92,
  nsattr: 99,
  nvmsetid: 100,
  endgid: 102,
  nguid: 104,
  eui64: 120,
  lbaf: 128,
} as const;

export interface LbaFormat {
  /** Metadata size in bytes. */
  ms: number;
  /** log2 of the LBA data size. */
  lbads: number;
  /** Relative performance 0 (best) .. 3. */
  rp: number;
}

export interface IdentifyNamespaceFields {
  nsze: bigint;
  ncap: bigint;
  nuse: bigint;
  nsfeat: number;
  flbas: number;
  lbaFormats: LbaFormat[];
  nmic: number;
  dlfeat: number;
  nvmcapBytes: bigint;
  /** Preferred write granularity / alignment / deallocate granularity, in LBAs (1-based; 0 = not reported). */
  npwg: number;
  npwa: number;
  npdg: number;
  npda: number;
  nows: number;
  anagrpid: number;
  nguid: Buffer;
  eui64: Buffer;
}

export function encodeIdentifyNamespace(f: IdentifyNamespaceFields): Buffer {
  const b = Buffer.alloc(IDENTIFY_SIZE);
  const o = IdNsOff;
  b.writeBigUInt64LE(f.nsze, o.nsze);
  b.writeBigUInt64LE(f.ncap, o.ncap);
  b.writeBigUInt64LE(f.nuse, o.nuse);
  b[o.nsfeat] = f.nsfeat;
  b[o.nlbaf] = f.lbaFormats.length - 1; // zero-based
  b[o.flbas] = f.flbas;
  b[o.nmic] = f.nmic;
  b[o.dlfeat] = f.dlfeat;
  b.writeBigUInt64LE(f.nvmcapBytes & 0xffffffffffffffffn, o.nvmcap);
  // NPWG..NOWS are 0's based when NSFEAT.OPTPERF is set.
  b.writeUInt16LE(Math.max(0, f.npwg - 1), o.npwg);
  b.writeUInt16LE(Math.max(0, f.npwa - 1), o.npwa);
  b.writeUInt16LE(Math.max(0, f.npdg - 1), o.npdg);
  b.writeUInt16LE(Math.max(0, f.npda - 1), o.npda);
  b.writeUInt16LE(Math.max(0, f.nows - 1), o.nows);
  b.writeUInt32LE(f.anagrpid >>> 0, o.anagrpid);
  f.nguid.copy(b, o.nguid, 0, 16);
  f.eui64.copy(b, o.eui64, 0, 8);
  f.lbaFormats.forEach((l, i) => {
    const off = o.lbaf + i * 4;
    b.writeUInt16LE(l.ms, off);
    b[off + 2] = l.lbads;
    b[off + 3] = l.rp & 3;
  });
  return b;
}

/** I/O Command Set Independent Identify Namespace (CNS 08h). */
export interface IdentifyCsIndependentNsFields {
  nsfeat: number;
  nmic: number;
  anagrpid: number;
  ready: boolean;
}

export function encodeIdentifyCsIndependentNs(f: IdentifyCsIndependentNsFields): Buffer {
  const b = Buffer.alloc(IDENTIFY_SIZE);
  b[0] = f.nsfeat;
  b[1] = f.nmic;
  b.writeUInt32LE(f.anagrpid >>> 0, 4);
  b[14] = f.ready ? 1 : 0; // NSTAT.NRDY
  return b;
}

/** Namespace Identification Descriptor list (CNS 03h). */
export function encodeNsDescriptors(ids: { eui64?: Buffer; nguid?: Buffer; uuid?: Buffer; csi: number }): Buffer {
  const b = Buffer.alloc(IDENTIFY_SIZE);
  let off = 0;
  const put = (type: number, v: Buffer): void => {
    b[off] = type;
    b[off + 1] = v.length;
    v.copy(b, off + 4);
    off += 4 + v.length;
  };
  if (ids.eui64) put(NidType.Eui64, ids.eui64);
  if (ids.nguid) put(NidType.Nguid, ids.nguid);
  if (ids.uuid) put(NidType.Uuid, ids.uuid);
  put(NidType.Csi, Buffer.from([ids.csi]));
  return b;
}

/** Active namespace ID list (CNS 02h/07h): ascending NSIDs greater than `after`, at most 1024. */
export function encodeNsList(nsids: readonly number[], after: number): Buffer {
  const b = Buffer.alloc(IDENTIFY_SIZE);
  let i = 0;
  for (const id of nsids) {
    if (id <= after) continue;
    if (i >= 1024) break;
    b.writeUInt32LE(id >>> 0, i * 4);
    i++;
  }
  return b;
}

/** I/O Command Set specific Identify Controller for the NVM command set (CNS 06h, CSI 0). */
export function encodeIdentifyNvmController(f: { vsl: number; wzsl: number; wusl: number; dmrl: number; dmrsl: number; dmsl: bigint }): Buffer {
  const b = Buffer.alloc(IDENTIFY_SIZE);
  b[0] = f.vsl;
  b[1] = f.wzsl;
  b[2] = f.wusl;
  b[3] = f.dmrl;
  b.writeUInt32LE(f.dmrsl >>> 0, 4);
  b.writeBigUInt64LE(f.dmsl, 8);
  return b;
}

/** Identify I/O Command Set data structure (CNS 1Ch): vector 0 lists the supported sets. */
export function encodeCommandSetCombinations(vector0: bigint): Buffer {
  const b = Buffer.alloc(IDENTIFY_SIZE);
  b.writeBigUInt64LE(vector0, 0);
  return b;
}
