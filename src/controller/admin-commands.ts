// Admin command set: Identify, Get Log Page, Get/Set Features, Asynchronous Event Request,
// Keep Alive, Abort. Discovery controllers accept the subset the spec allows them.
import { AdminOpcode, Csi, DISCOVERY_NQN, FeatureId, IdentifyCns, LogPage, NVME_VERSION, NvmOpcode, Oaes } from '../protocol/constants.js';
import { encodeDiscoveryLog } from '../protocol/discovery-log.js';
import {
  encodeCommandSetCombinations,
  encodeIdentifyController,
  encodeIdentifyCsIndependentNs,
  encodeIdentifyNamespace,
  encodeIdentifyNvmController,
  encodeNsDescriptors,
  encodeNsList,
  type IdentifyControllerFields,
} from '../protocol/identify.js';
import {
  Effects,
  ERROR_LOG_ENTRY_SIZE,
  bytesToDataUnits,
  decodeGetLogPage,
  encodeChangedNsList,
  encodeEffectsLog,
  encodeFirmwareSlotLog,
  encodeSmartLog,
  writeErrorLogEntry,
} from '../protocol/log-pages.js';
import { encodeIdentifyKvController, encodeIdentifyKvNamespace, KV_MAX_KEY_LENGTH, KvOpcode, KvVendorOpcode } from '../protocol/kv.js';
import { cdw } from '../protocol/sqe.js';
import { encodeChangedZoneList, encodeIdentifyZnsController, encodeIdentifyZnsNamespace, OZCS_RAZB, ZNS_NO_LIMIT, ZONE_DESCRIPTOR_EXTENSION_UNIT } from '../protocol/zns.js';
import { Status } from '../protocol/status.js';
import { ABORT_LIMIT, AER_LIMIT, Controller, ERROR_LOG_ENTRIES } from './controller.js';
import type { Namespace } from './namespace.js';
import { ASYNC, sendData, type NvmeRequest } from './request.js';

const NSID_ALL = 0xffffffff;
/** Composite temperature reported: 35 °C. */
const TEMPERATURE_K = 308;
/** SMART available spare threshold (%). */
const SPARE_THRESHOLD = 10;

export function executeAdmin(ctrl: Controller, req: NvmeRequest): number {
  const op = req.opcode;
  if (ctrl.isDiscovery) {
    // A discovery controller implements only these (NVMe Base 2.0, 3.1.3.3).
    if (op !== AdminOpcode.Identify && op !== AdminOpcode.GetLogPage && op !== AdminOpcode.KeepAlive &&
        op !== AdminOpcode.GetFeatures && op !== AdminOpcode.SetFeatures && op !== AdminOpcode.AsyncEventRequest) {
      return Status.InvalidOpcode;
    }
  }
  switch (op) {
    case AdminOpcode.Identify:
      return identify(ctrl, req);
    case AdminOpcode.GetLogPage:
      return getLogPage(ctrl, req);
    case AdminOpcode.GetFeatures:
      return getFeatures(ctrl, req);
    case AdminOpcode.SetFeatures:
      return setFeatures(ctrl, req);
    case AdminOpcode.AsyncEventRequest: {
      const st = ctrl.addAer(req);
      return st < 0 ? ASYNC : st;
    }
    case AdminOpcode.KeepAlive:
      return Status.Success; // the transport already counted it as traffic
    case AdminOpcode.Abort:
      // Commands complete as soon as their data is in; there is never one to abort. Bit 0 = not aborted.
      req.result0 = 1;
      return Status.Success;
    default:
      return Status.InvalidOpcode;
  }
}

// ---- Identify ----

