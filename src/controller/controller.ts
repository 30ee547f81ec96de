// Controller state: properties (CC/CSTS), features, keep-alive, asynchronous events, error log.
import { AsyncEvent, Csi, FeatureId, LogPage, Oaes } from '../protocol/constants.js';
import { Cc, Csts } from '../protocol/fabrics.js';
import { Status } from '../protocol/status.js';
import type { ErrorLogEntry } from '../protocol/log-pages.js';
import type { HostAuth } from './auth.js';
import type { NvmeRequest, QueueHandle } from './request.js';
import type { Subsystem } from './subsystem.js';
import type { Target } from './target.js';

export const ERROR_LOG_ENTRIES = 64;
export const AER_LIMIT = 4;
export const ABORT_LIMIT = 4;

/** Longest delay Node's timers take (2^31 - 1 ms). */
const MAX_TIMER_MS = 0x7fffffff;

export class Controller {
  cc = 0;
  csts = 0;
  /** Keep-alive timeout in ms (0 = none). */
  kato: number;
  /** I/O queues granted by Set Features Number of Queues (count, not zero-based). */
  ioQueuesGranted: number;
  numQueuesSet = false;
  readonly queues = new Map<number, QueueHandle>();
  readonly features = new Map<number, number>();
  hostBehavior = Buffer.alloc(512);
  /** Host's timestamp (ms) and when it was set, for the Timestamp feature. */
  timestampBase: { hostMs: number; at: number } | null = null;
  readonly aers: NvmeRequest[] = [];
  /** Events waiting for an AER to carry them (CQE dword 0 values). */
  private readonly pendingEvents: number[] = [];
  /** Event types masked until the host reads the log page they point to. */
  private readonly maskedLogs = new Set<number>();
  readonly changedNs = new Set<number>();
  /** Zones (ZSLBAs) per zoned namespace whose descriptor changed since the host read log page BFh. */
  readonly changedZones = new Map<number, Set<number>>();
  private readonly errors: ErrorLogEntry[] = [];
  errorCount = 0n;
  private kaTimer: NodeJS.Timeout | null = null;
  private trafficSinceCheck = true;
  readonly createdAt = Date.now();
  closed = false;
  /** DH-HMAC-CHAP the host does on every queue of this controller (null: none). */
  auth: HostAuth | null = null;

  constructor(
    readonly target: Target,
    readonly subsys: Subsystem,
    readonly cntlid: number,
    readonly hostnqn: string,
    readonly hostid: Buffer,
    kato: number,
    readonly portid: number,
  ) {
    this.kato = kato;
    this.ioQueuesGranted = subsys.isDiscovery ? 0 : subsys.qidMax;
    // Async event config defaults to what we support, as nvmet does after connect.
    this.features.set(FeatureId.AsyncEventConfig, 0);
    this.features.set(FeatureId.VolatileWriteCache, 1);
    this.features.set(FeatureId.TemperatureThreshold, 0x0157); // 343 K over-temperature threshold
    this.restartKeepAlive();
  }

  get isDiscovery(): boolean {
    return this.subsys.isDiscovery;
  }

  /** Command set selected by CC.CSS (6 = all I/O command sets selected by CSI). */
  get cssAllSets(): boolean {
    return Cc.css(this.cc) === 6;
  }

  get ready(): boolean {
    return (this.csts & Csts.RDY) !== 0;
  }

  /** Any command counts as traffic: we only expire a controller that is silent for KATO. */
  touch(): void {
    this.trafficSinceCheck = true;
  }

  restartKeepAlive(): void {
    if (this.kaTimer) clearInterval(this.kaTimer);
    this.kaTimer = null;
    if (this.kato <= 0) return;
    this.trafficSinceCheck = true;
    // KATO is up to 2^32-1 ms; Node timers overflow past 2^31-1 ms (and then fire after 1 ms), so a
    // long KATO is checked in shorter periods and expires after enough silent ones.
    const period = Math.min(this.kato, MAX_TIMER_MS);
    const silentNeeded = Math.ceil(this.kato / period);
    let silent = 0;
    this.kaTimer = setInterval(() => {
      if (this.trafficSinceCheck) {
        this.trafficSinceCheck = false;
        silent = 0;
        return;
      }
      if (++silent < silentNeeded) return;
      this.target.log.warn({ subnqn: this.subsys.nqn, cntlid: this.cntlid, kato: this.kato }, 'keep-alive timeout: tearing controller down');
      this.target.counters.keepAliveTimeouts++;
      this.fatal('keep-alive timeout');
    }, period);
    this.kaTimer.unref();
  }

