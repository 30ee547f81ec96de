// NVM command set: Read, Write, Flush, Write Zeroes, Dataset Management, Compare, Verify.
// This is the per-I/O path: no allocation beyond the views the device hands back.
//
// Everything a command does to data happens here, synchronously, on the network thread: range
// checks, statuses, the copy into or out of the namespace's store. So by the time a write is
// acknowledged its data is in the store, and any later read sees it. Then, when the namespace has
// a device model, the model op goes to its worker (device engine) and the command completes at
// the modelled time (ASYNC; the engine calls req.complete). Op mapping: Read / Compare / Verify ->
// Read, Write -> Write (FUA = CDW12 bit 30), Write Zeroes -> WriteZeroes (FUA too), Flush -> Flush,
// Dataset Management with AD -> one Trim per non-empty range (complete when all are).
// Zoned namespaces: reads and writes pass the zone checks first, and the Zoned Namespace Command
// Set's own commands are handled in zns-commands.ts.
import type { CompletionSink } from '../devices/engine/engine.js';
import { ModelOp, type ModelOpCode } from '../devices/model.js';
import { getU32 } from '../protocol/bytes.js';
import { NvmOpcode } from '../protocol/constants.js';
import { SqeOff } from '../protocol/sqe.js';
import { Status } from '../protocol/status.js';
import type { Controller } from './controller.js';
import { executeKv, KV_NOT_HANDLED } from './kv-commands.js';
import type { FaultInjector } from '../devices/fault-injector.js';
import type { Namespace } from './namespace.js';
import { ASYNC, type NvmeRequest } from './request.js';
import { executeZns, zoneCheck } from './zns-commands.js';

const NSID_ALL = 0xffffffff;
const DSM_RANGE_SIZE = 16;
const DSM_AD = 1 << 2;
const TWO32 = 0x100000000;
const CDW12_FUA = 1 << 30;

/** An I/O command for namespace `ns` (the transport's lookup of req.nsid, undefined if none). */
export function executeIo(ctrl: Controller, req: NvmeRequest, ns: Namespace | undefined): number {
  if (ns === undefined || !ns.enabled) {
    if (req.opcode === NvmOpcode.Flush && req.nsid === NSID_ALL) return flushAll(ctrl, req);
    return Status.InvalidNamespace;
  }
  if (ns.kv !== null) {
    // Key-value namespace: its command layout decides (src/controller/kv-commands.ts).
    const st = executeKv(ns, ns.kv, req);
    if (st !== KV_NOT_HANDLED) return st;
  }
  const sqe = req.sqe;
  switch (req.opcode) {
    case NvmOpcode.Read:
    case NvmOpcode.Write:
    case NvmOpcode.Compare:
    case NvmOpcode.WriteZeroes:
    case NvmOpcode.Verify: {
      const slba = getU32(sqe, SqeOff.cdw10) + getU32(sqe, SqeOff.cdw11) * TWO32;
      const nlb = (getU32(sqe, SqeOff.cdw12) & 0xffff) + 1;
      if (slba + nlb > ns.nlb) return Status.LbaOutOfRange;
      if (ns.zones === null) return ns.faults !== null ? withFaults(ns, ns.faults, req, slba, nlb, rw) : rw(ns, req, slba, nlb);
      if (ns.faults === null) return zonedRw(ns, req, slba, nlb);
      // An injected fault only hits a command that could otherwise be done (zone state, memory).
      const st = zonedCheck(ns, req, slba, nlb);
      return st !== Status.Success ? st : withFaults(ns, ns.faults, req, slba, nlb, zonedRw);
    }
    case NvmOpcode.ZoneMgmtSend:
    case NvmOpcode.ZoneMgmtReceive:
    case NvmOpcode.ZoneAppend:
      return ns.zones === null ? Status.InvalidOpcode : executeZns(ns, ns.zones, req);
    case NvmOpcode.Flush:
      ns.stats.flushes++;
      if (ns.device.persistent) return finishDurable(ns, req, ModelOp.Flush, 0, 0, false, Status.Success);
      return finish(ns, req, ModelOp.Flush, 0, 0, false, Status.Success);
    case NvmOpcode.DatasetManagement:
      return dsm(ns, req);
    default:
      return Status.InvalidOpcode;
  }
}

export type RwFn = (ns: Namespace, req: NvmeRequest, slba: number, nlb: number) => number;

/**
 * A command on [slba, slba+nlb) of a namespace with injected faults (src/devices/fault-injector.ts);
 * `run` does the command. A failed write leaves a zoned namespace's write pointer where it was:
 * `run` moves it and is not called. (A ZNS drive may instead take the zone read-only or offline
 * after a program failure; an unchanged pointer is the simplest behaviour the spec allows, and
 * the host may retry at it.)
 */