export function identifyControllerFields(ctrl: Controller): IdentifyControllerFields {
  const s = ctrl.subsys;
  const t = ctrl.target;
  const disc = ctrl.isDiscovery;
  const ioccsz = disc ? 4 : (64 + (t.ports.get(ctrl.portid)?.inlineDataSize ?? 0)) / 16;
  return {
    vid: 0,
    ssvid: 0,
    serial: s.serial,
    model: s.model,
    firmware: s.firmware,
    rab: 6,
    ieeeOui: 0,
    cmic: disc ? 0 : 0x02, // several controllers may share the subsystem's namespaces
    mdts: Math.log2(t.limits.maxTransferSize / 4096),
    cntlid: ctrl.cntlid,
    version: NVME_VERSION,
    oaes: disc ? Oaes.DiscoveryChange : supportedNotices(ctrl),
    ctratt: 1, // 128-bit host identifier
    cntrltype: disc ? 2 : 1,
    oacs: 0,
    acl: ABORT_LIMIT - 1,
    aerl: AER_LIMIT - 1,
    frmw: 0x03, // one slot, read-only
    lpa: disc ? 0x04 : 0x07, // SMART per namespace, effects log, extended data (LPO)
    elpe: ERROR_LOG_ENTRIES - 1,
    wctemp: disc ? 0 : 0x0157,
    cctemp: disc ? 0 : 0x0175,
    kas: 10, // 100 ms units: 1 s granularity
    sqes: disc ? 0 : 0x66,
    cqes: disc ? 0 : 0x44,
    maxcmd: disc ? 32 : t.limits.maxQueueSize,
    nn: disc ? 0 : s.maxNsid,
    // Compare, Dataset Management, Write Zeroes, Verify.
    oncs: disc ? 0 : 0x01 | 0x04 | 0x08 | 0x80,
    fuses: 0,
    fna: 0,
    vwc: disc ? 0 : 0x07, // volatile write cache present; Flush to all namespaces supported
    sgls: 0x100001, // SGLs without alignment; SGL data block with address as offset
    mnan: 0,
    subnqn: disc ? DISCOVERY_NQN : s.nqn,
    ioccsz,
    iorcsz: 1,
    icdoff: 0,
    fcatt: 0, // dynamic controller model
    msdbd: 1,
    ps0MaxPowerCw: disc ? 0 : 900,
  };
}

/** Notices the controller can raise: namespace attribute changes, and zone descriptor changes with zoned namespaces. */
function supportedNotices(ctrl: Controller): number {
  const zoned = [...ctrl.subsys.namespaces.values()].some((n) => n.zones !== null);
  return (Oaes.NsAttr | (zoned ? Oaes.ZoneDescriptorChanged : 0)) >>> 0;
}

/** Zoned Namespace Command Set Identify Namespace (CNS 05h, CSI 02h). */
function identifyZnsNamespace(ns: Namespace): Buffer {
  const z = ns.zones!;
  const zoneBytes = z.zoneSize * ns.lbaSize;
  return encodeIdentifyZnsNamespace({
    zoc: 0, // no variable zone capacity, no zone active excursions (Linux refuses either)
    ozcs: OZCS_RAZB,
    mar: z.maxActive > 0 ? z.maxActive - 1 : ZNS_NO_LIMIT,
    mor: z.maxOpen > 0 ? z.maxOpen - 1 : ZNS_NO_LIMIT,
    rrl: 0,
    frl: 0,
    // One extension per LBA format of Identify Namespace (512 B, 4 KiB): the zone size in each.
    lbafe: [512, 4096].map((lba) => ({ zsze: BigInt(Math.floor(zoneBytes / lba)), zdes: z.extensionBytes / ZONE_DESCRIPTOR_EXTENSION_UNIT })),
  });
}

/** Zone Append Size Limit for the controller: the smallest of its zoned namespaces' limits. */
function zoneAppendSizeLimit(ctrl: Controller): number {
  let bytes = ctrl.target.limits.maxTransferSize;
  for (const n of ctrl.subsys.namespaces.values()) if (n.zones) bytes = Math.min(bytes, n.zones.appendLimit * n.lbaSize);
  return Math.max(0, Math.floor(Math.log2(bytes / 4096)));
}

function identifyNamespace(ctrl: Controller, ns: Namespace): Buffer {
  const lbaf = ns.lbaSize === 4096 ? 1 : 0;
  const used = ns.kv !== null ? ns.kv.usedBytes : ns.device.allocatedBytes;
  const nuse = BigInt(Math.ceil(used / ns.lbaSize));
  const optimalLbas = Math.max(1, 4096 / ns.lbaSize);
  return encodeIdentifyNamespace({
    nsze: BigInt(ns.nlb),
    ncap: BigInt(ns.nlb),
    nuse: nuse > BigInt(ns.nlb) ? BigInt(ns.nlb) : nuse,
    // Thin provisioning, deallocated-or-unwritten error reporting off, NPWG/NPWA/NPDG/NPDA/NOWS valid.
    nsfeat: 0x01 | 0x10,
    flbas: lbaf,
    lbaFormats: [
      { ms: 0, lbads: 9, rp: 1 },
      { ms: 0, lbads: 12, rp: 0 },
    ],
    nmic: ctrl.subsys.isDiscovery ? 0 : 1,
    dlfeat: 0x01 | 0x08, // deallocated blocks read as zeroes; Write Zeroes may deallocate
    nvmcapBytes: BigInt(ns.device.capacityBytes),
    npwg: optimalLbas,
    npwa: optimalLbas,
    npdg: optimalLbas,
    npda: optimalLbas,
    nows: optimalLbas,
    anagrpid: 0,
    nguid: ns.ids.nguid,
    eui64: ns.ids.eui64,
  });
}

