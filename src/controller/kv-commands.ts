// Key-value commands, in the two layouts a `kv` namespace can be driven with (src/protocol/kv.ts):
// - nvmevirt: NVMeVirt / Samsung KV-SSD vendor opcodes on a namespace identified as NVM (CSI 0),
//   key in CDW12..15, key length in CDW11 bits 7:0 as the byte count (the convention of NVMeVirt's
//   users' io-passthru scripts; length - 1 with vendor_key_length "zero-based", as NVMeVirt's code
//   and Samsung's SDK), value length from the transfer itself (CDW10 is ambiguous:
//   NVMeVirt reads it in dwords, scripts pass bytes). NVM Read and Flush also work (the block side
//   reads as zeroes) so the host's partition scan of /dev/nvmeXnY succeeds. Errors carry the
//   statuses NVMeVirt and Samsung's KV SDK use (SCT 3: 310h key does not exist, 303h key length,
//   301h value length, 312h capacity, 380h key exists), not the KV command set's.
// - nvme-kv: the NVMe Key Value Command Set (CSI 01h): Store, Retrieve, List, Delete, Exist, Flush.
//
// As in io-commands.ts, every decision and every byte copy happens here, synchronously on the
// network thread, against the namespace's KvStore; then the op goes to the kv device model and the
// command completes at the modelled time with the status decided here (failures such as a missing
// key are timed too; a malformed command is refused at once, before it reaches the device).
import { KvStore } from '../devices/kv/kv-store.js';
import { ModelOp } from '../devices/model.js';
import { Csi, NvmOpcode } from '../protocol/constants.js';
import { decodeKvBatch, decodeKvCommand, encodeIterRead, encodeKvList, KvOpcode, KvOption, KvVendorOpcode, type KvCommand } from '../protocol/kv.js';
import { cdw } from '../protocol/sqe.js';
import { Status } from '../protocol/status.js';
import { finish } from './io-commands.js';
import type { Namespace } from './namespace.js';
import type { NvmeRequest } from './request.js';

/** executeKv's answer for a command the NVM path should run (vendor layout: Read, Flush). */
export const KV_NOT_HANDLED = -2;

export function executeKv(ns: Namespace, kv: KvStore, req: NvmeRequest): number {
  return ns.csi === Csi.KeyValue ? nvmeKv(ns, kv, req) : vendor(ns, kv, req);
}

/**
 * The vendor layout answers with the statuses of NVMeVirt and Samsung's KV-SSDs (what their KV
 * SDK checks), the NVMe KV command set with the spec's.
 */
const VENDOR_STATUS = new Map<number, number>([
  [Status.KvKeyDoesNotExist, Status.KvVendorKeyNotExist],
  [Status.KvInvalidKeySize, Status.KvVendorKeyLengthInvalid],
  [Status.KvInvalidValueSize, Status.KvVendorValueLengthInvalid],
  [Status.CapacityExceeded, Status.KvVendorCapacityExceeded],
  [Status.KvKeyExists, Status.KvVendorKeyExists],
]);

const forLayout = (ns: Namespace, status: number): number => (ns.csi === Csi.KeyValue ? status : (VENDOR_STATUS.get(status) ?? status));

// ---- NVMe Key Value Command Set (CSI 01h) ----

function nvmeKv(ns: Namespace, kv: KvStore, req: NvmeRequest): number {
  if (req.opcode === KvOpcode.Flush) {
    ns.stats.flushes++;
    return finish(ns, req, ModelOp.Flush, 0, 0, false, Status.Success);
  }
  const c = decodeKvCommand(req.sqe, 'nvme-kv');
  switch (req.opcode) {
    case KvOpcode.Store: {
      if (!KvStore.keyLengthValid(c.keyLength)) return Status.KvInvalidKeySize;
      const size = c.cdw10;
      if (size > kv.maxValueBytes) return Status.KvInvalidValueSize;
      if (size > req.dataLength) return Status.DataSglLengthInvalid;
      const mustExist = (c.options & KvOption.MustExist) !== 0;
      const mustNotExist = (c.options & KvOption.MustNotExist) !== 0;
      if (mustExist && mustNotExist) return Status.InvalidField;
      return store(ns, kv, req, c, size, { mustExist, mustNotExist, append: (c.options & KvOption.Append) !== 0 });
    }
    case KvOpcode.Retrieve:
      if (!KvStore.keyLengthValid(c.keyLength)) return Status.KvInvalidKeySize;
      return retrieve(ns, kv, req, c, Math.min(c.cdw10, req.dataLength), false);
    case KvOpcode.List: {
      // Key length 0 lists from the first key.
      if (c.keyLength > 16) return Status.KvInvalidKeySize;
      const keys = kv.list(c.key);
      const { data, count } = encodeKvList(keys, Math.min(c.cdw10, req.dataLength));
      if (data.length > 0) {
        req.c2h.push(data);
        req.c2hLength += data.length;
      }
      req.result0 = count;
      return finish(ns, req, ModelOp.KvList, data.length, count, false, Status.Success);
    }
    case KvOpcode.Delete:
      if (!KvStore.keyLengthValid(c.keyLength)) return Status.KvInvalidKeySize;
      return del(ns, kv, req, c, true);
    case KvOpcode.Exist:
      if (!KvStore.keyLengthValid(c.keyLength)) return Status.KvInvalidKeySize;
      return exist(ns, kv, req, c);
    default:
      return Status.InvalidOpcode;
  }
}

