// The zone state machine of a zoned namespace (NVMe Zoned Namespace Command Set 1.1, 2.1): zone
// states, write pointers, the open and active resource limits, and every status a zone decision
// can end in. No I/O and no timing: it lives on the network thread next to the data, decides
// synchronously, and the controller then moves data and hands the timing to the device model.
//
// States (ZS): empty (ZSE), implicitly opened (ZSIO), explicitly opened (ZSEO), closed (ZSC),
// full (ZSF), read only (ZSRO), offline (ZSO). Open = ZSIO + ZSEO; active = open + ZSC.
// - A write (Write, Write Zeroes, Zone Append) to ZSE or ZSC opens the zone implicitly; it needs an
//   active resource (ZSE only) and an open resource. With every open resource in use, the
//   least recently implicitly opened zone is closed to make room (the spec allows the controller
//   to do so for ZSIO zones, never for ZSEO); if none is implicitly open: Too Many Open Zones.
//   The active limit is checked first, so a failing command changes no zone.
// - Open (explicit): ZSE/ZSC -> ZSEO under the same resource rules; ZSIO -> ZSEO; ZSEO no-op.
// - Close: ZSIO/ZSEO -> ZSC (the zone stays active, whatever its write pointer); ZSC no-op.
// - Finish: ZSE/ZSIO/ZSEO/ZSC -> ZSF (write pointer at the zone's writable end); ZSF no-op.
// - Reset: ZSIO/ZSEO/ZSC/ZSF -> ZSE (write pointer back to the zone start); ZSE no-op.
// - Offline: ZSRO -> ZSO; ZSO no-op. Read only and offline are otherwise reached only by a controller event
//   (here: fault injection), which raises a Zone Descriptor Changed notice.
// Any other (state, action) pair: Invalid Zone State Transition. Select All applies an action to
// the zones in the states the spec lists for it (open: ZSC; close: ZSIO/ZSEO; finish:
// ZSIO/ZSEO/ZSC; reset: ZSIO/ZSEO/ZSC/ZSF; offline: ZSRO).
import { Status } from '../../protocol/status.js';
import {
  REPORT_HEADER_SIZE,
  ZONE_DESCRIPTOR_SIZE,
  ZONE_TYPE_SEQ_WRITE_REQUIRED,
  ZoneAttr,
  ZoneReceiveAction,
  ZoneReportFilter,
  ZoneSendAction,
  ZoneState,
  writeReportHeader,
  writeZoneDescriptor,
} from '../../protocol/zns.js';

export interface ZoneLayout {
  /** Namespace size in logical blocks (a whole number of zones). */
  nlb: number;
  /** Zone size in logical blocks (a power of two). */
  zoneSize: number;
  /** Writable logical blocks per zone (<= zoneSize). */
  zoneCapacity: number;
  /** 0 = no limit. */
  maxOpen: number;
  maxActive: number;
  /** Zone descriptor extension bytes per zone (a multiple of 64; 0 = none). */
  descriptorExtensionBytes?: number;
  /** Zone Append size limit in logical blocks. */
  appendLimit: number;
}

export const ZONE_STATE_NAMES = ['empty', 'implicit_open', 'explicit_open', 'closed', 'full', 'read_only', 'offline'] as const;
export type ZoneStateName = (typeof ZONE_STATE_NAMES)[number];
const NAME_OF: Record<number, ZoneStateName> = {
  [ZoneState.Empty]: 'empty',
  [ZoneState.ImplicitlyOpened]: 'implicit_open',
  [ZoneState.ExplicitlyOpened]: 'explicit_open',
  [ZoneState.Closed]: 'closed',
  [ZoneState.Full]: 'full',
  [ZoneState.ReadOnly]: 'read_only',
  [ZoneState.Offline]: 'offline',
};
export const zoneStateName = (zs: number): ZoneStateName => NAME_OF[zs] ?? 'offline';

