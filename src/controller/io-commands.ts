// NVM command set: Read, Write, Flush, Write Zeroes, Dataset Management, Compare, Verify.
// This is the per-I/O path: no allocation beyond the views the device hands back.
import { DeviceOp, type DeviceOpCode } from '../devices/block-device.js';
import { NvmOpcode } from '../protocol/constants.js';
import { SqeOff } from '../protocol/sqe.js';
import { Status } from '../protocol/status.js';
import type { Controller } from './controller.js';
import type { Namespace } from './namespace.js';
import { ASYNC, type NvmeRequest } from './request.js';

const NSID_ALL = 0xffffffff;
const DSM_RANGE_SIZE = 16;
const DSM_AD = 1 << 2;
const TWO32 = 0x100000000;

export function executeIo(ctrl: Controller, req: NvmeRequest): number {
  const ns = ctrl.subsys.namespaces.get(req.nsid);
  if (ns === undefined || !ns.enabled) {
    if (req.opcode === NvmOpcode.Flush && req.nsid === NSID_ALL) return Status.Success;
    return Status.InvalidNamespace;
  }
  const sqe = req.sqe;
  switch (req.opcode) {
    case NvmOpcode.Read:
    case NvmOpcode.Write:
    case NvmOpcode.Compare:
    case NvmOpcode.WriteZeroes:
    case NvmOpcode.Verify: {
      const slba = sqe.readUInt32LE(SqeOff.cdw10) + sqe.readUInt32LE(SqeOff.cdw11) * TWO32;
      const nlb = (sqe.readUInt32LE(SqeOff.cdw12) & 0xffff) + 1;
      if (slba + nlb > ns.nlb) return Status.LbaOutOfRange;
      const offset = slba * ns.lbaSize;
      const bytes = nlb << ns.lbaShift;
      return rw(ns, req, offset, bytes);
    }
    case NvmOpcode.Flush:
      ns.stats.flushes++;
      return finish(ns, req, DeviceOp.Flush, 0, Status.Success);
    case NvmOpcode.DatasetManagement:
      return dsm(ns, req);
    default:
      return Status.InvalidOpcode;
  }
}

function rw(ns: Namespace, req: NvmeRequest, offset: number, bytes: number): number {
  const dev = ns.device;
  switch (req.opcode) {
    case NvmOpcode.Read:
      if (req.dataLength !== bytes) return Status.DataSglLengthInvalid;
      dev.readv(offset, bytes, req.c2h);
      req.c2hLength = bytes;
      ns.stats.readCommands++;
      ns.stats.bytesRead += bytes;
      return finish(ns, req, DeviceOp.Read, bytes, Status.Success);
    case NvmOpcode.Write:
      if (req.dataLength !== bytes || req.data === null) return Status.DataSglLengthInvalid;
      dev.write(offset, req.data, 0, bytes);
      ns.stats.writeCommands++;
      ns.stats.bytesWritten += bytes;
      return finish(ns, req, DeviceOp.Write, bytes, Status.Success);
    case NvmOpcode.Compare: {
      if (req.dataLength !== bytes || req.data === null) return Status.DataSglLengthInvalid;
      ns.stats.readCommands++;
      ns.stats.bytesRead += bytes;
      const same = dev.equals(offset, req.data.subarray(0, bytes));
      return finish(ns, req, DeviceOp.Compare, bytes, same ? Status.Success : Status.CompareFailure);
    }
    case NvmOpcode.WriteZeroes:
      dev.zero(offset, bytes);
      ns.stats.writeCommands++;
      return finish(ns, req, DeviceOp.WriteZeroes, bytes, Status.Success);
    default: // Verify: the memory medium has no unrecoverable errors to find
      return finish(ns, req, DeviceOp.Verify, bytes, Status.Success);
  }
}

function dsm(ns: Namespace, req: NvmeRequest): number {
  const nr = (req.sqe.readUInt32LE(SqeOff.cdw10) & 0xff) + 1;
  const attrs = req.sqe.readUInt32LE(SqeOff.cdw11);
  const need = nr * DSM_RANGE_SIZE;
  if (req.data === null || req.dataLength < need) return Status.DataSglLengthInvalid;
  if ((attrs & DSM_AD) === 0) return finish(ns, req, DeviceOp.Deallocate, 0, Status.Success); // hints only
  const d = req.data;
  // Check every range before touching any, so an error leaves the namespace unchanged.
  for (let i = 0; i < nr; i++) {
    const o = i * DSM_RANGE_SIZE;
    const len = d.readUInt32LE(o + 4);
    const slba = d.readUInt32LE(o + 8) + d.readUInt32LE(o + 12) * TWO32;
    if (slba + len > ns.nlb) return Status.LbaOutOfRange;
  }
  let total = 0;
  for (let i = 0; i < nr; i++) {
    const o = i * DSM_RANGE_SIZE;
    const len = d.readUInt32LE(o + 4);
    const slba = d.readUInt32LE(o + 8) + d.readUInt32LE(o + 12) * TWO32;
    if (len === 0) continue;
    ns.device.zero(slba * ns.lbaSize, len * ns.lbaSize);
    total += len * ns.lbaSize;
  }
  ns.stats.discards++;
  ns.stats.bytesDiscarded += total;
  return finish(ns, req, DeviceOp.Deallocate, total, Status.Success);
}

/** Complete now, or after the device's modelled latency. */
function finish(ns: Namespace, req: NvmeRequest, op: DeviceOpCode, bytes: number, status: number): number {
  const ns_ = ns.device.latencyNs(op, bytes);
  ns.stats.busyMs += ns_ / 1e6;
  if (ns_ <= 0) return status;
  // Millisecond timers until the device engine's microsecond scheduler replaces this.
  setTimeout(completeLater, ns_ / 1e6, req, status);
  return ASYNC;
}

function completeLater(req: NvmeRequest, status: number): void {
  req.complete(status);
}