// ---- NVMeVirt / Samsung KV-SSD vendor opcodes (CSI 0 namespace) ----

function vendor(ns: Namespace, kv: KvStore, req: NvmeRequest): number {
  switch (req.opcode) {
    case NvmOpcode.Read:
    case NvmOpcode.Flush:
      return KV_NOT_HANDLED;
    case KvVendorOpcode.Store:
    case KvVendorOpcode.Append: {
      const c = decodeKvCommand(req.sqe, 'nvmevirt', kv.vendorKeyLengthZeroBased);
      if (!KvStore.keyLengthValid(c.keyLength)) return Status.KvVendorKeyLengthInvalid;
      // The value is the whole transfer (CDW10 is ambiguous, see the file comment).
      const mustNotExist = req.opcode === KvVendorOpcode.Store && (c.options & KvOption.MustNotExist) !== 0;
      return store(ns, kv, req, c, req.dataLength, { mustNotExist, append: req.opcode === KvVendorOpcode.Append });
    }
    case KvVendorOpcode.Retrieve: {
      const c = decodeKvCommand(req.sqe, 'nvmevirt', kv.vendorKeyLengthZeroBased);
      if (!KvStore.keyLengthValid(c.keyLength)) return Status.KvVendorKeyLengthInvalid;
      return retrieve(ns, kv, req, c, req.dataLength, (c.options & KvOption.VendorRetrieveSizeOnly) !== 0);
    }
    case KvVendorOpcode.Delete: {
      const c = decodeKvCommand(req.sqe, 'nvmevirt', kv.vendorKeyLengthZeroBased);
      if (!KvStore.keyLengthValid(c.keyLength)) return Status.KvVendorKeyLengthInvalid;
      return del(ns, kv, req, c, (c.options & KvOption.VendorDeleteCheckExist) !== 0);
    }
    case KvVendorOpcode.Exist: {
      const c = decodeKvCommand(req.sqe, 'nvmevirt', kv.vendorKeyLengthZeroBased);
      if (!KvStore.keyLengthValid(c.keyLength)) return Status.KvVendorKeyLengthInvalid;
      return exist(ns, kv, req, c);
    }
    case KvVendorOpcode.Batch:
      return batch(ns, kv, req);
    case KvVendorOpcode.IterRequest:
      return iterRequest(ns, kv, req);
    case KvVendorOpcode.IterRead:
      return iterRead(ns, kv, req);
    default:
      return Status.InvalidOpcode;
  }
}

/** Samsung's batch header names A0h for a delete sub-command; A1h (the delete opcode) is accepted too. */
const BATCH_DELETE_ALT = 0xa0;
/** Sub-command store option 2: idempotent (fail if the key exists), as the Store opcode's. */
const BATCH_IDEMPOTENT = 0x02;

/**
 * Batch (85h, Samsung KV-SSD payload, see encodeKvBatch): CDW11[7:0] sub-commands, stores (81h)
 * and deletes, applied in order. Malformed batches change nothing (Invalid Field, or 303h for a
 * bad key length); otherwise the first failing store stops the batch with its status, and dword
 * 0 says how many sub-commands were applied. Timed as one store of all the values.
 */
function batch(ns: Namespace, kv: KvStore, req: NvmeRequest): number {
  const entries = req.data === null ? null : decodeKvBatch(req.data, cdw(req.sqe, 11) & 0xff);
  if (entries === null) return Status.InvalidField;
  for (const e of entries) {
    if (e.opcode !== KvVendorOpcode.Store && e.opcode !== KvVendorOpcode.Delete && e.opcode !== BATCH_DELETE_ALT) return Status.InvalidField;
    if (!KvStore.keyLengthValid(e.key.length)) return Status.KvVendorKeyLengthInvalid;
  }
  let applied = 0;
  let bytes = 0;
  let status: number = Status.Success;
  for (const e of entries) {
    if (e.opcode === KvVendorOpcode.Store) {
      status = forLayout(ns, kv.store(e.key, e.value, { mustNotExist: (e.option & BATCH_IDEMPOTENT) !== 0 }));
      if (status !== Status.Success) break;
      bytes += e.value.length;
      ns.stats.writeCommands++;
      ns.stats.bytesWritten += e.value.length;
    } else {
      kv.delete(e.key);
    }
    applied++;
  }
  req.result0 = applied;
  return finish(ns, req, ModelOp.KvStore, bytes, applied, false, status);
}