function identify(ctrl: Controller, req: NvmeRequest): number {
  const cdw10 = cdw(req.sqe, 10);
  const cdw11 = cdw(req.sqe, 11);
  const cns = cdw10 & 0xff;
  const csi = cdw11 >>> 24;
  const subsys = ctrl.subsys;
  const nsidInvalid = (): number => (req.nsid === 0 || req.nsid === NSID_ALL || req.nsid > subsys.maxNsid ? Status.InvalidNamespace : -1);

  if (ctrl.isDiscovery && cns !== IdentifyCns.Controller) return Status.InvalidField;
  switch (cns) {
    case IdentifyCns.Controller:
      sendData(req, encodeIdentifyController(identifyControllerFields(ctrl)));
      return Status.Success;
    case IdentifyCns.Namespace: {
      if (nsidInvalid() >= 0) return nsidInvalid();
      const ns = subsys.activeNamespace(req.nsid);
      // An inactive but valid NSID returns a zero-filled structure.
      sendData(req, ns ? identifyNamespace(ctrl, ns) : Buffer.alloc(4096));
      return Status.Success;
    }
    case IdentifyCns.ActiveNsList:
      if (req.nsid >= 0xfffffffe) return Status.InvalidNamespace;
      sendData(req, encodeNsList(subsys.activeNsids(), req.nsid));
      return Status.Success;
    case IdentifyCns.CsActiveNsList: {
      if (req.nsid >= 0xfffffffe) return Status.InvalidNamespace;
      const ids = subsys.activeNsids().filter((id) => subsys.namespaces.get(id)!.csi === csi);
      sendData(req, encodeNsList(ids, req.nsid));
      return Status.Success;
    }
    case IdentifyCns.NsDescriptors: {
      if (nsidInvalid() >= 0) return nsidInvalid();
      const ns = subsys.activeNamespace(req.nsid);
      if (!ns) return Status.InvalidNamespace;
      sendData(req, encodeNsDescriptors({ ...ns.ids, csi: ns.csi }));
      return Status.Success;
    }
    case IdentifyCns.CsIndependentNamespace: {
      if (nsidInvalid() >= 0) return nsidInvalid();
      const ns = subsys.activeNamespace(req.nsid);
      sendData(req, ns ? encodeIdentifyCsIndependentNs({ nsfeat: 0x11, nmic: 1, anagrpid: 0, ready: true }) : Buffer.alloc(4096));
      return Status.Success;
    }
    case IdentifyCns.CsController:
      if (csi === Csi.KeyValue) {
        sendData(req, encodeIdentifyKvController());
        return Status.Success;
      }
      if (csi === Csi.Zoned) {
        sendData(req, encodeIdentifyZnsController({ zasl: zoneAppendSizeLimit(ctrl) }));
        return Status.Success;
      }
      if (csi !== Csi.Nvm) return Status.InvalidField;
      // No extra limits: Verify / Write Zeroes up to what fits in NLB, DSM up to 256 ranges.
      sendData(req, encodeIdentifyNvmController({ vsl: 0, wzsl: 0, wusl: 0, dmrl: 0, dmrsl: 0, dmsl: 0n }));
      return Status.Success;
    case IdentifyCns.CsNamespace: {
      if (csi === Csi.KeyValue) {
        if (nsidInvalid() >= 0) return nsidInvalid();
        const ns = subsys.activeNamespace(req.nsid);
        if (ns && ns.csi !== Csi.KeyValue) return Status.InvalidField; // not a KV namespace: I/O Command Set Not Supported
        sendData(req, ns ? identifyKvNamespace(ctrl, ns) : Buffer.alloc(4096));
        return Status.Success;
      }
      if (csi === Csi.Zoned) {
        if (nsidInvalid() >= 0) return nsidInvalid();
        const ns = subsys.activeNamespace(req.nsid);
        if (ns && ns.zones === null) return Status.InvalidField; // not a zoned namespace
        sendData(req, ns ? identifyZnsNamespace(ns) : Buffer.alloc(4096));
        return Status.Success;
      }
      if (csi !== Csi.Nvm) return Status.InvalidField;
      if (nsidInvalid() >= 0) return nsidInvalid();
      // NVM command set specific namespace: no extended LBA formats or PI; all zero is correct.
      sendData(req, Buffer.alloc(4096));
      return Status.Success;
    }
    case IdentifyCns.CommandSetCombinations: {
      // Every I/O command set this controller implements (namespaces of any kind can be added at run time).
      sendData(req, encodeCommandSetCombinations((1n << BigInt(Csi.Nvm)) | (1n << BigInt(Csi.KeyValue)) | (1n << BigInt(Csi.Zoned))));
      return Status.Success;
    }
    default:
      return Status.InvalidField;
  }
}

