// Zoned Namespace Command Set 1.1 structures (CSI 02h): Identify ZNS controller (CNS 06h) and
// namespace (CNS 05h), the Zone Management Send / Receive command fields, the zone descriptor and
// report header, and the Changed Zone List log page (BFh). Every offset is named here; handlers
// pass plain values in. Used by the target (src/controller/zns-commands.ts) and by our initiator.
import { IDENTIFY_SIZE } from './identify.js';

/** Zone states as the ZS field (descriptor byte 1, bits 7:4) carries them. */
export const ZoneState = {
  Empty: 0x1,
  ImplicitlyOpened: 0x2,
  ExplicitlyOpened: 0x3,
  Closed: 0x4,
  ReadOnly: 0xd,
  Full: 0xe,
  Offline: 0xf,
} as const;
export type ZoneStateCode = (typeof ZoneState)[keyof typeof ZoneState];

/** Zone type: the only one ZNS defines. */
export const ZONE_TYPE_SEQ_WRITE_REQUIRED = 0x2;

/** Zone Management Send action (CDW13 bits 7:0). */
export const ZoneSendAction = {
  Close: 0x01,
  Finish: 0x02,
  Open: 0x03,
  Reset: 0x04,
  Offline: 0x05,
  SetDescriptorExtension: 0x10,
  FlushZrwa: 0x11,
} as const;

/** Zone Management Receive action (CDW13 bits 7:0). */
export const ZoneReceiveAction = { Report: 0x00, ExtendedReport: 0x01 } as const;

/** Zone Receive Action Specific Field for report zones: which zones to list. */
export const ZoneReportFilter = {
  All: 0x0,
  Empty: 0x1,
  ImplicitlyOpened: 0x2,
  ExplicitlyOpened: 0x3,
  Closed: 0x4,
  Full: 0x5,
  ReadOnly: 0x6,
  Offline: 0x7,
} as const;

/** Zone attributes (descriptor byte 2). */
export const ZoneAttr = {
  /** Zone Finished by Controller. */
  ZFC: 1 << 0,
  /** Finish Zone Recommended. */
  FZR: 1 << 1,
  /** Reset Zone Recommended. */
  RZR: 1 << 2,
  /** Zone Descriptor Extension Valid. */
  ZDEV: 1 << 7,
} as const;

// ---- Identify ----

/** I/O Command Set specific Identify Controller, ZNS (CNS 06h, CSI 02h). */
export function encodeIdentifyZnsController(f: { zasl: number }): Buffer {
  const b = Buffer.alloc(IDENTIFY_SIZE);
  b[0] = f.zasl; // Zone Append Size Limit: 2^zasl x CAP.MPSMIN (4 KiB); 0 = MDTS
  return b;
}

export const IdZnsNsOff = {
  zoc: 0,
  ozcs: 2,
  mar: 4,
  mor: 8,
  rrl: 12,
  frl: 16,
  lbafe: 2816,
} as const;
export const LBAFE_SIZE = 16;
/** MAR/MOR value meaning "no limit". */
export const ZNS_NO_LIMIT = 0xffffffff;
/** OZCS bit 0: Read Across Zone Boundaries. */
export const OZCS_RAZB = 1 << 0;

export interface ZnsLbaFormatExtension {
  /** Zone size in logical blocks of this format. */
  zsze: bigint;
  /** Zone descriptor extension size in 64-byte units. */
  zdes: number;
}

export interface IdentifyZnsNamespaceFields {
  /** Zone Operation Characteristics (Linux requires 0). */
  zoc: number;
  /** Optional Zoned Command Support. */
  ozcs: number;
  /** Max Active / Open Resources, 0's based; ZNS_NO_LIMIT = none. */
  mar: number;
  mor: number;
  /** Reset / Finish Recommended Limit, seconds (0 = not reported). */
  rrl: number;
  frl: number;
  /** One per LBA format of Identify Namespace, same order. */
  lbafe: ZnsLbaFormatExtension[];
}

