// Fabrics commands: Connect (admin and I/O queues), Property Get/Set, Disconnect.
import { FabricsType, NVME_VERSION, Property } from '../protocol/constants.js';
import { ConnectDataOff, ConnectOff, CONNECT_DATA_SIZE, Csts, PropOff, decodeConnectData, encodeCap, ipoData, ipoSqe } from '../protocol/fabrics.js';
import { CONNECT_AUTHREQ_ATR } from '../protocol/auth.js';
import { SqeOff } from '../protocol/sqe.js';
import { Status } from '../protocol/status.js';
import { QueueAuth } from './auth.js';
import { Controller } from './controller.js';
import type { NvmeRequest, QueueHandle } from './request.js';
import type { Target } from './target.js';

/** A queue that a Connect binds to a controller (with its authentication state if the host must authenticate). */
export interface ConnectableQueue extends QueueHandle {
  bind(ctrl: Controller, qid: number, sqsize: number, auth: QueueAuth | null): void;
}

/** CAP timeout field: CSTS.RDY follows CC.EN at once, 15 x 500 ms is the usual ceiling. */
const CAP_TO = 15;

export function capFor(ctrl: Controller): bigint {
  return encodeCap({
    mqes: (ctrl.isDiscovery ? 32 : ctrl.target.limits.maxQueueSize) - 1,
    cqr: true,
    timeout500ms: CAP_TO,
    cssNvm: true,
    cssIoSets: !ctrl.isDiscovery,
    cssAdminOnly: false,
    mpsmin: 0,
    mpsmax: 0,
  });
}

export function executeConnect(target: Target, queue: ConnectableQueue, req: NvmeRequest): number {
  const sqe = req.sqe;
  const reject = (status: number, ipo: number, reason: string, extra: Record<string, unknown> = {}): number => {
    req.result0 = ipo;
    target.counters.reject(reason);
    target.log.warn({ remote: queue.remoteAddress, reason, ...extra }, 'connect rejected');
    return status;
  };
  if (sqe.readUInt16LE(ConnectOff.recfmt) !== 0) return reject(Status.ConnectIncompatibleFormat, 0, 'recfmt');
  if (!req.data || req.dataLength < CONNECT_DATA_SIZE) return reject(Status.DataSglLengthInvalid, 0, 'short-data');
  const qid = sqe.readUInt16LE(ConnectOff.qid);
  const sqsize = sqe.readUInt16LE(ConnectOff.sqsize);
  const kato = sqe.readUInt32LE(ConnectOff.kato);
  const d = decodeConnectData(req.data);
  const subsys = target.findSubsystem(d.subnqn);
  if (!subsys || (!subsys.isDiscovery && !subsys.ports.has(queue.portid))) {
    return reject(Status.ConnectInvalidParameters, ipoData(ConnectDataOff.subnqn), 'unknown-subsystem', { subnqn: d.subnqn });
  }
  if (!subsys.hostAllowed(d.hostnqn)) {
    return reject(Status.ConnectInvalidHost, ipoData(ConnectDataOff.hostnqn), 'host-not-allowed', { subnqn: d.subnqn, hostnqn: d.hostnqn });
  }
  if (sqsize === 0) return reject(Status.ConnectInvalidParameters, ipoSqe(ConnectOff.sqsize), 'sqsize');

  if (qid === 0) {
    if (d.cntlid !== 0xffff && d.cntlid !== 0xfffe) {
      return reject(Status.ConnectInvalidParameters, ipoData(ConnectDataOff.cntlid), 'static-cntlid');
    }
    if (sqsize > 4095) return reject(Status.ConnectInvalidParameters, ipoSqe(ConnectOff.sqsize), 'sqsize');
    if (!subsys.isDiscovery && target.controllerCount >= target.limits.maxControllers) return reject(Status.ConnectControllerBusy, 0, 'controller-limit');
    const cntlid = subsys.allocCntlid();
    if (cntlid < 0) return reject(Status.ConnectControllerBusy, 0, 'no-cntlid');
    const ctrl = new Controller(target, subsys, cntlid, d.hostnqn, d.hostid, kato, queue.portid);
    ctrl.auth = target.authFor(subsys, d.hostnqn);
    subsys.controllers.set(cntlid, ctrl);
    queue.bind(ctrl, 0, sqsize, ctrl.auth ? new QueueAuth(ctrl, 0, ctrl.auth) : null);
    ctrl.attachQueue(queue);
    // AUTHREQ.ATR: the host runs DH-HMAC-CHAP on this queue before anything else.
    req.result0 = cntlid | (ctrl.auth ? CONNECT_AUTHREQ_ATR : 0);
    target.log.info({ subnqn: subsys.nqn, cntlid, hostnqn: d.hostnqn, kato, remote: queue.remoteAddress }, 'controller created');
    return Status.Success;
  }

  const ctrl = subsys.controllers.get(d.cntlid);
  if (!ctrl || ctrl.closed) return reject(Status.ConnectInvalidParameters, ipoData(ConnectDataOff.cntlid), 'unknown-cntlid');
  if (ctrl.hostnqn !== d.hostnqn) return reject(Status.ConnectInvalidParameters, ipoData(ConnectDataOff.hostnqn), 'hostnqn-mismatch');
  if (!ctrl.ready) return reject(Status.CommandSequenceError, 0, 'controller-not-ready');
  if (qid > ctrl.ioQueuesGranted) return reject(Status.ConnectInvalidParameters, ipoSqe(ConnectOff.qid), 'qid');
  if (ctrl.queues.has(qid)) return reject(Status.CommandSequenceError, 0, 'qid-in-use');
  if (sqsize + 1 > target.limits.maxQueueSize) return reject(Status.ConnectInvalidParameters, ipoSqe(ConnectOff.sqsize), 'sqsize');
  queue.bind(ctrl, qid, sqsize, ctrl.auth ? new QueueAuth(ctrl, qid, ctrl.auth) : null);
  ctrl.attachQueue(queue);
  req.result0 = ctrl.cntlid | (ctrl.auth ? CONNECT_AUTHREQ_ATR : 0);
  return Status.Success;
}