/**
 * Iterate request (B1h): option 1 (CDW11 bit 8) opens an iterator over the keys that start with
 * the key field's first CDW11[7:0] bytes (a byte count whatever vendor_key_length says; 0 = every
 * key), the handle in CQE dword 0; option 2
 * (bit 9) closes the iterator whose handle is in CDW10.
 */
function iterRequest(ns: Namespace, kv: KvStore, req: NvmeRequest): number {
  const c = decodeKvCommand(req.sqe, 'nvmevirt');
  if (c.keyLength > 16) return Status.KvVendorKeyLengthInvalid;
  let status: number;
  if ((c.options & KvOption.VendorIterOpen) !== 0) {
    const h = kv.openIterator(Buffer.from(c.key));
    if (h === 0) status = Status.KvVendorIterateFailed; // too many open iterators
    else {
      req.result0 = h;
      status = Status.Success;
    }
  } else if ((c.options & KvOption.VendorIterClose) !== 0) {
    status = kv.closeIterator(c.cdw10) ? Status.Success : Status.KvVendorIterateFailed;
  } else {
    return Status.InvalidField;
  }
  return finish(ns, req, ModelOp.KvList, 0, 0, false, status);
}

/** Iterate read (B2h): the next keys of iterator CDW10 that fit in the transfer; count in dword 0. */
function iterRead(ns: Namespace, kv: KvStore, req: NvmeRequest): number {
  const handle = cdw(req.sqe, 10);
  const keys = kv.peekIterator(handle, 1 + Math.floor(req.dataLength / 8));
  if (keys === null) return Status.KvVendorIterateFailed;
  const { data, count } = encodeIterRead(keys, req.dataLength);
  kv.advanceIterator(handle, count);
  if (data.length > 0) {
    req.c2h.push(data);
    req.c2hLength += data.length;
  }
  req.result0 = count;
  return finish(ns, req, ModelOp.KvList, data.length, count, false, Status.Success);
}

// ---- shared semantics ----

function store(
  ns: Namespace,
  kv: KvStore,
  req: NvmeRequest,
  c: KvCommand,
  size: number,
  flags: { mustExist?: boolean; mustNotExist?: boolean; append?: boolean },
): number {
  if (size > 0 && req.data === null) return Status.DataSglLengthInvalid;
  const value = size === 0 ? EMPTY : req.data!.subarray(0, size);
  const status = forLayout(ns, kv.store(c.key, value, flags));
  if (status === Status.Success) {
    ns.stats.writeCommands++;
    ns.stats.bytesWritten += size;
  }
  return finish(ns, req, ModelOp.KvStore, status === Status.Success ? size : 0, c.keyLength, false, status);
}

function retrieve(ns: Namespace, kv: KvStore, req: NvmeRequest, c: KvCommand, room: number, sizeOnly: boolean): number {
  const v = kv.retrieve(c.key);
  if (v === null) return finish(ns, req, ModelOp.KvRetrieve, 0, c.keyLength, false, forLayout(ns, Status.KvKeyDoesNotExist));
  // What fits goes to the host; dword 0 reports the value's full size.
  const n = sizeOnly ? 0 : Math.min(v.length, room);
  if (n > 0) {
    req.c2h.push(n === v.length ? v : v.subarray(0, n));
    req.c2hLength += n;
  }
  req.result0 = v.length;
  ns.stats.readCommands++;
  ns.stats.bytesRead += n;
  return finish(ns, req, ModelOp.KvRetrieve, n, c.keyLength, false, Status.Success);
}

function del(ns: Namespace, kv: KvStore, req: NvmeRequest, c: KvCommand, mustExist: boolean): number {
  const freed = kv.valueSize(c.key);
  const had = kv.delete(c.key);
  const status = had || !mustExist ? Status.Success : forLayout(ns, Status.KvKeyDoesNotExist);
  return finish(ns, req, ModelOp.KvDelete, had ? freed : 0, c.keyLength, false, status);
}

function exist(ns: Namespace, kv: KvStore, req: NvmeRequest, c: KvCommand): number {
  const status = kv.exists(c.key) ? Status.Success : forLayout(ns, Status.KvKeyDoesNotExist);
  return finish(ns, req, ModelOp.KvExist, 0, c.keyLength, false, status);
}

const EMPTY = Buffer.alloc(0);