export function withFaults(ns: Namespace, faults: FaultInjector, req: NvmeRequest, slba: number, nlb: number, run: RwFn): number {
  const write = req.opcode === NvmOpcode.Write || req.opcode === NvmOpcode.WriteZeroes || req.opcode === NvmOpcode.ZoneAppend;
  const hit = faults.match(write, slba, nlb);
  if (faults.size === 0) ns.faults = null; // the last one was used up: back to the plain path
  if (hit === null) return run(ns, req, slba, nlb);
  switch (hit.fault.type) {
    case 'read_error':
    case 'write_error':
      // Nothing read or written; the error log gets the first failing LBA, SMART a media error.
      ns.stats.mediaErrors++;
      req.errorLba = hit.lba;
      return hit.fault.type === 'read_error' ? Status.UnrecoveredReadError : Status.WriteFault;
    default: {
      // Slow I/O: the command starts late (timer precision: ms, enough for "a slow device").
      setTimeout(() => {
        const st = run(ns, req, slba, nlb);
        if (st !== ASYNC) req.complete(st);
      }, hit.fault.delay_ms);
      return ASYNC;
    }
  }
}

/**
 * Can a zoned namespace's read or write be done now? The zone checks, then memory for a Write; no
 * change to any zone. Whatever can refuse a write is decided before its write pointer moves.
 */
function zonedCheck(ns: Namespace, req: NvmeRequest, slba: number, nlb: number): number {
  const bytes = nlb << ns.lbaShift;
  const zs = zoneCheck(ns.zones!, req, slba, nlb, bytes);
  if (zs !== Status.Success) return zs;
  return req.opcode === NvmOpcode.Write && !ns.device.canWrite(slba * ns.lbaSize, bytes) ? Status.CapacityExceeded : Status.Success;
}

/** A zoned namespace's read or write: the checks, the write pointer moved for a write, then rw (which cannot fail now). */
function zonedRw(ns: Namespace, req: NvmeRequest, slba: number, nlb: number): number {
  const st = zonedCheck(ns, req, slba, nlb);
  if (st !== Status.Success) return st;
  if (req.opcode === NvmOpcode.Write || req.opcode === NvmOpcode.WriteZeroes) {
    const zs = ns.zones!.write(slba, nlb);
    if (zs !== Status.Success) return zs;
  }
  return rw(ns, req, slba, nlb);
}

function rw(ns: Namespace, req: NvmeRequest, slba: number, nlb: number): number {
  const dev = ns.device;
  const offset = slba * ns.lbaSize;
  const bytes = nlb << ns.lbaShift;
  switch (req.opcode) {
    case NvmOpcode.Read:
      if (req.dataLength !== bytes) return Status.DataSglLengthInvalid;
      dev.readv(offset, bytes, req.c2h, req);
      req.c2hLength = bytes;
      ns.stats.readCommands++;
      ns.stats.bytesRead += bytes;
      return finish(ns, req, ModelOp.Read, slba, nlb, false, Status.Success);
    case NvmOpcode.Write:
      if (req.dataLength !== bytes || req.data === null) return Status.DataSglLengthInvalid;
      if (!dev.write(offset, req.data, 0, bytes)) return Status.CapacityExceeded;
      ns.stats.writeCommands++;
      ns.stats.bytesWritten += bytes;
      if (dev.persistent && fuaOf(req)) return finishDurable(ns, req, ModelOp.Write, slba, nlb, true, Status.Success);
      return finish(ns, req, ModelOp.Write, slba, nlb, fuaOf(req), Status.Success);
    case NvmOpcode.Compare: {
      if (req.dataLength !== bytes || req.data === null) return Status.DataSglLengthInvalid;
      ns.stats.readCommands++;
      ns.stats.bytesRead += bytes;
      const same = dev.equals(offset, req.data.subarray(0, bytes));
      return finish(ns, req, ModelOp.Read, slba, nlb, false, same ? Status.Success : Status.CompareFailure);
    }
    case NvmOpcode.WriteZeroes:
      dev.zero(offset, bytes);
      ns.stats.writeCommands++;
      if (dev.persistent && fuaOf(req)) return finishDurable(ns, req, ModelOp.WriteZeroes, slba, nlb, true, Status.Success);
      return finish(ns, req, ModelOp.WriteZeroes, slba, nlb, fuaOf(req), Status.Success);
    default: // Verify: the memory medium has no unrecoverable errors to find; the device still reads
      return finish(ns, req, ModelOp.Read, slba, nlb, false, Status.Success);
  }
}

const fuaOf = (req: NvmeRequest): boolean => (getU32(req.sqe, SqeOff.cdw12) & CDW12_FUA) !== 0;