/** KV Command Set Identify Namespace (CNS 05h, CSI 01h): sizes in bytes, one KV format. */
function identifyKvNamespace(ctrl: Controller, ns: Namespace): Buffer {
  const kv = ns.kv!;
  return encodeIdentifyKvNamespace({
    nsze: BigInt(kv.capacityBytes),
    nuse: BigInt(kv.usedBytes),
    nsfeat: 0,
    nmic: ctrl.subsys.isDiscovery ? 0 : 1,
    novg: 0,
    anagrpid: 0,
    formats: [{ maxKeyLength: KV_MAX_KEY_LENGTH, maxValueLength: kv.maxValueBytes, maxKeys: 0 }],
    nguid: ns.ids.nguid,
    eui64: ns.ids.eui64,
  });
}

// ---- Log pages ----

const ADMIN_EFFECTS = new Map<number, number>([
  [AdminOpcode.GetLogPage, Effects.CSUPP],
  [AdminOpcode.Identify, Effects.CSUPP],
  [AdminOpcode.Abort, Effects.CSUPP],
  [AdminOpcode.SetFeatures, Effects.CSUPP],
  [AdminOpcode.GetFeatures, Effects.CSUPP],
  [AdminOpcode.AsyncEventRequest, Effects.CSUPP],
  [AdminOpcode.KeepAlive, Effects.CSUPP],
]);

const IO_EFFECTS = new Map<number, number>([
  [NvmOpcode.Flush, Effects.CSUPP | Effects.LBCC],
  [NvmOpcode.Write, Effects.CSUPP | Effects.LBCC],
  [NvmOpcode.Read, Effects.CSUPP],
  [NvmOpcode.Compare, Effects.CSUPP],
  [NvmOpcode.WriteZeroes, Effects.CSUPP | Effects.LBCC],
  [NvmOpcode.DatasetManagement, Effects.CSUPP | Effects.LBCC],
  [NvmOpcode.Verify, Effects.CSUPP],
]);

/** NVMe KV command set (CSI 01h). */
const KV_IO_EFFECTS = new Map<number, number>([
  [KvOpcode.Flush, Effects.CSUPP],
  [KvOpcode.Store, Effects.CSUPP | Effects.LBCC],
  [KvOpcode.Retrieve, Effects.CSUPP],
  [KvOpcode.List, Effects.CSUPP],
  [KvOpcode.Delete, Effects.CSUPP | Effects.LBCC],
  [KvOpcode.Exist, Effects.CSUPP],
]);

/** NVM set plus the vendor KV opcodes, when a namespace of the subsystem accepts them. */
const NVM_IO_EFFECTS_WITH_VENDOR_KV = new Map<number, number>([
  ...IO_EFFECTS,
  [KvVendorOpcode.Store, Effects.CSUPP | Effects.LBCC],
  [KvVendorOpcode.Append, Effects.CSUPP | Effects.LBCC],
  [KvVendorOpcode.Batch, Effects.CSUPP | Effects.LBCC],
  [KvVendorOpcode.Retrieve, Effects.CSUPP],
  [KvVendorOpcode.Delete, Effects.CSUPP | Effects.LBCC],
  [KvVendorOpcode.IterRequest, Effects.CSUPP],
  [KvVendorOpcode.IterRead, Effects.CSUPP],
  [KvVendorOpcode.Exist, Effects.CSUPP],
]);