/** Report filter (ZRASF) -> the zone state it selects. */
const FILTER_STATE: Record<number, number> = {
  [ZoneReportFilter.Empty]: ZoneState.Empty,
  [ZoneReportFilter.ImplicitlyOpened]: ZoneState.ImplicitlyOpened,
  [ZoneReportFilter.ExplicitlyOpened]: ZoneState.ExplicitlyOpened,
  [ZoneReportFilter.Closed]: ZoneState.Closed,
  [ZoneReportFilter.Full]: ZoneState.Full,
  [ZoneReportFilter.ReadOnly]: ZoneState.ReadOnly,
  [ZoneReportFilter.Offline]: ZoneState.Offline,
};

/** Plain numbers for metrics; keys are stable. */
export interface ZoneStats {
  zones: number;
  empty: number;
  implicit_open: number;
  explicit_open: number;
  closed: number;
  full: number;
  read_only: number;
  offline: number;
  /** Zones holding an open / active resource now, and the limits (0 = none). */
  open: number;
  active: number;
  maxOpen: number;
  maxActive: number;
  /** Zone Management Send actions that changed a zone, counted per zone. */
  resets: number;
  finishes: number;
  explicitOpens: number;
  closes: number;
  offlines: number;
  /** Implicit opens by writes, and implicitly opened zones the controller closed to make room. */
  implicitOpens: number;
  implicitCloses: number;
  /** Zone Append commands that succeeded, and blocks appended. */
  appends: number;
  appendedBlocks: number;
  /** Writes refused by a zone check (any of the zone statuses). */
  zoneErrors: number;
  /** Zones made read only or offline by fault injection. */
  injectedFaults: number;
}

export interface ZoneInfo {
  zslba: number;
  state: ZoneStateName;
  wp: number;
  zcap: number;
  attributes: number;
}

export class ZoneManager {
  readonly zoneSize: number;
  readonly zoneCapacity: number;
  readonly count: number;
  readonly maxOpen: number;
  readonly maxActive: number;
  readonly appendLimit: number;
  readonly extensionBytes: number;
  private readonly st: Uint8Array;
  private readonly wps: Float64Array;
  private readonly za: Uint8Array;
  private readonly ext: Buffer | null;
  private readonly perState = new Map<number, number>();
  /** Implicitly opened zones, least recently opened first (Set keeps insertion order). */
  private readonly implicit = new Set<number>();
  private open = 0;
  private active = 0;
  private readonly c = {
    resets: 0,
    finishes: 0,
    explicitOpens: 0,
    closes: 0,
    offlines: 0,
    implicitOpens: 0,
    implicitCloses: 0,
    appends: 0,
    appendedBlocks: 0,
    zoneErrors: 0,
    injectedFaults: 0,
  };
  /** LBA assigned by the last successful append(). */
  appendedLba = 0;
  /** Zones an operation changed (zone indexes), filled by send() and implicit closes. */
  readonly touched: number[] = [];

  constructor(l: ZoneLayout) {
    if (!(l.zoneSize > 0) || !Number.isInteger(Math.log2(l.zoneSize))) {
      throw new Error(`zone size must be a power of two in logical blocks, got ${l.zoneSize}`);
    }
    if (l.nlb % l.zoneSize !== 0 || l.nlb === 0) throw new Error(`capacity (${l.nlb} blocks) must be a whole number of zones of ${l.zoneSize} blocks`);
    if (l.zoneCapacity < 1 || l.zoneCapacity > l.zoneSize) throw new Error(`zone capacity must be 1..${l.zoneSize} blocks, got ${l.zoneCapacity}`);
    this.zoneSize = l.zoneSize;
    this.zoneCapacity = l.zoneCapacity;
    this.count = l.nlb / l.zoneSize;
    this.maxOpen = l.maxOpen;
    this.maxActive = l.maxActive;
    this.appendLimit = l.appendLimit;
    this.extensionBytes = l.descriptorExtensionBytes ?? 0;
    this.st = new Uint8Array(this.count).fill(ZoneState.Empty);
    this.wps = new Float64Array(this.count);
    for (let z = 0; z < this.count; z++) this.wps[z] = z * this.zoneSize;
    this.za = new Uint8Array(this.count);
    this.ext = this.extensionBytes > 0 ? Buffer.alloc(this.count * this.extensionBytes) : null;
    for (const s of Object.values(ZoneState)) this.perState.set(s, 0);
    this.perState.set(ZoneState.Empty, this.count);
  }

