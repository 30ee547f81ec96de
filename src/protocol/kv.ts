// Key-value command layouts, declared once: the NVMeVirt / Samsung KV-SSD vendor opcodes (on a
// namespace that identifies as NVM, driven with `nvme io-passthru` as in NVMeVirt's docs) and the
// NVMe Key Value Command Set (NVMe 2.0, CSI 01h), its Identify Namespace structure and the List
// output. Handlers and the initiator use these; no offsets anywhere else.
import { SqeOff } from './sqe.js';

/** Longest key either layout carries inline in the SQE. */
export const KV_MAX_KEY_LENGTH = 16;

/** NVMeVirt / Samsung KV-SSD vendor I/O opcodes. */
export const KvVendorOpcode = {
  Store: 0x81,
  Append: 0x83,
  Batch: 0x85,
  Retrieve: 0x90,
  Delete: 0xa1,
  IterRequest: 0xb1,
  IterRead: 0xb2,
  Exist: 0xb3,
} as const;

/** NVMe Key Value Command Set I/O opcodes (CSI 01h). */
export const KvOpcode = {
  Flush: 0x00,
  Store: 0x01,
  Retrieve: 0x02,
  List: 0x06,
  Delete: 0x10,
  Exist: 0x14,
} as const;

/** The two ways a KV namespace is driven. */
export type KvCommandSet = 'nvmevirt' | 'nvme-kv';
export const KV_COMMAND_SETS = ['nvmevirt', 'nvme-kv'] as const;

/**
 * Option bits of CDW11 (bits 15:8 = the option byte), by layout.
 * NVMe KV Store: bit 8 Must Exist (store only over an existing key), bit 9 Must Not Exist, bit 10
 * No Compress (accepted, nothing to compress), bit 11 Append (nvmf-emu extension: reserved in KV
 * Command Set 1.0; appends to an existing value like the vendor Append opcode 83h).
 * Vendor (Samsung KV-SSD option byte): store option 2 = idempotent (fail if the key exists), the
 * same bit 9; retrieve option 2 = only the value size; delete option 1 = check the key exists.
 * Iterate request: option 1 = open, 2 = close.
 */
export const KvOption = {
  MustExist: 1 << 8,
  MustNotExist: 1 << 9,
  NoCompress: 1 << 10,
  Append: 1 << 11,
  VendorRetrieveSizeOnly: 1 << 9,
  VendorDeleteCheckExist: 1 << 8,
  VendorIterOpen: 1 << 8,
  VendorIterClose: 1 << 9,
} as const;

/** The fields of a KV command both layouts share. */
export interface KvCommand {
  opcode: number;
  /** Key length as the command states it (CDW11 bits 7:0); may be out of range. */
  keyLength: number;
  /** The key (first min(keyLength, 16) bytes of the key field); a view into the SQE. */
  key: Buffer;
  /** CDW10: value size (store) or host buffer size (retrieve, list), in bytes. */
  cdw10: number;
  /** CDW11 with the key length masked off (the option bits). */
  options: number;
}

/** NVMe KV key dwords in order: CDW2, CDW3, CDW14, CDW15 (key byte 0 in the low byte of CDW2). */
const NVME_KV_KEY_DWORDS = [SqeOff.cdw2, SqeOff.cdw3, SqeOff.cdw14, SqeOff.cdw15] as const;

/** Copy the key field of an SQE into `out` (16 bytes) for a layout; returns `out`. */
export function readKeyField(sqe: Buffer, set: KvCommandSet, out: Buffer): Buffer {
  if (set === 'nvmevirt') {
    // CDW12..CDW15, contiguous: key byte 0 is the low byte of CDW12.
    sqe.copy(out, 0, SqeOff.cdw12, SqeOff.cdw12 + KV_MAX_KEY_LENGTH);
  } else {
    for (let i = 0; i < 4; i++) sqe.copy(out, i * 4, NVME_KV_KEY_DWORDS[i]!, NVME_KV_KEY_DWORDS[i]! + 4);
  }
  return out;
}

/**
 * Decode the KV fields of an SQE. The key is a fresh 16-byte buffer cut to the key length.
 * `zeroBasedKeyLength`: CDW11[7:0] holds length - 1 (NVMeVirt's code, Samsung's KV SDK).
 */