/** AUTH_Send / AUTH_Receive on any queue; a host that need not authenticate has nothing to say. */
export function executeAuth(auth: QueueAuth | null, req: NvmeRequest): number {
  if (auth === null) return Status.InvalidOpcode;
  return req.sqe[SqeOff.fctype] === FabricsType.AuthSend ? auth.send(req) : auth.receive(req);
}

export function executeFabrics(ctrl: Controller, queue: QueueHandle, req: NvmeRequest): number {
  const sqe = req.sqe;
  switch (sqe[SqeOff.fctype]) {
    case FabricsType.PropertyGet: {
      const size8 = (sqe[PropOff.attrib]! & 7) === 1;
      const off = sqe.readUInt32LE(PropOff.offset);
      let v: bigint;
      switch (off) {
        case Property.CAP:
          v = capFor(ctrl);
          break;
        case Property.VS:
          v = BigInt(NVME_VERSION);
          break;
        case Property.CC:
          v = BigInt(ctrl.cc);
          break;
        case Property.CSTS:
          v = BigInt(ctrl.csts);
          break;
        case Property.NSSR:
          v = 0n;
          break;
        default:
          return Status.InvalidField;
      }
      if (off === Property.CAP && !size8) return Status.InvalidField;
      req.result0 = Number(v & 0xffffffffn);
      req.result1 = size8 ? Number(v >> 32n) : 0;
      return Status.Success;
    }
    case FabricsType.PropertySet: {
      const off = sqe.readUInt32LE(PropOff.offset);
      if (off !== Property.CC) return Status.InvalidField; // the only writable property on fabrics
      ctrl.setCc(sqe.readUInt32LE(PropOff.value));
      if (ctrl.csts & Csts.CFS) ctrl.target.log.warn({ cntlid: ctrl.cntlid, cc: ctrl.cc }, 'invalid CC: controller fatal status');
      return Status.Success;
    }
    case FabricsType.Disconnect:
      // Complete first, then close: the host waits for this completion.
      setImmediate(() => queue.close('disconnect'));
      return Status.Success;
    case FabricsType.Connect:
      return Status.CommandSequenceError; // already connected
    default:
      return Status.InvalidOpcode;
  }
}