  zoneOf(lba: number): number {
    return Math.floor(lba / this.zoneSize);
  }
  zslba(z: number): number {
    return z * this.zoneSize;
  }
  state(z: number): number {
    return this.st[z]!;
  }
  wp(z: number): number {
    return this.wps[z]!;
  }
  attributes(z: number): number {
    return this.za[z]!;
  }
  get openZones(): number {
    return this.open;
  }
  get activeZones(): number {
    return this.active;
  }

  // ---- I/O checks ----

  /** Read / Compare / Verify of [slba, slba+nlb): reads may cross zone boundaries (RAZB), not offline zones. */
  checkRead(slba: number, nlb: number): number {
    const last = this.zoneOf(slba + nlb - 1);
    for (let z = this.zoneOf(slba); z <= last; z++) if (this.st[z] === ZoneState.Offline) return Status.ZoneIsOffline;
    return Status.Success;
  }

  /**
   * Write or Write Zeroes of [slba, slba+nlb): must start at the zone's write pointer and stay
   * within its capacity; opens the zone implicitly and advances the write pointer. Returns a status.
   */
  write(slba: number, nlb: number): number {
    const s = this.checkWrite(slba, nlb);
    if (s === Status.Success) this.advance(this.zoneOf(slba), nlb);
    return s;
  }

  /**
   * What write() would return, changing nothing (a failure counts as a zone error): callers that
   * may still refuse the write (memory, an injected fault) check this, then write().
   */
  checkWrite(slba: number, nlb: number): number {
    const z = this.zoneOf(slba);
    let s = this.writableStatus(z);
    if (s === Status.Success && slba !== this.wps[z]) s = Status.ZoneInvalidWrite;
    if (s === Status.Success) s = this.canAdvance(z, nlb);
    if (s !== Status.Success) this.c.zoneErrors++;
    return s;
  }

  /** Zone Append of nlb blocks to the zone starting at zslba; on success appendedLba holds the assigned LBA. */
  append(zslba: number, nlb: number): number {
    const s = this.checkAppend(zslba, nlb);
    if (s !== Status.Success) return s;
    const z = this.zoneOf(zslba);
    this.appendedLba = this.wps[z]!;
    this.advance(z, nlb);
    this.c.appends++;
    this.c.appendedBlocks += nlb;
    return s;
  }

  /** What append() would return, changing nothing; on success the LBA it would assign is wp(zoneOf(zslba)). */
  checkAppend(zslba: number, nlb: number): number {
    const z = this.zoneOf(zslba);
    let s = this.writableStatus(z);
    if (s === Status.Success && zslba !== this.zslba(z)) s = Status.InvalidField;
    if (s === Status.Success && nlb > this.appendLimit) s = Status.InvalidField;
    if (s === Status.Success) s = this.canAdvance(z, nlb);
    if (s !== Status.Success) this.c.zoneErrors++;
    return s;
  }

  private writableStatus(z: number): number {
    switch (this.st[z]) {
      case ZoneState.Full:
        return Status.ZoneIsFull;
      case ZoneState.ReadOnly:
        return Status.ZoneIsReadOnly;
      case ZoneState.Offline:
        return Status.ZoneIsOffline;
      default:
        return Status.Success;
    }
  }

  /** Would advance(z, nlb) succeed? The same checks, nothing changed. */
  private canAdvance(z: number, nlb: number): number {
    if (this.wps[z]! + nlb > this.zslba(z) + this.zoneCapacity) return Status.ZoneBoundaryError;
    const s = this.st[z]!;
    if (s !== ZoneState.Empty && s !== ZoneState.Closed) return Status.Success;
    // acquire()'s refusals: no active resource for an empty zone; no open one and no implicitly
    // opened zone to close for it.
    if (s === ZoneState.Empty && this.maxActive > 0 && this.active >= this.maxActive) return Status.TooManyActiveZones;
    if (this.maxOpen > 0 && this.open >= this.maxOpen && this.implicit.size === 0) return Status.TooManyOpenZones;
    return Status.Success;
  }