export function decodeKvCommand(sqe: Buffer, set: KvCommandSet, zeroBasedKeyLength = false): KvCommand {
  const cdw11 = sqe.readUInt32LE(SqeOff.cdw11);
  const keyLength = (cdw11 & 0xff) + (zeroBasedKeyLength ? 1 : 0);
  const field = readKeyField(sqe, set, Buffer.alloc(KV_MAX_KEY_LENGTH));
  return {
    opcode: sqe[SqeOff.opcode]!,
    keyLength,
    key: field.subarray(0, Math.min(keyLength, KV_MAX_KEY_LENGTH)),
    cdw10: sqe.readUInt32LE(SqeOff.cdw10),
    options: cdw11 & ~0xff,
  };
}

/** What the initiator puts in a KV SQE (the SGL is the queue's business). */
export interface KvSqeInput {
  opcode: number;
  nsid: number;
  key: Buffer;
  /** Default: the key's length. */
  keyLength?: number;
  cdw10?: number;
  /** Option bits already in CDW11 position (KvOption). */
  options?: number;
  /** Put length - 1 in CDW11[7:0] (a vendor namespace with vendor_key_length "zero-based"). */
  zeroBasedKeyLength?: boolean;
}

/** SQE fields (for encodeSqe) of a KV command in a layout. */
export function kvSqeFields(set: KvCommandSet, f: KvSqeInput): {
  opcode: number;
  nsid: number;
  cdw2: number;
  cdw3: number;
  cdw10: number;
  cdw11: number;
  cdw12: number;
  cdw13: number;
  cdw14: number;
  cdw15: number;
} {
  if (f.key.length > KV_MAX_KEY_LENGTH) throw new RangeError(`key is ${f.key.length} bytes; at most ${KV_MAX_KEY_LENGTH} fit in the command`);
  const k = Buffer.alloc(KV_MAX_KEY_LENGTH);
  f.key.copy(k);
  const dw = (i: number): number => k.readUInt32LE(i * 4);
  const kl = (f.keyLength ?? f.key.length) - (f.zeroBasedKeyLength ? 1 : 0);
  const base = { opcode: f.opcode, nsid: f.nsid, cdw10: (f.cdw10 ?? 0) >>> 0, cdw11: ((f.options ?? 0) & ~0xff | (kl & 0xff)) >>> 0 };
  return set === 'nvmevirt'
    ? { ...base, cdw2: 0, cdw3: 0, cdw12: dw(0), cdw13: dw(1), cdw14: dw(2), cdw15: dw(3) }
    : { ...base, cdw2: dw(0), cdw3: dw(1), cdw12: 0, cdw13: 0, cdw14: dw(2), cdw15: dw(3) };
}

// ---- List (NVMe KV 06h) output ----

/**
 * KV List data: Number of Returned Keys (4 bytes), then per key a Key Length (2 bytes) and the
 * key, each entry padded with zeroes to end on a 4-byte boundary. Only whole entries that fit in
 * `bufferSize` are returned; returns the data and how many keys it holds.
 */
export function encodeKvList(keys: readonly Buffer[], bufferSize: number): { data: Buffer; count: number } {
  const entry = (k: Buffer): number => (2 + k.length + 3) & ~3;
  let size = 4;
  let count = 0;
  for (const k of keys) {
    if (size + entry(k) > bufferSize) break;
    size += entry(k);
    count++;
  }
  const data = Buffer.alloc(Math.min(Math.max(size, 4), Math.max(bufferSize, 0)));
  if (data.length < 4) return { data, count: 0 };
  data.writeUInt32LE(count, 0);
  let off = 4;
  for (let i = 0; i < count; i++) {
    const k = keys[i]!;
    data.writeUInt16LE(k.length, off);
    k.copy(data, off + 2);
    off += entry(k);
  }
  return { data, count };
}

export function decodeKvList(b: Buffer): Buffer[] {
  if (b.length < 4) return [];
  const n = b.readUInt32LE(0);
  const out: Buffer[] = [];
  let off = 4;
  for (let i = 0; i < n && off + 2 <= b.length; i++) {
    const len = b.readUInt16LE(off);
    out.push(Buffer.from(b.subarray(off + 2, off + 2 + len)));
    off += (2 + len + 3) & ~3;
  }
  return out;
}

// ---- Vendor iterate read (B2h) output: our format, documented in README ----

