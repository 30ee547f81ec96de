// Log page layouts (NVMe Base 2.0 5.16.1): error information, SMART / health, firmware slot,
// changed namespace list, commands supported and effects.

export const ERROR_LOG_ENTRY_SIZE = 64;
export const SMART_LOG_SIZE = 512;
export const FW_SLOT_LOG_SIZE = 512;
export const CHANGED_NS_LOG_SIZE = 4096;
export const EFFECTS_LOG_SIZE = 4096;

/** Get Log Page command fields (cdw10..14). */
export function decodeGetLogPage(cdw10: number, cdw11: number, cdw12: number, cdw13: number, cdw14: number) {
  const numdl = cdw10 >>> 16;
  const numdu = cdw11 & 0xffff;
  return {
    lid: cdw10 & 0xff,
    lsp: (cdw10 >> 8) & 0x7f,
    rae: (cdw10 & (1 << 15)) !== 0,
    /** Number of bytes requested. */
    length: ((numdu * 0x10000 + numdl) + 1) * 4,
    lsi: cdw11 >>> 16,
    offset: cdw13 * 0x100000000 + (cdw12 >>> 0),
    uuidIndex: cdw14 & 0x7f,
    ot: (cdw14 & (1 << 23)) !== 0,
    csi: cdw14 >>> 24,
  };
}

export interface ErrorLogEntry {
  errorCount: bigint;
  sqid: number;
  cid: number;
  /** 15-bit status, stored as the CQE status field (shifted, phase 0). */
  status: number;
  /** Parameter error location: byte in bits 7:0, bit in 10:8; 0xFFFF when unknown. */
  paramErrorLocation: number;
  lba: bigint;
  nsid: number;
  trtype: number;
}

export function writeErrorLogEntry(b: Buffer, off: number, e: ErrorLogEntry): void {
  b.writeBigUInt64LE(e.errorCount, off);
  b.writeUInt16LE(e.sqid, off + 8);
  b.writeUInt16LE(e.cid, off + 10);
  b.writeUInt16LE((e.status << 1) & 0xffff, off + 12);
  b.writeUInt16LE(e.paramErrorLocation, off + 14);
  b.writeBigUInt64LE(e.lba, off + 16);
  b.writeUInt32LE(e.nsid >>> 0, off + 24);
  b[off + 29] = e.trtype;
}

export interface SmartLogFields {
  criticalWarning: number;
  /** Composite temperature in kelvins. */
  temperatureK: number;
  availableSpare: number;
  spareThreshold: number;
  percentageUsed: number;
  /** Counts of 1000 x 512-byte units, rounded up (as the spec defines them). */
  dataUnitsRead: bigint;
  dataUnitsWritten: bigint;
  hostReadCommands: bigint;
  hostWriteCommands: bigint;
  controllerBusyMinutes: bigint;
  powerCycles: bigint;
  powerOnHours: bigint;
  unsafeShutdowns: bigint;
  mediaErrors: bigint;
  errorLogEntries: bigint;
}

const put128 = (b: Buffer, off: number, v: bigint): void => {
  b.writeBigUInt64LE(v & 0xffffffffffffffffn, off);
  b.writeBigUInt64LE(v >> 64n, off + 8);
};

export const SmartOff = {
  criticalWarning: 0,
  temperature: 1,
  availableSpare: 3,
  spareThreshold: 4,
  percentageUsed: 5,
  dataUnitsRead: 32,
  dataUnitsWritten: 48,
  hostReadCommands: 64,
  hostWriteCommands: 80,
  controllerBusyTime: 96,
  powerCycles: 112,
  powerOnHours: 128,
  unsafeShutdowns: 144,
  mediaErrors: 160,
  errorLogEntries: 176,
} as const;

export function encodeSmartLog(f: SmartLogFields): Buffer {
  const b = Buffer.alloc(SMART_LOG_SIZE);
  const o = SmartOff;
  b[o.criticalWarning] = f.criticalWarning;
  b.writeUInt16LE(f.temperatureK, o.temperature);
  b[o.availableSpare] = f.availableSpare;
  b[o.spareThreshold] = f.spareThreshold;
  b[o.percentageUsed] = Math.min(255, f.percentageUsed);
  put128(b, o.dataUnitsRead, f.dataUnitsRead);
  put128(b, o.dataUnitsWritten, f.dataUnitsWritten);
  put128(b, o.hostReadCommands, f.hostReadCommands);
  put128(b, o.hostWriteCommands, f.hostWriteCommands);
  put128(b, o.controllerBusyTime, f.controllerBusyMinutes);
  put128(b, o.powerCycles, f.powerCycles);
  put128(b, o.powerOnHours, f.powerOnHours);
  put128(b, o.unsafeShutdowns, f.unsafeShutdowns);
  put128(b, o.mediaErrors, f.mediaErrors);
  put128(b, o.errorLogEntries, f.errorLogEntries);
  return b;
}

/** Bytes to SMART data units: thousands of 512-byte units, rounded up. */
export const bytesToDataUnits = (bytes: bigint): bigint => (bytes / 512n + 999n) / 1000n;

export function encodeFirmwareSlotLog(activeSlot: number, revisions: string[]): Buffer {
  const b = Buffer.alloc(FW_SLOT_LOG_SIZE);
  b[0] = activeSlot & 0x7;
  revisions.slice(0, 7).forEach((r, i) => {
    b.fill(0x20, 8 + i * 8, 16 + i * 8);
    b.write(r.slice(0, 8), 8 + i * 8, 8, 'latin1');
  });
  return b;
}

export function encodeChangedNsList(nsids: readonly number[]): Buffer {
  const b = Buffer.alloc(CHANGED_NS_LOG_SIZE);
  if (nsids.length > 1024) {
    b.writeUInt32LE(0xffffffff, 0); // more than 1024 changed: the spec's overflow marker
    return b;
  }
  nsids.forEach((id, i) => b.writeUInt32LE(id >>> 0, i * 4));
  return b;
}

/** Commands Supported and Effects entry bits. */
export const Effects = {
  CSUPP: 1 << 0,
  LBCC: 1 << 1,
  NCC: 1 << 2,
  NIC: 1 << 3,
  CCC: 1 << 4,
  /** Command submission and execution: no restriction / ns-scoped / controller-scoped. */
  CSE_NS: 1 << 16,
  CSE_CTRL: 2 << 16,
} as const;

export function encodeEffectsLog(admin: ReadonlyMap<number, number>, io: ReadonlyMap<number, number>): Buffer {
  const b = Buffer.alloc(EFFECTS_LOG_SIZE);
  for (const [op, v] of admin) b.writeUInt32LE(v >>> 0, op * 4);
  for (const [op, v] of io) b.writeUInt32LE(v >>> 0, 1024 + op * 4);
  return b;
}
