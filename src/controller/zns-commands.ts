// Zoned Namespace Command Set I/O commands: Zone Management Send, Zone Management Receive, Zone
// Append, and the zone checks every Read / Write / Write Zeroes / Compare / Verify of a zoned
// namespace goes through. As for the NVM commands (io-commands.ts), every decision and every data
// move happens here, synchronously, on the network thread (the zone manager is the source of
// truth for states and write pointers); the device model then decides when the command completes:
// Zone Append -> Write at the assigned LBA, Reset -> ZoneReset per zone reset, Finish ->
// ZoneFinish per zone finished; the other actions and reports complete at once.
import { ModelOp } from '../devices/model.js';
import type { ZoneManager } from '../devices/zns/zones.js';
import { NvmOpcode } from '../protocol/constants.js';
import { SqeOff } from '../protocol/sqe.js';
import { Status } from '../protocol/status.js';
import { decodeZoneMgmtRecv, decodeZoneMgmtSend, ZoneSendAction } from '../protocol/zns.js';
import { finish, Join, withFaults } from './io-commands.js';
import type { Namespace } from './namespace.js';
import { ASYNC, sendData, type NvmeRequest } from './request.js';

const TWO32 = 0x100000000;
const CDW12_FUA = 1 << 30;

/**
 * Zone checks of an NVM read or write on a zoned namespace, before any data moves (the range is
 * already known to be inside the namespace). Nothing changes: a write that passes may still be
 * refused (memory, an injected fault) before the caller moves the write pointer (zones.write).
 */
export function zoneCheck(zones: ZoneManager, req: NvmeRequest, slba: number, nlb: number, bytes: number): number {
  switch (req.opcode) {
    case NvmOpcode.Write:
      if (req.dataLength !== bytes || req.data === null) return Status.DataSglLengthInvalid;
      return zones.checkWrite(slba, nlb);
    case NvmOpcode.WriteZeroes:
      return zones.checkWrite(slba, nlb);
    default: // Read, Compare, Verify
      return zones.checkRead(slba, nlb);
  }
}

export function executeZns(ns: Namespace, zones: ZoneManager, req: NvmeRequest): number {
  switch (req.opcode) {
    case NvmOpcode.ZoneAppend:
      return zoneAppend(ns, zones, req);
    case NvmOpcode.ZoneMgmtSend:
      return zoneMgmtSend(ns, zones, req);
    case NvmOpcode.ZoneMgmtReceive:
      return zoneMgmtReceive(zones, req);
    default:
      return Status.InvalidOpcode;
  }
}

function zoneAppend(ns: Namespace, zones: ZoneManager, req: NvmeRequest): number {
  const sqe = req.sqe;
  const zslba = sqe.readUInt32LE(SqeOff.cdw10) + sqe.readUInt32LE(SqeOff.cdw11) * TWO32;
  const nlb = (sqe.readUInt32LE(SqeOff.cdw12) & 0xffff) + 1;
  if (zslba >= ns.nlb) return Status.LbaOutOfRange;
  if (ns.faults === null) return appendNow(ns, req, zslba, nlb);
  // Injected faults hit the blocks the append would get, once it could otherwise be done.
  const st = appendCheck(ns, zones, req, zslba, nlb);
  if (st !== Status.Success) return st;
  return withFaults(ns, ns.faults, req, zones.wp(zones.zoneOf(zslba)), nlb, (n, r) => appendNow(n, r, zslba, nlb));
}

/**
 * Can the append be done now (zone state, data length, memory)? Nothing changes: a refused
 * append neither moves the write pointer nor is acknowledged.
 */
function appendCheck(ns: Namespace, zones: ZoneManager, req: NvmeRequest, zslba: number, nlb: number): number {
  const bytes = nlb << ns.lbaShift;
  if (req.dataLength !== bytes || req.data === null) return Status.DataSglLengthInvalid;
  const st = zones.checkAppend(zslba, nlb);
  if (st !== Status.Success) return st;
  return ns.device.canWrite(zones.wp(zones.zoneOf(zslba)) * ns.lbaSize, bytes) ? Status.Success : Status.CapacityExceeded;
}

/** The append: checks, the write pointer moved, the data stored (cannot fail once checked). */
function appendNow(ns: Namespace, req: NvmeRequest, zslba: number, nlb: number): number {
  const zones = ns.zones!;
  const st = appendCheck(ns, zones, req, zslba, nlb);
  if (st !== Status.Success) return st;
  const bytes = nlb << ns.lbaShift;
  const cdw12 = req.sqe.readUInt32LE(SqeOff.cdw12);
  const zs = zones.append(zslba, nlb);
  if (zs !== Status.Success) return zs;
  const lba = zones.appendedLba;
  ns.device.write(lba * ns.lbaSize, req.data!, 0, bytes);
  // The assigned LBA: CQE dwords 0 and 1.
  req.result0 = lba % TWO32;
  req.result1 = Math.floor(lba / TWO32);
  ns.stats.writeCommands++;
  ns.stats.bytesWritten += bytes;
  return finish(ns, req, ModelOp.Write, lba, nlb, (cdw12 & CDW12_FUA) !== 0, Status.Success);
}

function zoneMgmtSend(ns: Namespace, zones: ZoneManager, req: NvmeRequest): number {
  const s = req.sqe;
  const c = decodeZoneMgmtSend(s.readUInt32LE(SqeOff.cdw10), s.readUInt32LE(SqeOff.cdw11), s.readUInt32LE(SqeOff.cdw13));
  let ext: Buffer | null = null;
  if (c.action === ZoneSendAction.SetDescriptorExtension && zones.extensionBytes > 0) {
    if (req.data === null || req.dataLength < zones.extensionBytes) return Status.DataSglLengthInvalid;
    ext = req.data;
  }
  const st = zones.send(c.action, c.slba, c.selectAll, ext);
  if (st !== Status.Success) return st;
  const op = c.action === ZoneSendAction.Reset ? ModelOp.ZoneReset : c.action === ZoneSendAction.Finish ? ModelOp.ZoneFinish : null;
  if (op === null || zones.touched.length === 0) return Status.Success;
  const affected = [...zones.touched];
  if (op === ModelOp.ZoneReset) {
    // A reset zone reads as deallocated (zeroes) from now on.
    for (const z of affected) ns.device.zero(zones.zslba(z) * ns.lbaSize, zones.zoneSize * ns.lbaSize);
  }
  const m = ns.model;
  if (m === null || m.inline) return Status.Success;
  if (!m.available) return Status.InternalError;
  if (affected.length === 1) return finish(ns, req, op, zones.zslba(affected[0]!), zones.zoneSize, false, Status.Success);
  const join = new Join(req, affected.length);
  for (const z of affected) m.submit(join, Status.Success, op, zones.zslba(z), zones.zoneSize, false);
  return ASYNC;
}

function zoneMgmtReceive(zones: ZoneManager, req: NvmeRequest): number {
  const s = req.sqe;
  const c = decodeZoneMgmtRecv(s.readUInt32LE(SqeOff.cdw10), s.readUInt32LE(SqeOff.cdw11), s.readUInt32LE(SqeOff.cdw12), s.readUInt32LE(SqeOff.cdw13));
  const r = zones.report(c.slba, c.action, c.filter, c.partial, Math.min(c.bytes, req.dataLength));
  if (typeof r === 'number') return r;
  sendData(req, r);
  return Status.Success;
}