const hasVendorKv = (ctrl: Controller): boolean => [...ctrl.subsys.namespaces.values()].some((n) => n.kv !== null && n.csi === Csi.Nvm);

/** Zoned Namespace Command Set: the NVM commands plus the zone commands (Linux needs Zone Append). */
const ZNS_IO_EFFECTS = new Map<number, number>([
  ...IO_EFFECTS,
  [NvmOpcode.ZoneMgmtSend, Effects.CSUPP | Effects.LBCC],
  [NvmOpcode.ZoneMgmtReceive, Effects.CSUPP],
  [NvmOpcode.ZoneAppend, Effects.CSUPP | Effects.LBCC],
]);

function smartLog(ctrl: Controller, nsid: number): Buffer {
  const nss = nsid === NSID_ALL || nsid === 0 ? [...ctrl.subsys.namespaces.values()] : [ctrl.subsys.namespaces.get(nsid)!];
  let br = 0n, bw = 0n, rc = 0n, wc = 0n, busyMs = 0, mediaErrors = 0;
  // Wear comes from the device models (mirrored from their workers); data units and command
  // counts are the host's view, kept here. Across namespaces: the most worn, the least spare.
  let percentageUsed = 0, availableSpare = 100;
  for (const ns of nss) {
    br += BigInt(ns.stats.bytesRead);
    bw += BigInt(ns.stats.bytesWritten);
    rc += BigInt(ns.stats.readCommands);
    wc += BigInt(ns.stats.writeCommands);
    busyMs += ns.stats.busyMs;
    mediaErrors += ns.stats.mediaErrors;
    const c = ns.counters();
    percentageUsed = Math.max(percentageUsed, c.percentageUsed);
    availableSpare = Math.min(availableSpare, c.availableSpare);
  }
  percentageUsed = Math.min(255, Math.max(0, Math.floor(percentageUsed)));
  availableSpare = Math.min(100, Math.max(0, Math.floor(availableSpare)));
  const uptimeMs = Date.now() - ctrl.target.startedAt;
  return encodeSmartLog({
    criticalWarning: availableSpare < SPARE_THRESHOLD ? 0x01 : 0, // bit 0: spare below threshold
    temperatureK: TEMPERATURE_K,
    availableSpare,
    spareThreshold: SPARE_THRESHOLD,
    percentageUsed,
    dataUnitsRead: bytesToDataUnits(br),
    dataUnitsWritten: bytesToDataUnits(bw),
    hostReadCommands: rc,
    hostWriteCommands: wc,
    controllerBusyMinutes: BigInt(Math.floor(busyMs / 60000)),
    powerCycles: 1n,
    powerOnHours: BigInt(Math.floor(uptimeMs / 3_600_000)),
    unsafeShutdowns: 0n,
    mediaErrors: BigInt(mediaErrors),
    errorLogEntries: ctrl.errorCount,
  });
}