/** Iterate read data: key count (4 bytes), then per key its length (4 bytes) and the key padded to 4 bytes. */
export function encodeIterRead(keys: readonly Buffer[], bufferSize: number): { data: Buffer; count: number } {
  const entry = (k: Buffer): number => 4 + ((k.length + 3) & ~3);
  let size = 4;
  let count = 0;
  for (const k of keys) {
    if (size + entry(k) > bufferSize) break;
    size += entry(k);
    count++;
  }
  const data = Buffer.alloc(bufferSize >= 4 ? size : 0);
  if (data.length === 0) return { data, count: 0 };
  data.writeUInt32LE(count, 0);
  let off = 4;
  for (let i = 0; i < count; i++) {
    const k = keys[i]!;
    data.writeUInt32LE(k.length, off);
    k.copy(data, off + 4);
    off += entry(k);
  }
  return { data, count };
}

export function decodeIterRead(b: Buffer): Buffer[] {
  if (b.length < 4) return [];
  const n = b.readUInt32LE(0);
  const out: Buffer[] = [];
  let off = 4;
  for (let i = 0; i < n && off + 4 <= b.length; i++) {
    const len = b.readUInt32LE(off);
    out.push(Buffer.from(b.subarray(off + 4, off + 4 + len)));
    off += 4 + ((len + 3) & ~3);
  }
  return out;
}

// ---- Vendor batch (85h) payload: Samsung KV-SSD's layout ----

/** Sub-commands one batch carries at most, and the fixed head before their data. */
export const KV_BATCH_MAX = 8;
/** 8 sub-command attributes of 16 bytes, then 384 reserved bytes. */
export const KV_BATCH_HEAD_SIZE = 512;
const BATCH_ATTR_SIZE = 16;
/** Each sub-command's data: a 64-byte (unused) header, the key and the value, each padded to 64 bytes. */
const BATCH_SUB_HEAD_SIZE = 64;
const align64 = (n: number): number => Math.ceil(n / 64) * 64;
/** Sub-command attribute: opcode (byte 0), key size (1), value size (4..7), option (8), key space id (9). */
export const KvBatchAttrOff = { opcode: 0, keySize: 1, valueSize: 4, option: 8, keySpace: 9 } as const;

export interface KvBatchEntry {
  /** KvVendorOpcode.Store, or Delete (A1h; Samsung's header names A0h, also accepted). */
  opcode: number;
  key: Buffer;
  value: Buffer;
  /** Option byte (store: 2 = idempotent). */
  option: number;
}

/** Encode a batch payload; CDW10 = its size in dwords, CDW11[7:0] = the entry count. */
export function encodeKvBatch(entries: readonly KvBatchEntry[]): Buffer {
  if (entries.length < 1 || entries.length > KV_BATCH_MAX) throw new RangeError(`a batch holds 1..${KV_BATCH_MAX} sub-commands, got ${entries.length}`);
  let size = KV_BATCH_HEAD_SIZE;
  for (const e of entries) size += BATCH_SUB_HEAD_SIZE + align64(e.key.length) + align64(e.value.length);
  const b = Buffer.alloc(size);
  let off = KV_BATCH_HEAD_SIZE;
  entries.forEach((e, i) => {
    if (e.key.length < 1 || e.key.length > KV_MAX_KEY_LENGTH) throw new RangeError(`batch key ${i} is ${e.key.length} bytes; 1..${KV_MAX_KEY_LENGTH}`);
    const a = i * BATCH_ATTR_SIZE;
    b[a + KvBatchAttrOff.opcode] = e.opcode;
    b[a + KvBatchAttrOff.keySize] = e.key.length;
    b.writeUInt32LE(e.value.length, a + KvBatchAttrOff.valueSize);
    b[a + KvBatchAttrOff.option] = e.option;
    off += BATCH_SUB_HEAD_SIZE;
    e.key.copy(b, off);
    off += align64(e.key.length);
    e.value.copy(b, off);
    off += align64(e.value.length);
  });
  return b;
}