  /** Write nlb blocks at z's write pointer: boundary check, implicit open, advance, full. */
  private advance(z: number, nlb: number): number {
    const wp = this.wps[z]!;
    if (wp + nlb > this.zslba(z) + this.zoneCapacity) return Status.ZoneBoundaryError;
    const s = this.st[z]!;
    if (s === ZoneState.Empty || s === ZoneState.Closed) {
      const r = this.acquire(z, ZoneState.ImplicitlyOpened);
      if (r !== Status.Success) return r;
      this.c.implicitOpens++;
    }
    this.wps[z] = wp + nlb;
    if (this.wps[z] === this.zslba(z) + this.zoneCapacity) this.toFull(z);
    return Status.Success;
  }

  /**
   * Open zone z (in ZSE or ZSC) into `to` (ZSIO or ZSEO): takes an active resource if it was empty
   * and an open resource, closing the least recently implicitly opened zone if that is what it
   * takes. Changes nothing on failure.
   */
  private acquire(z: number, to: number): number {
    const wasEmpty = this.st[z] === ZoneState.Empty;
    if (wasEmpty && this.maxActive > 0 && this.active >= this.maxActive) return Status.TooManyActiveZones;
    if (this.maxOpen > 0 && this.open >= this.maxOpen) {
      const victim = this.implicit.values().next();
      if (victim.done) return Status.TooManyOpenZones;
      this.setState(victim.value, ZoneState.Closed);
      this.open--;
      this.c.implicitCloses++;
      this.touched.push(victim.value);
    }
    if (wasEmpty) this.active++;
    this.open++;
    this.setState(z, to);
    return Status.Success;
  }

  private toFull(z: number): void {
    const s = this.st[z]!;
    if (s === ZoneState.ImplicitlyOpened || s === ZoneState.ExplicitlyOpened) {
      this.open--;
      this.active--;
    } else if (s === ZoneState.Closed) {
      this.active--;
    }
    this.wps[z] = this.zslba(z) + this.zoneCapacity;
    this.setState(z, ZoneState.Full);
  }

  private toEmpty(z: number): void {
    const s = this.st[z]!;
    if (s === ZoneState.ImplicitlyOpened || s === ZoneState.ExplicitlyOpened) {
      this.open--;
      this.active--;
    } else if (s === ZoneState.Closed) {
      this.active--;
    }
    this.wps[z] = this.zslba(z);
    this.za[z] = 0;
    if (this.ext) this.ext.fill(0, z * this.extensionBytes, (z + 1) * this.extensionBytes);
    this.setState(z, ZoneState.Empty);
  }

  private setState(z: number, to: number): void {
    const from = this.st[z]!;
    if (from === to) return;
    this.perState.set(from, this.perState.get(from)! - 1);
    this.perState.set(to, this.perState.get(to)! + 1);
    this.st[z] = to;
    if (from === ZoneState.ImplicitlyOpened) this.implicit.delete(z);
    if (to === ZoneState.ImplicitlyOpened) this.implicit.add(z);
  }

  // ---- Zone Management Send ----

  /**
   * Apply a Zone Management Send action to the zone starting at `slba`, or with `selectAll` to
   * every zone in the states the action selects. Zones whose state changed are listed in
   * `touched` (cleared first), so the caller can zero reset zones' data and tell the model.
   * `extension` is the Set Zone Descriptor Extension data.
   */
  send(action: number, slba: number, selectAll: boolean, extension?: Buffer | null): number {
    this.touched.length = 0;
    if (!selectAll) {
      if (slba >= this.count * this.zoneSize) return Status.LbaOutOfRange;
      const z = this.zoneOf(slba);
      if (slba !== this.zslba(z)) return Status.InvalidField;
      return this.sendOne(action, z, extension ?? null);
    }
    let select: number[];
    switch (action) {
      case ZoneSendAction.Open:
        select = [ZoneState.Closed];
        break;
      case ZoneSendAction.Close:
        select = [ZoneState.ImplicitlyOpened, ZoneState.ExplicitlyOpened];
        break;
      case ZoneSendAction.Finish:
        select = [ZoneState.ImplicitlyOpened, ZoneState.ExplicitlyOpened, ZoneState.Closed];
        break;
      case ZoneSendAction.Reset:
        select = [ZoneState.ImplicitlyOpened, ZoneState.ExplicitlyOpened, ZoneState.Closed, ZoneState.Full];
        break;
      case ZoneSendAction.Offline:
        select = [ZoneState.ReadOnly];
        break;
      default:
        return Status.InvalidField; // Set Zone Descriptor Extension and ZRWA flush name one zone
    }
    const zones: number[] = [];
    for (let z = 0; z < this.count; z++) if (select.includes(this.st[z]!)) zones.push(z);
    // Opening every closed zone: all or nothing (the zones opened by it are explicitly opened,
    // so implicitly opened zones may be closed to make room, but no more than exist).
    if (action === ZoneSendAction.Open && this.maxOpen > 0 && this.open - this.implicit.size + zones.length > this.maxOpen) {
      return Status.TooManyOpenZones;
    }
    for (const z of zones) {
      const s = this.sendOne(action, z, null);
      if (s !== Status.Success) return s; // cannot happen after the selection above
    }
    return Status.Success;
  }