function dsm(ns: Namespace, req: NvmeRequest): number {
  const nr = (req.sqe.readUInt32LE(SqeOff.cdw10) & 0xff) + 1;
  const attrs = req.sqe.readUInt32LE(SqeOff.cdw11);
  const need = nr * DSM_RANGE_SIZE;
  if (req.data === null || req.dataLength < need) return Status.DataSglLengthInvalid;
  if ((attrs & DSM_AD) === 0) return Status.Success; // hints only: nothing for the device to do
  const d = req.data;
  // Check every range before touching any, so an error leaves the namespace unchanged.
  let ops = 0;
  for (let i = 0; i < nr; i++) {
    const o = i * DSM_RANGE_SIZE;
    const len = d.readUInt32LE(o + 4);
    const slba = d.readUInt32LE(o + 8) + d.readUInt32LE(o + 12) * TWO32;
    if (slba + len > ns.nlb) return Status.LbaOutOfRange;
    if (len !== 0) ops++;
  }
  const m = ns.model;
  const viaEngine = m !== null && !m.inline && ops > 0;
  if (viaEngine && !m.available) return Status.InternalError;
  const sink: CompletionSink | null = !viaEngine ? null : ops === 1 ? req : new Join(req, ops);
  let total = 0;
  for (let i = 0; i < nr; i++) {
    const o = i * DSM_RANGE_SIZE;
    const len = d.readUInt32LE(o + 4);
    const slba = d.readUInt32LE(o + 8) + d.readUInt32LE(o + 12) * TWO32;
    if (len === 0) continue;
    ns.device.zero(slba * ns.lbaSize, len * ns.lbaSize);
    total += len * ns.lbaSize;
    if (sink !== null) m!.submit(sink, Status.Success, ModelOp.Trim, slba, len, false);
    else if (m !== null && m.inline) m.countInline(ModelOp.Trim, len * ns.lbaSize);
  }
  ns.stats.discards++;
  ns.stats.bytesDiscarded += total;
  return sink !== null ? ASYNC : Status.Success;
}

/** Flush of every namespace (NSID FFFFFFFFh): complete when each model has flushed and each file is durable. */
function flushAll(ctrl: Controller, req: NvmeRequest): number {
  let n = 0;
  for (const ns of ctrl.subsys.namespaces.values()) {
    if (!ns.enabled) continue;
    if (ns.device.persistent) n++;
    if (ns.model === null || ns.model.inline) continue;
    if (!ns.model.available) return Status.InternalError;
    n++;
  }
  if (n === 0) return Status.Success;
  const sink: CompletionSink = n === 1 ? req : new Join(req, n);
  for (const ns of ctrl.subsys.namespaces.values()) {
    if (!ns.enabled) continue;
    if (ns.device.persistent) durableThen(ns, sink, Status.Success);
    if (ns.model === null || ns.model.inline) continue;
    ns.stats.flushes++;
    ns.model.submit(sink, Status.Success, ModelOp.Flush, 0, 0, false);
  }
  return ASYNC;
}

/** Complete `sink` once the namespace's file holds everything acknowledged so far (Write Fault if it cannot). */
function durableThen(ns: Namespace, sink: CompletionSink, status: number): void {
  ns.device.durable().then(
    () => sink.complete(status),
    () => sink.complete(Status.WriteFault),
  );
}

/**
 * Flush or FUA on a file-backed namespace: the command completes when the model's time has come
 * and the data is in the file, whichever is later.
 */
function finishDurable(ns: Namespace, req: NvmeRequest, op: ModelOpCode, slba: number, nlb: number, fua: boolean, status: number): number {
  const m = ns.model;
  const viaModel = m !== null && !m.inline;
  if (viaModel && !m.available) return Status.InternalError;
  const join = new Join(req, viaModel ? 2 : 1);
  if (viaModel) m.submit(join, status, op, slba, nlb, fua);
  durableThen(ns, join, status);
  return ASYNC;
}

/** Completes `req` when all `n` model ops have; the first error status wins. */
export class Join implements CompletionSink {
  private status: number = Status.Success;
  constructor(
    private readonly req: NvmeRequest,
    private n: number,
  ) {}
  complete(status: number): void {
    if (status !== Status.Success && this.status === Status.Success) this.status = status;
    if (--this.n === 0) this.req.complete(this.status);
  }
}

/**
 * Hand the model op to the namespace's worker and complete at the modelled time; or complete now
 * when the namespace has no model, or when it is a zero-latency `nvm` namespace and the engine's
 * inline fast path (EngineOptions.inlineZeroLatency, on by default) is on: its model would return
 * "now" for every command, so the hop would only add latency. Its model then sees no commands; the
 * bytes it would have counted are counted on this side (NamespaceModel.countInline).
 */
export function finish(ns: Namespace, req: NvmeRequest, op: ModelOpCode, slba: number, nlb: number, fua: boolean, status: number): number {
  const m = ns.model;
  if (m === null) return status;
  if (m.inline) {
    m.countInline(op, nlb << ns.lbaShift);
    return status;
  }
  if (!m.available) return Status.InternalError; // worker restarting after a failure: the host retries
  m.submit(req, status, op, slba, nlb, fua);
  return ASYNC;
}