function getLogPage(ctrl: Controller, req: NvmeRequest): number {
  const s = req.sqe;
  const lp = decodeGetLogPage(cdw(s, 10), cdw(s, 11), cdw(s, 12), cdw(s, 13), cdw(s, 14));
  if (lp.offset % 4 !== 0) return Status.InvalidField;
  let page: Buffer;
  if (ctrl.isDiscovery) {
    if (lp.lid !== LogPage.Discovery) return Status.InvalidLogPage;
    page = encodeDiscoveryLog(ctrl.target.genctr, ctrl.target.discoveryEntries(ctrl.hostnqn, ctrl.portid, localAddressOf(ctrl)));
  } else {
    switch (lp.lid) {
      case LogPage.ErrorInfo: {
        page = Buffer.alloc(ERROR_LOG_ENTRIES * ERROR_LOG_ENTRY_SIZE);
        ctrl.errorEntries().forEach((e, i) => writeErrorLogEntry(page, i * ERROR_LOG_ENTRY_SIZE, e));
        break;
      }
      case LogPage.Smart:
        if (req.nsid !== NSID_ALL && req.nsid !== 0 && !ctrl.subsys.activeNamespace(req.nsid)) return Status.InvalidNamespace;
        page = smartLog(ctrl, req.nsid);
        break;
      case LogPage.FirmwareSlot:
        page = encodeFirmwareSlotLog(1, [ctrl.subsys.firmware]);
        break;
      case LogPage.ChangedNsList:
        page = encodeChangedNsList([...ctrl.changedNs].sort((a, b) => a - b));
        if (!lp.rae) ctrl.changedNs.clear();
        break;
      case LogPage.CommandEffects:
        // Linux loads the log of every command set a namespace reports (nvme_alloc_ns_head): a
        // CSI 01h namespace without its log would not come up at all.
        if (lp.csi === Csi.KeyValue) page = encodeEffectsLog(ADMIN_EFFECTS, KV_IO_EFFECTS);
        else if (lp.csi === Csi.Zoned) page = encodeEffectsLog(ADMIN_EFFECTS, ZNS_IO_EFFECTS);
        else if (lp.csi !== Csi.Nvm) return Status.InvalidField;
        else page = encodeEffectsLog(ADMIN_EFFECTS, hasVendorKv(ctrl) ? NVM_IO_EFFECTS_WITH_VENDOR_KV : IO_EFFECTS);
        break;
      case LogPage.ChangedZoneList: {
        const ns = ctrl.subsys.activeNamespace(req.nsid);
        if (!ns || ns.zones === null) return Status.InvalidNamespace;
        const set = ctrl.changedZones.get(req.nsid);
        page = encodeChangedZoneList(set ? [...set].sort((a, b) => a - b) : []);
        if (!lp.rae) ctrl.changedZones.delete(req.nsid);
        break;
      }
      default:
        return Status.InvalidLogPage;
    }
  }
  ctrl.logRead(lp.lid, lp.rae);
  // Honour LPO; bytes past the end of the page read as zeroes.
  const out = Buffer.alloc(Math.min(lp.length, req.dataLength));
  if (lp.offset < page.length) page.copy(out, 0, lp.offset, Math.min(page.length, lp.offset + out.length));
  else if (lp.offset > page.length) return Status.InvalidField;
  sendData(req, out);
  return Status.Success;
}

function localAddressOf(ctrl: Controller): string {
  return ctrl.queues.get(0)?.localAddress ?? '';
}

// ---- Features ----

const SEL_CURRENT = 0;
const SEL_SUPPORTED = 3;
const CHANGEABLE = 1 << 2;

function getFeatures(ctrl: Controller, req: NvmeRequest): number {
  const cdw10 = cdw(req.sqe, 10);
  const fid = cdw10 & 0xff;
  const sel = (cdw10 >> 8) & 0x7;
  const changeable = new Set<number>([
    FeatureId.TemperatureThreshold, FeatureId.ErrorRecovery, FeatureId.VolatileWriteCache, FeatureId.NumberOfQueues,
    FeatureId.AsyncEventConfig, FeatureId.KeepAliveTimer, FeatureId.Timestamp, FeatureId.HostBehavior, FeatureId.WriteAtomicity,
  ]);
  const discAllowed = fid === FeatureId.AsyncEventConfig || fid === FeatureId.KeepAliveTimer;
  if (ctrl.isDiscovery && !discAllowed) return Status.InvalidField;
  if (sel === SEL_SUPPORTED) {
    if (!known(fid)) return Status.InvalidField;
    req.result0 = changeable.has(fid) ? CHANGEABLE : 0;
    return Status.Success;
  }
  const dflt = sel !== SEL_CURRENT; // default and saved values are the power-on defaults
  switch (fid) {
    case FeatureId.Arbitration:
    case FeatureId.PowerManagement:
    case FeatureId.ErrorRecovery:
    case FeatureId.WriteAtomicity:
    case FeatureId.NonOpPowerState:
    case FeatureId.SoftwareProgressMarker:
      req.result0 = dflt ? 0 : ctrl.features.get(fid) ?? 0;
      return Status.Success;
    case FeatureId.TemperatureThreshold: {
      // THSEL (cdw11 bits 21:20): 0 = over-temperature, 1 = under-temperature threshold.
      const under = ((cdw(req.sqe, 11) >> 20) & 3) === 1;
      req.result0 = under ? 0 : dflt ? 0x0157 : ctrl.features.get(fid) ?? 0x0157;
      return Status.Success;
    }
    case FeatureId.VolatileWriteCache:
      req.result0 = dflt ? 1 : ctrl.features.get(fid) ?? 1;
      return Status.Success;
    case FeatureId.NumberOfQueues: {
      const n = ctrl.ioQueuesGranted - 1;
      req.result0 = (n & 0xffff) | ((n & 0xffff) << 16);
      return Status.Success;
    }
    case FeatureId.AsyncEventConfig:
      req.result0 = dflt ? 0 : ctrl.features.get(fid) ?? 0;
      return Status.Success;
    case FeatureId.KeepAliveTimer:
      req.result0 = ctrl.kato;
      return Status.Success;
    case FeatureId.Timestamp: {
      const b = Buffer.alloc(8);
      const base = ctrl.timestampBase;
      const ms = base ? base.hostMs + (Date.now() - base.at) : Date.now() - ctrl.target.startedAt;
      b.writeUIntLE(ms, 0, 6);
      b[6] = base ? 1 << 1 : 0; // Timestamp Origin: 1 = set by host, 0 = since reset
      sendData(req, b);
      return Status.Success;
    }
    case FeatureId.HostBehavior:
      sendData(req, dflt ? Buffer.alloc(512) : ctrl.hostBehavior);
      return Status.Success;
    case FeatureId.HostIdentifier:
      sendData(req, ctrl.hostid);
      return Status.Success;
    default:
      return Status.InvalidField;
  }
}