/** Decode `count` sub-commands (views into `b`); null when the payload is malformed or too short. */
export function decodeKvBatch(b: Buffer, count: number): KvBatchEntry[] | null {
  if (count < 1 || count > KV_BATCH_MAX || b.length < KV_BATCH_HEAD_SIZE) return null;
  const out: KvBatchEntry[] = [];
  let off = KV_BATCH_HEAD_SIZE;
  for (let i = 0; i < count; i++) {
    const a = i * BATCH_ATTR_SIZE;
    const keySize = b[a + KvBatchAttrOff.keySize]!;
    const valueSize = b.readUInt32LE(a + KvBatchAttrOff.valueSize);
    off += BATCH_SUB_HEAD_SIZE;
    const keyAt = off;
    off += align64(keySize);
    const valueAt = off;
    if (valueAt + valueSize > b.length) return null;
    off += align64(valueSize);
    out.push({
      opcode: b[a + KvBatchAttrOff.opcode]!,
      key: b.subarray(keyAt, keyAt + keySize),
      value: b.subarray(valueAt, valueAt + valueSize),
      option: b[a + KvBatchAttrOff.option]!,
    });
  }
  return out;
}

// ---- Identify (CNS 05h / 06h with CSI 01h) ----

/** Byte offsets of the KV Command Set Identify Namespace data structure. */
export const IdKvNsOff = {
  nsze: 0,
  nuse: 16,
  nsfeat: 24,
  nkvf: 25,
  nmic: 26,
  rescap: 27,
  fpi: 28,
  novg: 32,
  anagrpid: 36,
  nsattr: 43,
  nvmsetid: 44,
  endgid: 46,
  nguid: 48,
  eui64: 64,
  /** KV Format 0; each format is 16 bytes. */
  kvf: 72,
} as const;
/** Within a KV format: max key length, format options, max value length, max number of keys. */
export const KvfOff = { kml: 0, fopt: 3, vml: 4, mnk: 8 } as const;
export const KVF_SIZE = 16;

export interface KvFormat {
  maxKeyLength: number;
  maxValueLength: number;
  /** 0 = no limit reported. */
  maxKeys: number;
}

export interface IdentifyKvNamespaceFields {
  /** Namespace size and utilisation, in bytes. */
  nsze: bigint;
  nuse: bigint;
  nsfeat: number;
  nmic: number;
  /** Namespace optimal value granularity, bytes. */
  novg: number;
  anagrpid: number;
  formats: KvFormat[];
  nguid: Buffer;
  eui64: Buffer;
}

export function encodeIdentifyKvNamespace(f: IdentifyKvNamespaceFields): Buffer {
  const b = Buffer.alloc(4096);
  const o = IdKvNsOff;
  b.writeBigUInt64LE(f.nsze, o.nsze);
  b.writeBigUInt64LE(f.nuse, o.nuse);
  b[o.nsfeat] = f.nsfeat;
  b[o.nkvf] = Math.max(0, f.formats.length - 1); // zero-based
  b[o.nmic] = f.nmic;
  b.writeUInt32LE(f.novg >>> 0, o.novg);
  b.writeUInt32LE(f.anagrpid >>> 0, o.anagrpid);
  f.nguid.copy(b, o.nguid, 0, 16);
  f.eui64.copy(b, o.eui64, 0, 8);
  f.formats.forEach((k, i) => {
    const off = o.kvf + i * KVF_SIZE;
    b.writeUInt16LE(k.maxKeyLength, off + KvfOff.kml);
    b.writeUInt32LE(k.maxValueLength >>> 0, off + KvfOff.vml);
    b.writeUInt32LE(k.maxKeys >>> 0, off + KvfOff.mnk);
  });
  return b;
}

export interface IdentifyKvNamespaceInfo {
  nsze: bigint;
  nuse: bigint;
  formats: KvFormat[];
}

export function decodeIdentifyKvNamespace(b: Buffer): IdentifyKvNamespaceInfo {
  const o = IdKvNsOff;
  const n = b[o.nkvf]! + 1;
  const formats: KvFormat[] = [];
  for (let i = 0; i < n; i++) {
    const off = o.kvf + i * KVF_SIZE;
    formats.push({ maxKeyLength: b.readUInt16LE(off + KvfOff.kml), maxValueLength: b.readUInt32LE(off + KvfOff.vml), maxKeys: b.readUInt32LE(off + KvfOff.mnk) });
  }
  return { nsze: b.readBigUInt64LE(o.nsze), nuse: b.readBigUInt64LE(o.nuse), formats };
}

/**
 * I/O Command Set specific Identify Controller for the KV Command Set (CNS 06h, CSI 01h): KV
 * Command Set 1.0 defines no controller fields, so the structure is all zeroes.
 */
export function encodeIdentifyKvController(): Buffer {
  return Buffer.alloc(4096);
}