export function encodeIdentifyZnsNamespace(f: IdentifyZnsNamespaceFields): Buffer {
  const b = Buffer.alloc(IDENTIFY_SIZE);
  const o = IdZnsNsOff;
  b.writeUInt16LE(f.zoc, o.zoc);
  b.writeUInt16LE(f.ozcs, o.ozcs);
  b.writeUInt32LE(f.mar >>> 0, o.mar);
  b.writeUInt32LE(f.mor >>> 0, o.mor);
  b.writeUInt32LE(f.rrl >>> 0, o.rrl);
  b.writeUInt32LE(f.frl >>> 0, o.frl);
  f.lbafe.forEach((e, i) => {
    const off = o.lbafe + i * LBAFE_SIZE;
    b.writeBigUInt64LE(e.zsze, off);
    b[off + 8] = e.zdes;
  });
  return b;
}

export function decodeIdentifyZnsNamespace(b: Buffer): IdentifyZnsNamespaceFields {
  const o = IdZnsNsOff;
  const lbafe: ZnsLbaFormatExtension[] = [];
  for (let i = 0; i < 64; i++) {
    const off = o.lbafe + i * LBAFE_SIZE;
    const zsze = b.readBigUInt64LE(off);
    if (zsze === 0n && b[off + 8] === 0) break;
    lbafe.push({ zsze, zdes: b[off + 8]! });
  }
  return {
    zoc: b.readUInt16LE(o.zoc),
    ozcs: b.readUInt16LE(o.ozcs),
    mar: b.readUInt32LE(o.mar),
    mor: b.readUInt32LE(o.mor),
    rrl: b.readUInt32LE(o.rrl),
    frl: b.readUInt32LE(o.frl),
    lbafe,
  };
}

// ---- Zone Management Send / Receive command fields ----

export const CDW13_SELECT_ALL = 1 << 8;
export const CDW13_PARTIAL = 1 << 16;

export interface ZoneMgmtSend {
  slba: number;
  action: number;
  selectAll: boolean;
  /** Zone Send Action Specific Option (ZNS 1.1, e.g. ZRWA allocation on Open). */
  zsaso: boolean;
}

export function decodeZoneMgmtSend(cdw10: number, cdw11: number, cdw13: number): ZoneMgmtSend {
  return {
    slba: (cdw11 >>> 0) * 0x100000000 + (cdw10 >>> 0),
    action: cdw13 & 0xff,
    selectAll: (cdw13 & CDW13_SELECT_ALL) !== 0,
    zsaso: (cdw13 & (1 << 9)) !== 0,
  };
}

export function encodeZoneMgmtSendCdws(c: { slba: number; action: number; selectAll?: boolean }): { cdw10: number; cdw11: number; cdw13: number } {
  return { cdw10: c.slba % 0x100000000, cdw11: Math.floor(c.slba / 0x100000000), cdw13: (c.action & 0xff) | (c.selectAll ? CDW13_SELECT_ALL : 0) };
}

export interface ZoneMgmtRecv {
  slba: number;
  /** Bytes the host's buffer holds: (NUMD + 1) x 4. */
  bytes: number;
  action: number;
  filter: number;
  partial: boolean;
}

export function decodeZoneMgmtRecv(cdw10: number, cdw11: number, cdw12: number, cdw13: number): ZoneMgmtRecv {
  return {
    slba: (cdw11 >>> 0) * 0x100000000 + (cdw10 >>> 0),
    bytes: ((cdw12 >>> 0) + 1) * 4,
    action: cdw13 & 0xff,
    filter: (cdw13 >>> 8) & 0xff,
    partial: (cdw13 & CDW13_PARTIAL) !== 0,
  };
}

export function encodeZoneMgmtRecvCdws(c: { slba: number; bytes: number; action?: number; filter?: number; partial?: boolean }): {
  cdw10: number;
  cdw11: number;
  cdw12: number;
  cdw13: number;
} {
  return {
    cdw10: c.slba % 0x100000000,
    cdw11: Math.floor(c.slba / 0x100000000),
    cdw12: c.bytes / 4 - 1,
    cdw13: ((c.action ?? 0) & 0xff) | (((c.filter ?? 0) & 0xff) << 8) | (c.partial ? CDW13_PARTIAL : 0),
  };
}

// ---- Report zones data ----