function known(fid: number): boolean {
  return [0x01, 0x02, 0x04, 0x05, 0x06, 0x07, 0x0a, 0x0b, 0x0e, 0x0f, 0x11, 0x16, 0x80, 0x81].includes(fid);
}

function setFeatures(ctrl: Controller, req: NvmeRequest): number {
  const cdw10 = cdw(req.sqe, 10);
  const cdw11 = cdw(req.sqe, 11);
  const fid = cdw10 & 0xff;
  if (cdw10 & (1 << 31)) return Status.FeatureNotSaveable; // SV: nothing is saveable
  if (ctrl.isDiscovery && fid !== FeatureId.AsyncEventConfig && fid !== FeatureId.KeepAliveTimer) return Status.InvalidField;
  switch (fid) {
    case FeatureId.NumberOfQueues: {
      const nsqr = cdw11 & 0xffff;
      const ncqr = cdw11 >>> 16;
      if (nsqr === 0xffff || ncqr === 0xffff) return Status.InvalidField;
      // Queue counts may be set once per controller, before I/O queues exist (NVMe Base 5.27.1.7).
      if (ctrl.queues.size > 1) return Status.CommandSequenceError;
      const granted = Math.min(Math.min(nsqr, ncqr) + 1, ctrl.subsys.qidMax);
      ctrl.ioQueuesGranted = granted;
      ctrl.numQueuesSet = true;
      req.result0 = (granted - 1) | ((granted - 1) << 16);
      return Status.Success;
    }
    case FeatureId.AsyncEventConfig: {
      const supported = ctrl.isDiscovery ? Oaes.DiscoveryChange : supportedNotices(ctrl);
      ctrl.features.set(fid, (cdw11 & supported) >>> 0);
      return Status.Success;
    }
    case FeatureId.KeepAliveTimer:
      ctrl.kato = cdw11;
      ctrl.restartKeepAlive();
      return Status.Success;
    case FeatureId.VolatileWriteCache:
      ctrl.features.set(fid, cdw11 & 1);
      return Status.Success;
    case FeatureId.TemperatureThreshold:
      if (((cdw11 >> 20) & 3) > 1) return Status.InvalidField;
      if (((cdw11 >> 20) & 3) === 0) ctrl.features.set(fid, cdw11 & 0xffff);
      return Status.Success;
    case FeatureId.ErrorRecovery:
    case FeatureId.WriteAtomicity:
    case FeatureId.SoftwareProgressMarker:
      ctrl.features.set(fid, cdw11);
      return Status.Success;
    case FeatureId.Timestamp:
      if (!req.data || req.data.length < 8) return Status.DataSglLengthInvalid;
      ctrl.timestampBase = { hostMs: req.data.readUIntLE(0, 6), at: Date.now() };
      return Status.Success;
    case FeatureId.HostBehavior:
      if (!req.data || req.data.length < 512) return Status.DataSglLengthInvalid;
      ctrl.hostBehavior = Buffer.from(req.data.subarray(0, 512));
      return Status.Success;
    case FeatureId.HostIdentifier:
      return Status.CommandSequenceError; // fixed by Connect on fabrics
    case FeatureId.Arbitration:
    case FeatureId.PowerManagement:
    case FeatureId.NonOpPowerState:
      return Status.FeatureNotChangeable;
    default:
      return Status.InvalidField;
  }
}