  private sendOne(action: number, z: number, extension: Buffer | null): number {
    const s = this.st[z]!;
    const bad = Status.InvalidZoneStateTransition;
    switch (action) {
      case ZoneSendAction.Open:
        if (s === ZoneState.ExplicitlyOpened) return Status.Success;
        if (s === ZoneState.ImplicitlyOpened) {
          this.setState(z, ZoneState.ExplicitlyOpened);
        } else if (s === ZoneState.Empty || s === ZoneState.Closed) {
          // An implicitly opened zone closed to make room is reported after z in touched.
          const r = this.acquire(z, ZoneState.ExplicitlyOpened);
          if (r !== Status.Success) return r;
        } else {
          return bad;
        }
        this.c.explicitOpens++;
        this.touched.push(z);
        return Status.Success;
      case ZoneSendAction.Close:
        if (s === ZoneState.Closed) return Status.Success;
        if (s !== ZoneState.ImplicitlyOpened && s !== ZoneState.ExplicitlyOpened) return bad;
        this.open--;
        this.setState(z, ZoneState.Closed);
        this.c.closes++;
        this.touched.push(z);
        return Status.Success;
      case ZoneSendAction.Finish:
        if (s === ZoneState.Full) return Status.Success;
        if (s === ZoneState.ReadOnly || s === ZoneState.Offline) return bad;
        this.toFull(z);
        this.c.finishes++;
        this.touched.push(z);
        return Status.Success;
      case ZoneSendAction.Reset:
        if (s === ZoneState.Empty) return Status.Success;
        if (s === ZoneState.ReadOnly || s === ZoneState.Offline) return bad;
        this.toEmpty(z);
        this.c.resets++;
        this.touched.push(z);
        return Status.Success;
      case ZoneSendAction.Offline:
        if (s === ZoneState.Offline) return Status.Success; // already there: a no-op, like the other actions
        if (s !== ZoneState.ReadOnly) return bad;
        this.setState(z, ZoneState.Offline);
        this.c.offlines++;
        this.touched.push(z);
        return Status.Success;
      case ZoneSendAction.SetDescriptorExtension: {
        if (!this.ext) return Status.InvalidField;
        if (s !== ZoneState.Empty) return bad;
        if (this.maxActive > 0 && this.active >= this.maxActive) return Status.TooManyActiveZones;
        this.active++;
        this.setState(z, ZoneState.Closed);
        this.za[z] = this.za[z]! | ZoneAttr.ZDEV;
        const off = z * this.extensionBytes;
        this.ext.fill(0, off, off + this.extensionBytes);
        if (extension) extension.copy(this.ext, off, 0, Math.min(extension.length, this.extensionBytes));
        this.touched.push(z);
        return Status.Success;
      }
      default:
        return Status.InvalidField;
    }
  }

  // ---- Zone Management Receive ----