  /** Property Set CC: enable, disable, shutdown. */
  setCc(value: number): void {
    const old = this.cc;
    this.cc = value >>> 0;
    if (Cc.en(value) && !Cc.en(old)) {
      // Only 4 KiB pages, 64-byte SQEs and 16-byte CQEs exist on fabrics; anything else is fatal.
      const css = Cc.css(value);
      const bad = Cc.mps(value) !== 0 || (!this.isDiscovery && (Cc.iosqes(value) !== 6 || Cc.iocqes(value) !== 4)) || (css !== 0 && css !== 6 && css !== 7);
      if (bad) this.csts |= Csts.CFS;
      else this.csts |= Csts.RDY;
    } else if (!Cc.en(value) && Cc.en(old)) {
      this.csts &= ~Csts.RDY; // controller reset: the host reconnects its I/O queues
    }
    if (Cc.shn(value) !== 0) this.csts = (this.csts & ~(3 << 2)) | Csts.SHST_COMPLETE;
    else if (Cc.shn(old) !== 0) this.csts &= ~(3 << 2);
  }

  // ---- Asynchronous events ----

  addAer(req: NvmeRequest): number {
    if (this.aers.length >= AER_LIMIT) return Status.AerLimitExceeded;
    this.aers.push(req);
    this.deliverEvents();
    return -1;
  }

  /** Queue a notice event if the host enabled it (Set Features 0Bh) and it is not masked. */
  raiseNotice(info: number, logPage: number, oaesBit: number): void {
    const aec = this.features.get(FeatureId.AsyncEventConfig) ?? 0;
    if ((aec & oaesBit) === 0) return;
    if (this.maskedLogs.has(logPage)) return;
    this.maskedLogs.add(logPage);
    this.pendingEvents.push(AsyncEvent.TypeNotice | (info << 8) | (logPage << 16));
    this.deliverEvents();
  }

  nsChanged(nsid: number): void {
    if (this.isDiscovery) return;
    this.changedNs.add(nsid);
    this.raiseNotice(AsyncEvent.InfoNsAttrChanged, LogPage.ChangedNsList, Oaes.NsAttr);
  }

  /** A controller event changed these zones of a zoned namespace (read only, offline). */
  zoneDescriptorsChanged(nsid: number, zslbas: readonly number[]): void {
    if (this.isDiscovery || zslbas.length === 0) return;
    let set = this.changedZones.get(nsid);
    if (!set) this.changedZones.set(nsid, (set = new Set()));
    for (const z of zslbas) set.add(z);
    this.raiseNotice(AsyncEvent.InfoZoneDescriptorChanged, LogPage.ChangedZoneList, Oaes.ZoneDescriptorChanged);
  }

  discoveryChanged(): void {
    if (this.isDiscovery) this.raiseNotice(AsyncEvent.InfoDiscoveryChanged, LogPage.Discovery, Oaes.DiscoveryChange);
  }

  /** Reading a log page (without RAE) re-arms its event. */
  logRead(lid: number, retainEvent: boolean): void {
    if (!retainEvent) this.maskedLogs.delete(lid);
  }

  private deliverEvents(): void {
    while (this.aers.length && this.pendingEvents.length) {
      const req = this.aers.shift()!;
      req.result0 = this.pendingEvents.shift()!;
      req.complete(Status.Success);
    }
  }

  // ---- Error log ----

  recordError(req: NvmeRequest, status: number, lba = 0n): void {
    this.errorCount++;
    this.errors.unshift({
      errorCount: this.errorCount,
      sqid: req.qid,
      cid: req.cid,
      status,
      paramErrorLocation: 0xffff,
      lba,
      nsid: req.nsid,
      trtype: 3,
    });
    if (this.errors.length > ERROR_LOG_ENTRIES) this.errors.pop();
  }

  errorEntries(): readonly ErrorLogEntry[] {
    return this.errors;
  }

  // ---- Life cycle ----

  attachQueue(q: QueueHandle): void {
    this.queues.set(q.qid, q);
  }

  detachQueue(q: QueueHandle): void {
    if (this.queues.get(q.qid) === q) this.queues.delete(q.qid);
    // The admin queue carries the association: when it goes, the controller goes.
    if (q.qid === 0) this.destroy('admin queue closed');
  }

  /** Controller fatal status: flag CFS and drop every queue (the host will reconnect). */
  fatal(reason: string): void {
    this.csts |= Csts.CFS;
    this.destroy(reason);
  }

  destroy(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.kaTimer) clearInterval(this.kaTimer);
    this.kaTimer = null;
    for (const req of this.aers.splice(0)) req.complete(Status.AbortSqDeleted);
    this.subsys.controllers.delete(this.cntlid);
    for (const q of [...this.queues.values()]) q.close(reason);
    this.queues.clear();
    this.target.log.info({ subnqn: this.subsys.nqn, cntlid: this.cntlid, hostnqn: this.hostnqn, reason }, 'controller removed');
  }

  /** CSI the controller reports for a namespace of the given kind. */
  static csiFor(kind: string): number {
    return kind === 'zns' ? Csi.Zoned : kind === 'kv' ? Csi.KeyValue : Csi.Nvm;
  }
}