export const REPORT_HEADER_SIZE = 64;
export const ZONE_DESCRIPTOR_SIZE = 64;
export const ZONE_DESCRIPTOR_EXTENSION_UNIT = 64;

export const ZoneDescOff = { zt: 0, zs: 1, za: 2, zai: 3, zcap: 8, zslba: 16, wp: 24 } as const;

export interface ZoneDescriptor {
  /** Zone type (2 = sequential write required). */
  zt: number;
  /** Zone state code (ZoneState). */
  zs: number;
  za: number;
  zai: number;
  zcap: number;
  zslba: number;
  wp: number;
}

export function writeReportHeader(b: Buffer, off: number, nrZones: number): void {
  b.fill(0, off, off + REPORT_HEADER_SIZE);
  b.writeBigUInt64LE(BigInt(nrZones), off);
}

export function writeZoneDescriptor(b: Buffer, off: number, d: ZoneDescriptor): void {
  const o = ZoneDescOff;
  b.fill(0, off, off + ZONE_DESCRIPTOR_SIZE);
  b[off + o.zt] = d.zt & 0x0f;
  b[off + o.zs] = (d.zs & 0x0f) << 4;
  b[off + o.za] = d.za;
  b[off + o.zai] = d.zai;
  b.writeBigUInt64LE(BigInt(d.zcap), off + o.zcap);
  b.writeBigUInt64LE(BigInt(d.zslba), off + o.zslba);
  b.writeBigUInt64LE(BigInt(d.wp), off + o.wp);
}

export function readZoneDescriptor(b: Buffer, off: number): ZoneDescriptor {
  const o = ZoneDescOff;
  return {
    zt: b[off + o.zt]! & 0x0f,
    zs: b[off + o.zs]! >> 4,
    za: b[off + o.za]!,
    zai: b[off + o.zai]!,
    zcap: Number(b.readBigUInt64LE(off + o.zcap)),
    zslba: Number(b.readBigUInt64LE(off + o.zslba)),
    wp: Number(b.readBigUInt64LE(off + o.wp)),
  };
}

/** A report as the host reads it: NZ from the header and the descriptors that fit in `b`. */
export function decodeZoneReport(b: Buffer, extensionBytes = 0): { nrZones: number; zones: (ZoneDescriptor & { extension?: Buffer })[] } {
  const nrZones = Number(b.readBigUInt64LE(0));
  const stride = ZONE_DESCRIPTOR_SIZE + extensionBytes;
  const fit = Math.floor((b.length - REPORT_HEADER_SIZE) / stride);
  const zones: (ZoneDescriptor & { extension?: Buffer })[] = [];
  for (let i = 0; i < Math.min(nrZones, fit); i++) {
    const off = REPORT_HEADER_SIZE + i * stride;
    const d: ZoneDescriptor & { extension?: Buffer } = readZoneDescriptor(b, off);
    if (extensionBytes > 0) d.extension = Buffer.from(b.subarray(off + ZONE_DESCRIPTOR_SIZE, off + stride));
    zones.push(d);
  }
  return { nrZones, zones };
}

// ---- Changed Zone List log page (BFh) ----

export const CHANGED_ZONE_LIST_SIZE = 4096;
/** Identifiers a Changed Zone List holds; more changed zones = count FFFFh and no list. */
export const CHANGED_ZONE_LIST_MAX = 511;

export function encodeChangedZoneList(zslbas: readonly number[]): Buffer {
  const b = Buffer.alloc(CHANGED_ZONE_LIST_SIZE);
  if (zslbas.length > CHANGED_ZONE_LIST_MAX) {
    b.writeUInt16LE(0xffff, 0);
    return b;
  }
  b.writeUInt16LE(zslbas.length, 0);
  zslbas.forEach((z, i) => b.writeBigUInt64LE(BigInt(z), 8 + i * 8));
  return b;
}

export function decodeChangedZoneList(b: Buffer): { overflow: boolean; zslbas: number[] } {
  const n = b.readUInt16LE(0);
  if (n === 0xffff) return { overflow: true, zslbas: [] };
  const zslbas: number[] = [];
  for (let i = 0; i < n; i++) zslbas.push(Number(b.readBigUInt64LE(8 + i * 8)));
  return { overflow: false, zslbas };
}