  /**
   * Report zones from the zone holding `slba` that pass `filter`, into a buffer of `bytes` bytes.
   * NZ in the header: with `partial`, the descriptors that fit; without, every matching zone from
   * `slba` on. Returns a status, or the report.
   */
  report(slba: number, action: number, filter: number, partial: boolean, bytes: number): number | Buffer {
    if (action !== ZoneReceiveAction.Report && action !== ZoneReceiveAction.ExtendedReport) return Status.InvalidField;
    if (action === ZoneReceiveAction.ExtendedReport && this.extensionBytes === 0) return Status.InvalidField;
    if (filter !== ZoneReportFilter.All && FILTER_STATE[filter] === undefined) return Status.InvalidField;
    if (slba >= this.count * this.zoneSize) return Status.LbaOutOfRange;
    const ext = action === ZoneReceiveAction.ExtendedReport ? this.extensionBytes : 0;
    const stride = ZONE_DESCRIPTOR_SIZE + ext;
    const out = Buffer.alloc(bytes);
    const fit = bytes < REPORT_HEADER_SIZE ? 0 : Math.floor((bytes - REPORT_HEADER_SIZE) / stride);
    const want = filter === ZoneReportFilter.All ? -1 : FILTER_STATE[filter]!;
    let matched = 0;
    let written = 0;
    for (let z = this.zoneOf(slba); z < this.count; z++) {
      if (want >= 0 && this.st[z] !== want) continue;
      matched++;
      if (written < fit) {
        const off = REPORT_HEADER_SIZE + written * stride;
        writeZoneDescriptor(out, off, this.descriptor(z));
        if (ext > 0) this.ext!.copy(out, off + ZONE_DESCRIPTOR_SIZE, z * ext, (z + 1) * ext);
        written++;
      } else if (partial) {
        break;
      }
    }
    if (bytes >= REPORT_HEADER_SIZE) writeReportHeader(out, 0, partial ? written : matched);
    else {
      const h = Buffer.alloc(REPORT_HEADER_SIZE);
      writeReportHeader(h, 0, partial ? written : matched);
      h.copy(out, 0, 0, bytes);
    }
    return out;
  }

  descriptor(z: number): { zt: number; zs: number; za: number; zai: number; zcap: number; zslba: number; wp: number } {
    return { zt: ZONE_TYPE_SEQ_WRITE_REQUIRED, zs: this.st[z]!, za: this.za[z]!, zai: 0, zcap: this.zoneCapacity, zslba: this.zslba(z), wp: this.wps[z]! };
  }

  // ---- Faults, introspection ----

  /**
   * A controller event makes zone z read only or offline (media failure; here fault injection).
   * Releases the zone's resources. Returns false when nothing changed (already in that state),
   * throws when the transition is impossible (an offline zone never comes back to read only).
   */
  inject(z: number, to: 'read_only' | 'offline'): boolean {
    const s = this.st[z]!;
    const target = to === 'offline' ? ZoneState.Offline : ZoneState.ReadOnly;
    if (s === target) return false;
    if (s === ZoneState.Offline) throw new Error('zone is offline; it cannot become read only');
    if (s === ZoneState.ImplicitlyOpened || s === ZoneState.ExplicitlyOpened) {
      this.open--;
      this.active--;
    } else if (s === ZoneState.Closed) {
      this.active--;
    }
    this.setState(z, target);
    this.c.injectedFaults++;
    return true;
  }

  zoneInfo(z: number): ZoneInfo {
    return { zslba: this.zslba(z), state: zoneStateName(this.st[z]!), wp: this.wps[z]!, zcap: this.zoneCapacity, attributes: this.za[z]! };
  }

  list(): ZoneInfo[] {
    return Array.from({ length: this.count }, (_, z) => this.zoneInfo(z));
  }

  stats(): ZoneStats {
    const n = (s: number): number => this.perState.get(s)!;
    return {
      zones: this.count,
      empty: n(ZoneState.Empty),
      implicit_open: n(ZoneState.ImplicitlyOpened),
      explicit_open: n(ZoneState.ExplicitlyOpened),
      closed: n(ZoneState.Closed),
      full: n(ZoneState.Full),
      read_only: n(ZoneState.ReadOnly),
      offline: n(ZoneState.Offline),
      open: this.open,
      active: this.active,
      maxOpen: this.maxOpen,
      maxActive: this.maxActive,
      ...this.c,
    };
  }
}
