// `conv` device model: a conventional flash SSD. A 4 KiB page-mapping FTL over lines (a line is
// the same block index on every parallel unit), with over-provisioning, a write buffer with early
// completion, GC, trim, wear counters, and timing from NAND (per page type), LUN occupancy,
// channel and PCIe bandwidth and firmware overheads, as NVMeVirt's conventional SSD does, plus
// real erase latency and write-amplification counters it lacks.
//
// Data never enters the model: the namespace's store on the network thread keeps the bytes by LBA
// (so data correctness is the store's business; this model only decides when commands complete
// and where each logical page lives on the emulated NAND).
//
// Timing (times in ns; all computed when the command is submitted, so the model is pure):
// - Read: firmware (4 KiB or larger) -> per run of 4 KiB units in one flash page: NAND read of that
//   page type on its LUN (a LUN does one operation at a time: busy-until) -> channel transfer (the
//   LUN stays busy until its data is out) -> PCIe transfer of the whole command. Units still in an
//   unprogrammed one-shot page are served from the buffer (no NAND); unmapped units read as zeroes
//   without NAND.
// - Write: PCIe transfer -> each 4 KiB unit takes write-buffer space (waiting for a program to free
//   some when full) and is mapped to the next slot of the user write pointer -> completion =
//   data in buffer + firmware base + per-4 KiB cost. When a one-shot page worth is buffered it is
//   programmed: channel transfer then program latency on its LUN; its buffer space frees at the
//   end of the program. FUA programs the partial one-shot page (padding the rest) and completes
//   when all programs holding the command's data have ended.
// - Flush: programs the host's partial one-shot page, completes when the last busy LUN is idle.
// - GC: when free lines <= gc_threshold_lines, a victim line is chosen by policy (greedy: fewest
//   valid units; cost-benefit: age x (1 - u) / 2u). It is collected incrementally, paced by host
//   writes: each 4 KiB the host writes earns valid/invalid (of the victim, x 1.1) units of copying,
//   so the victim is free about when the host has filled the space it gives back and GC work is
//   spread between host programs instead of landing in one burst. Copying = NAND read (+ channel)
//   of each flash page's valid units, re-mapping to the GC write pointer, programs; when the victim
//   is empty each LUN erases its blocks (erase latency). All of it occupies LUNs and channels from
//   the time of the host write that triggered it, so host I/O sees the interference. Foreground GC:
//   when a new user line is needed and at most one line is free (kept for GC's own write pointer),
//   victims are collected at once until two are free; with >= gc_threshold_lines + 3 lines beyond
//   the logical capacity a victim with an invalid unit always exists, so this never deadlocks.
//   GC has its own buffer (not the host write buffer).
// - Planes: geometry only (a line has one block per plane); a LUN serves one operation at a time
//   and erases all its planes' blocks of a line in one (multi-plane) erase.
// - Writes smaller than 4 KiB are treated as whole-unit writes (no read-modify-write), as NVMeVirt.
import { SparseU32Map, UNSET, type SparseU32Parts } from './sparse-map.js';
import { BandwidthResource } from './bandwidth.js';
import { nandTiming, setNandTiming, type NandTimingState } from './nand-timing.js';
import {
  CONV_SCALAR_TIMING_KEYS,
  MAP_UNIT,
  convGeometry,
  convParamProblems,
  type ConvGeometry,
  type ConvParams,
} from './conv-params.js';
import { ModelOp, type DeviceModel, type ModelState, type ModelCounters, type ModelOpCode, type TimingParams } from '../model.js';

const UNMAPPED = UNSET; // 0xffffffff
const LINE_FREE = 0;
const LINE_OPEN = 1;
const LINE_FULL = 2;
/** Being collected by GC. */
const LINE_VICTIM = 3;
/** GC copies this much faster than the bare valid/invalid ratio, to gain free lines slowly. */
const GC_PACE = 1.1;
/** Write pointers: host data and GC copies go to different lines (hot/cold separation). */
const USER = 0;
const GC = 1;

export class ConvModel implements DeviceModel {
  readonly kind = 'conv' as const;
  readonly nlb: number;
  readonly geometry: ConvGeometry;
  private readonly p: ConvParams;

  // FTL state
  private readonly l2p: SparseU32Map;
  private readonly p2l: SparseU32Map;
  private readonly lineValid: Uint32Array;
  private readonly lineState: Uint8Array;
  private readonly lineClosedAt: Float64Array;
  private readonly eraseCount: Uint32Array;
  private readonly freeQueue: Int32Array;
  private freeHead = 0;
  private freeCount: number;
  private readonly wpLine = new Int32Array([-1, -1]);
  /** Next slot (0..unitsPerLine) of each write pointer's line. */
  private readonly wpSlot = new Int32Array(2);
  /** Units buffered in the write pointer's current one-shot page, and when their data is all there. */
  private readonly wpFill = new Int32Array(2);
  private readonly wpReady = new Float64Array(2);
  /** Set by nextSlot(): the parallel unit of the slot and whether it completes a one-shot page. */
  private slotPu = 0;
  private slotEndsOneshot = false;

  // Timing state
  private readonly lunBusy: Float64Array;
  private readonly channelBw: BandwidthResource[];
  private readonly pcieToHost: BandwidthResource;
  private readonly pcieFromHost: BandwidthResource;
  private readonly read4k: Float64Array;
  private readonly readPage: Float64Array;
  private lastNow = 0;

  // Host write buffer: free bytes, the earliest time they are free, pending releases (min-heap).
  private bufFree: number;
  private bufFreeAt = 0;
  private relTime: Float64Array;
  private relBytes: Float64Array;
  private relCount = 0;

  // Counters
  private hostWritten = 0;
  private hostRead = 0;
  private mediaUser = 0;
  private mediaGc = 0;
  private mediaRead = 0;
  private gcRuns = 0;
  private gcMoved = 0;
  private erases = 0;
  private maxErase = 0;
  private wornBlocks = 0;
  private trimmed = 0;
  private readonly initialSpareBlocks: number;

  // Incremental GC: victim line (-1 = none), next unit to look at, copy credit, credit per host unit.
  private gcLine = -1;
  private gcCursor = 0;
  private gcCredit = 0;
  private gcRate = 0;

  constructor(
    params: ConvParams,
    readonly lbaSize: number,
    capacityBytes: number,
  ) {
    const problems = convParamProblems(params, capacityBytes);
    if (problems.length) throw new Error(`invalid conv parameters: ${problems.map(([k, m]) => `${k}: ${m}`).join('; ')}`);
    this.p = { ...params, read_4k_latency_ns: [...params.read_4k_latency_ns], read_latency_ns: [...params.read_latency_ns] };
    const g = (this.geometry = convGeometry(this.p, capacityBytes));
    this.nlb = Math.floor(capacityBytes / lbaSize);

    this.l2p = new SparseU32Map(g.logicalPages);
    this.p2l = new SparseU32Map(g.physicalPages);
    this.lineValid = new Uint32Array(g.lines);
    this.lineState = new Uint8Array(g.lines);
    this.lineClosedAt = new Float64Array(g.lines);
    this.eraseCount = new Uint32Array(g.blocks);
    this.freeQueue = new Int32Array(g.lines);
    for (let i = 0; i < g.lines; i++) this.freeQueue[i] = i;
    this.freeCount = g.lines;
    this.initialSpareBlocks = g.blocks - Math.ceil(g.logicalPages / g.unitsPerBlock);

    this.lunBusy = new Float64Array(g.luns);
    this.channelBw = Array.from({ length: this.p.channels }, () => new BandwidthResource(this.p.channel_bw_mibps));
    this.pcieToHost = new BandwidthResource(this.p.pcie_bw_mibps);
    this.pcieFromHost = new BandwidthResource(this.p.pcie_bw_mibps);
    this.read4k = Float64Array.from(this.p.read_4k_latency_ns);
    this.readPage = Float64Array.from(this.p.read_latency_ns);

    this.bufFree = this.p.write_buffer_size;
    const maxReleases = Math.ceil(this.p.write_buffer_size / MAP_UNIT) + 2;
    this.relTime = new Float64Array(maxReleases);
    this.relBytes = new Float64Array(maxReleases);
  }

  // -------------------------------------------------------------------------------------------
  // DeviceModel

  submit(op: ModelOpCode, slba: number, nlb: number, fua: boolean, nowNs: number): number {
    const now = nowNs > this.lastNow ? nowNs : this.lastNow; // the clock must not go back
    if (now !== this.lastNow) {
      this.lastNow = now;
      for (let c = 0; c < this.channelBw.length; c++) this.channelBw[c]!.advanceTo(now);
      this.pcieToHost.advanceTo(now);
      this.pcieFromHost.advanceTo(now);
    }
    const startByte = slba * this.lbaSize;
    const bytes = nlb * this.lbaSize;
    const endByte = startByte + bytes;
    switch (op) {
      case ModelOp.Read:
        this.hostRead += bytes;
        return Math.ceil(this.read(Math.floor(startByte / MAP_UNIT), Math.ceil(endByte / MAP_UNIT), bytes, now));
      case ModelOp.Write: {
        this.hostWritten += bytes;
        const done = this.write(Math.floor(startByte / MAP_UNIT), Math.ceil(endByte / MAP_UNIT), bytes, fua, now);
        this.reclaimMaps();
        return Math.ceil(done);
      }
      case ModelOp.WriteZeroes:
        // Deallocating is how SSDs write zeroes: the units read back as zeroes without NAND.
        this.hostWritten += bytes;
        this.unmapRange(startByte, endByte);
        this.reclaimMaps();
        return Math.ceil(now + this.p.firmware_trim_ns);
      case ModelOp.Trim:
        this.trimmed += bytes;
        this.unmapRange(startByte, endByte);
        this.reclaimMaps();
        return Math.ceil(now + this.p.firmware_trim_ns);
      default:
        return Math.ceil(this.flush(now));
    }
  }

  counters(): ModelCounters {
    const g = this.geometry;
    const avgErase = this.erases / g.blocks;
    const spare = this.initialSpareBlocks > 0 ? (100 * (this.initialSpareBlocks - this.wornBlocks)) / this.initialSpareBlocks : 0;
    return {
      hostWrittenBytes: this.hostWritten,
      hostReadBytes: this.hostRead,
      mediaWrittenUserBytes: this.mediaUser,
      mediaWrittenGcBytes: this.mediaGc,
      mediaReadBytes: this.mediaRead,
      gcRuns: this.gcRuns,
      gcPagesMoved: this.gcMoved,
      erases: this.erases,
      maxEraseCount: this.maxErase,
      freeBlocks: this.freeCount * g.pus,
      totalBlocks: g.blocks,
      trimmedBytes: this.trimmed,
      percentageUsed: Math.min(255, Math.round((100 * avgErase) / this.p.pe_cycles)),
      availableSpare: Math.max(0, Math.min(100, Math.round(spare))),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Persistence: the FTL (maps, line states, free list, write points, wear, counters) survives a
  // clean restart. Timing state (LUN and bus reservations, write buffer drain) starts idle.

  /**
   * Saved-state format. 1 (no stateVersion): l2p and p2l as dense Uint32Arrays. 2: l2p only, as
   * SparseU32Parts under `l2p.chunks`, `l2p.data`, `l2p.index`, `l2p.value` (nothing for unwritten
   * space); p2l is rebuilt from it and checked against the lines' valid counts.
   */
  private static readonly STATE_VERSION = 2;
  private static readonly STATE_ARRAYS = ['lineValid', 'lineState', 'lineClosedAt', 'eraseCount', 'freeQueue', 'wpLine', 'wpSlot', 'wpFill'] as const;
  private static readonly STATE_SCALARS = [
    'freeHead', 'freeCount', 'slotPu', 'slotEndsOneshot', 'hostWritten', 'hostRead', 'mediaUser', 'mediaGc', 'mediaRead', 'gcRuns', 'gcMoved',
    'erases', 'maxErase', 'wornBlocks', 'trimmed', 'gcLine', 'gcCursor', 'gcCredit', 'gcRate',
  ] as const;

  /** What a saved FTL must match: the layout, not the timing (latencies may change between runs). */
  private fingerprint(): string {
    return JSON.stringify({ geometry: this.geometry, lbaSize: this.lbaSize, cell: this.p.cell_type, pe: this.p.pe_cycles });
  }

  exportState(): ModelState {
    const self = this as unknown as Record<string, unknown>;
    const arrays: ModelState['arrays'] = {};
    const l2p = this.l2p.toParts();
    for (const part of ['chunks', 'data', 'index', 'value'] as const) arrays[`l2p.${part}`] = l2p[part];
    for (const k of ConvModel.STATE_ARRAYS) arrays[k] = this[k];
    const scalars: ModelState['scalars'] = { stateVersion: ConvModel.STATE_VERSION };
    for (const k of ConvModel.STATE_SCALARS) scalars[k] = self[k] as number | boolean;
    return { kind: 'conv', fingerprint: this.fingerprint(), savedAtNs: this.lastNow, arrays, scalars };
  }

  importState(s: ModelState, nowNs: number): void {
    if (s.kind !== 'conv' || s.fingerprint !== this.fingerprint()) throw new Error('the saved FTL state was made with other conv parameters or capacity');
    const version = s.scalars.stateVersion ?? 1;
    if (version !== 1 && version !== ConvModel.STATE_VERSION) {
      throw new Error(`the saved FTL state has format version ${String(version)}; this nvmf-emu reads versions 1 and ${ConvModel.STATE_VERSION}`);
    }
    if (version === 1) {
      const src = s.arrays.l2p;
      if (!(src instanceof Uint32Array) || src.length !== this.l2p.length) throw new Error('saved FTL state: l2p has the wrong size');
    }
    for (const k of ConvModel.STATE_ARRAYS) {
      const src = s.arrays[k];
      if (!src || src.length !== this[k].length) throw new Error(`saved FTL state: ${k} has the wrong size`);
      this[k].set(src as never);
    }
    try {
      if (version === 1) this.l2p.fromDense(s.arrays.l2p as Uint32Array);
      else this.l2p.fromParts({ chunks: s.arrays['l2p.chunks'], data: s.arrays['l2p.data'], index: s.arrays['l2p.index'], value: s.arrays['l2p.value'] } as SparseU32Parts);
    } catch (err) {
      throw new Error(`saved FTL state: l2p is malformed (${(err as Error).message})`);
    }
    this.rebuildP2l();
    const self = this as unknown as Record<string, unknown>;
    for (const k of ConvModel.STATE_SCALARS) if (k in s.scalars) self[k] = s.scalars[k];
    // Line ages carry over (cost-benefit GC); the clock may differ after a reboot.
    const shift = nowNs - s.savedAtNs;
    for (let i = 0; i < this.lineClosedAt.length; i++) if (this.lineClosedAt[i]! !== 0) this.lineClosedAt[i]! += shift;
    this.wpReady.fill(0);
    // The buses start idle at the new clock: without this, a first command at exactly nowNs (the
    // clock not moving, so submit() does not advance them) had their slot rings grow from time 0
    // to nowNs (gigabytes at a clock of hours).
    this.lastNow = nowNs;
    for (let c = 0; c < this.channelBw.length; c++) this.channelBw[c]!.advanceTo(nowNs);
    this.pcieToHost.advanceTo(nowNs);
    this.pcieFromHost.advanceTo(nowNs);
  }

  /** p2l as the inverse of l2p (a restore), checked against the saved lines' valid counts. */
  private rebuildP2l(): void {
    const g = this.geometry;
    const valid = new Uint32Array(g.lines);
    let bad = '';
    this.p2l.reset();
    this.l2p.forEach((lpn, ppn) => {
      if (bad) return;
      if (ppn >= g.physicalPages || this.p2l.get(ppn) !== UNMAPPED) bad = `logical unit ${lpn} maps to ${ppn}, out of range or taken`;
      else {
        this.p2l.set(ppn, lpn);
        valid[Math.floor(ppn / g.unitsPerLine)]!++;
      }
    });
    for (let l = 0; !bad && l < g.lines; l++) if (valid[l] !== this.lineValid[l]) bad = `line ${l} has ${valid[l]} mapped units but a valid count of ${this.lineValid[l]}`;
    if (bad) throw new Error(`saved FTL state is inconsistent: ${bad}`);
  }

  private reclaimMaps(): void {
    this.l2p.reclaim();
    this.p2l.reclaim();
  }

  timing(): TimingParams {
    return nandTiming(this.nand(), CONV_SCALAR_TIMING_KEYS);
  }

  setTiming(t: TimingParams): void {
    setNandTiming(this.nand(), t, CONV_SCALAR_TIMING_KEYS, 'a conv device');
  }

  private nand(): NandTimingState {
    return this as unknown as NandTimingState; // the fields it names are this model's own
  }

  // -------------------------------------------------------------------------------------------
  // Extra surface (tests, simulator, SMART)

  /** Resolved parameters (a copy). */
  params(): ConvParams {
    return { ...this.p, read_4k_latency_ns: [...this.p.read_4k_latency_ns], read_latency_ns: [...this.p.read_latency_ns] };
  }

  /** Erase count of every block (block = line x parallel units + unit). A view: do not modify. */
  eraseCounts(): Uint32Array {
    return this.eraseCount;
  }

  /** Physical unit a logical 4 KiB unit is mapped to, or -1 when unmapped (trimmed or never written). */
  lookup(lpn: number): number {
    if (!(lpn >= 0 && lpn < this.geometry.logicalPages)) return -1;
    const ppn = this.l2p.get(lpn);
    return ppn === UNMAPPED ? -1 : ppn;
  }

  get freeLines(): number {
    return this.freeCount;
  }

  /**
   * Collect a whole victim line now regardless of the threshold (finishing the one in progress, if
   * any); false when no line has an invalid unit.
   */
  forceGc(nowNs: number): boolean {
    const now = Math.max(nowNs, this.lastNow);
    if (this.gcLine < 0 && !this.gcStart(now)) return false;
    this.gcAdvance(now, true);
    return true;
  }

  /** When the LUN (channel-major: lun = channel + channels x lunInChannel) is next idle. */
  lunBusyUntil(lun: number): number {
    return this.lunBusy[lun]!;
  }

  /**
   * Check the FTL's invariants; throws an Error naming the first violation. O(mapped space + lines):
   * for tests.
   * - each map chunk's count of set entries is right, and no emptied chunk outlives a command;
   * - every mapped logical unit's physical unit maps back to it, and vice versa (so no physical
   *   unit is mapped twice);
   * - each line's valid count equals the mapped units in it; free lines hold none;
   * - the free queue holds exactly the free lines, once each; a line is free, or GC can finish its
   *   victim without one.
   */
  checkInvariants(): void {
    const g = this.geometry;
    const fail = (m: string): never => {
      throw new Error(`conv FTL invariant violated: ${m}`);
    };
    for (const [name, map] of [['l2p', this.l2p], ['p2l', this.p2l]] as const) {
      try {
        map.check();
      } catch (err) {
        fail(`${name}: ${(err as Error).message}`);
      }
    }
    let mapped = 0;
    this.l2p.forEach((lpn, ppn) => {
      mapped++;
      if (lpn >= g.logicalPages) fail(`lpn ${lpn} is mapped, beyond ${g.logicalPages}`);
      if (ppn >= g.physicalPages) fail(`lpn ${lpn} maps to ${ppn}, beyond ${g.physicalPages}`);
      if (this.p2l.get(ppn) !== lpn) fail(`lpn ${lpn} -> ppn ${ppn} -> lpn ${this.p2l.get(ppn)}`);
    });
    const valid = new Uint32Array(g.lines);
    let live = 0;
    this.p2l.forEach((ppn, lpn) => {
      live++;
      if (ppn >= g.physicalPages) fail(`ppn ${ppn} is mapped, beyond ${g.physicalPages}`);
      if (lpn >= g.logicalPages || this.l2p.get(lpn) !== ppn) fail(`ppn ${ppn} -> lpn ${lpn} -> ppn ${this.l2p.get(lpn)}`);
      valid[Math.floor(ppn / g.unitsPerLine)]!++;
    });
    if (live !== mapped) fail(`${mapped} mapped logical units but ${live} live physical units`);
    const inQueue = new Uint8Array(g.lines);
    for (let i = 0; i < this.freeCount; i++) {
      const line = this.freeQueue[(this.freeHead + i) % g.lines]!;
      if (inQueue[line]) fail(`line ${line} is in the free queue twice`);
      inQueue[line] = 1;
    }
    for (let l = 0; l < g.lines; l++) {
      if (valid[l] !== this.lineValid[l]) fail(`line ${l} valid count ${this.lineValid[l]} but ${valid[l]} mapped units`);
      const free = this.lineState[l] === LINE_FREE;
      if (free !== (inQueue[l] === 1)) fail(`line ${l} state ${this.lineState[l]} vs free queue membership ${inQueue[l]}`);
      if ((this.lineState[l] === LINE_VICTIM) !== (l === this.gcLine)) fail(`line ${l} state ${this.lineState[l]}, GC victim ${this.gcLine}`);
      if (free && valid[l] !== 0) fail(`free line ${l} holds ${valid[l]} valid units`);
    }
    // No free line is fine only while GC's own open line has room for what its victim still holds
    // (GC then finishes the victim without a new line); anything else could deadlock.
    if (this.freeCount === 0) {
      if (this.gcLine < 0) fail('no free line and no GC victim in progress');
      const room = this.wpLine[GC]! < 0 ? 0 : g.unitsPerLine - this.wpSlot[GC]!;
      if (room < this.lineValid[this.gcLine]!) fail(`no free line, and GC's line has room for ${room} of its victim's ${this.lineValid[this.gcLine]} units`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Read

  private read(lpn: number, lpnEnd: number, bytes: number, now: number): number {
    const g = this.geometry;
    const start = now + (bytes <= MAP_UNIT ? this.p.firmware_4k_read_ns : this.p.firmware_read_ns);
    let done = start;
    if (lpnEnd > g.logicalPages) lpnEnd = g.logicalPages;
    const upf = g.unitsPerFlashPage;
    while (lpn < lpnEnd) {
      const ppn = this.l2p.get(lpn);
      if (ppn === UNMAPPED || this.inOpenOneshot(ppn)) {
        lpn++;
        continue;
      }
      // One NAND read for the run of units that follow in the same flash page.
      const pageEnd = ppn - (ppn % upf) + upf;
      let n = 1;
      while (lpn + n < lpnEnd && ppn + n < pageEnd && this.l2p.get(lpn + n) === ppn + n) n++;
      const end = this.nandRead(ppn, n, start);
      if (end > done) done = end;
      lpn += n;
    }
    return this.pcieToHost.reserve(done, bytes);
  }

  /** NAND read of `n` units of one flash page from `ppn`, then their channel transfer. */
  private nandRead(ppn: number, n: number, t: number): number {
    const g = this.geometry;
    const block = Math.floor(ppn / g.unitsPerBlock);
    const pu = block % g.pus;
    const lun = pu % g.luns;
    const cell = Math.floor((ppn - block * g.unitsPerBlock) / g.unitsPerFlashPage) % g.bitsPerCell;
    const begin = Math.max(t, this.lunBusy[lun]!);
    const sensed = begin + (n === 1 ? this.read4k[cell]! : this.readPage[cell]!);
    const end = this.channelBw[pu % this.p.channels]!.reserve(sensed, n * MAP_UNIT);
    this.lunBusy[lun] = end;
    this.mediaRead += n * MAP_UNIT;
    return end;
  }

  /** Whether the unit is in a one-shot page still being filled (so still only in a buffer). */
  private inOpenOneshot(ppn: number): boolean {
    const g = this.geometry;
    const line = Math.floor(ppn / g.unitsPerLine);
    for (let w = 0; w < 2; w++) {
      if (this.wpLine[w] !== line || this.wpFill[w] === 0) continue;
      const inLine = ppn - line * g.unitsPerLine;
      const pu = Math.floor(inLine / g.unitsPerBlock);
      const k = Math.floor((inLine - pu * g.unitsPerBlock) / g.unitsPerOneshot);
      if (k * g.pus + pu === Math.floor((this.wpSlot[w]! - 1) / g.unitsPerOneshot)) return true;
    }
    return false;
  }

  // -------------------------------------------------------------------------------------------
  // Write, trim, flush

  private write(lpn: number, lpnEnd: number, bytes: number, fua: boolean, now: number): number {
    const g = this.geometry;
    if (lpnEnd > g.logicalPages) lpnEnd = g.logicalPages;
    const units = lpnEnd - lpn;
    const inBuffer = this.pcieFromHost.reserve(now, bytes);
    let t = now;
    let programmed = 0;
    for (; lpn < lpnEnd; lpn++) {
      t = this.acquireBuffer(t);
      const ready = t > inBuffer ? t : inBuffer;
      this.unmap(lpn);
      const ppn = this.nextSlot(USER, ready);
      this.map(lpn, ppn);
      if (this.wpReady[USER]! < ready) this.wpReady[USER] = ready;
      this.wpFill[USER]!++;
      if (this.slotEndsOneshot) {
        const end = this.program(USER, this.slotPu);
        if (end > programmed) programmed = end;
      }
      if (this.gcLine >= 0 || this.freeCount <= this.p.gc_threshold_lines) this.gcStep(ready);
    }
    const accepted = t > inBuffer ? t : inBuffer;
    let done = accepted + this.p.firmware_wbuf_base_ns + this.p.firmware_wbuf_per_4k_ns * units;
    if (fua) {
      if (this.wpFill[USER]! > 0) {
        const end = this.programPartial(USER, accepted);
        if (end > programmed) programmed = end;
      }
      if (programmed > done) done = programmed;
    }
    return done;
  }

  private flush(now: number): number {
    // Only host data: GC's copies still have their source until the victim is erased, and padding
    // GC's open one-shot page would spend the room GC keeps to finish its victim without a free
    // line (a flush with none free then left GC no line to finish in: a property test found it).
    if (this.wpFill[USER]! > 0) this.programPartial(USER, now);
    let done = now;
    for (let i = 0; i < this.lunBusy.length; i++) if (this.lunBusy[i]! > done) done = this.lunBusy[i]!;
    return done;
  }

  /** Unmap the logical units wholly inside [startByte, endByte) (a partial unit keeps its data). */
  private unmapRange(startByte: number, endByte: number): void {
    const cap = this.nlb * this.lbaSize;
    const first = Math.ceil(startByte / MAP_UNIT);
    const last = endByte >= cap ? this.geometry.logicalPages : Math.floor(endByte / MAP_UNIT);
    for (let lpn = first; lpn < last; lpn++) this.unmap(lpn);
  }

  private unmap(lpn: number): void {
    const old = this.l2p.take(lpn);
    if (old === UNMAPPED) return;
    this.p2l.clear(old); // set: p2l is l2p's inverse
    this.lineValid[Math.floor(old / this.geometry.unitsPerLine)]!--;
  }

  private map(lpn: number, ppn: number): void {
    this.l2p.put(lpn, ppn);
    this.p2l.put(ppn, lpn);
    this.lineValid[Math.floor(ppn / this.geometry.unitsPerLine)]!++;
  }

  // -------------------------------------------------------------------------------------------
  // Write pointers and programs

  /**
   * Next physical unit of write pointer `w` (opening a new line when the current one is full; for
   * host writes, GC first if free lines are low). Sets slotPu / slotEndsOneshot. Within a line,
   * one-shot pages are filled on parallel unit 0, 1, ... (channel first), then the next one-shot
   * page of each block, so consecutive data stripes over channels and LUNs.
   */
  private nextSlot(w: number, t: number): number {
    const g = this.geometry;
    if (this.wpLine[w]! < 0 || this.wpSlot[w] === g.unitsPerLine) {
      if (this.wpLine[w]! >= 0) {
        this.lineState[this.wpLine[w]!] = LINE_FULL;
        this.lineClosedAt[this.wpLine[w]!] = t;
      }
      this.wpLine[w] = -1;
      if (w === USER) {
        // Foreground GC: keep one free line for GC's own write pointer.
        while (this.freeCount <= 1) {
          if (this.gcLine < 0 && !this.gcStart(t)) break;
          this.gcAdvance(t, true);
        }
      }
      this.wpLine[w] = this.takeFreeLine();
      this.wpSlot[w] = 0;
    }
    const s = this.wpSlot[w]!++;
    this.slotEndsOneshot = s % g.unitsPerOneshot === g.unitsPerOneshot - 1;
    return this.slotToPpn(this.wpLine[w]!, s);
  }

  /** Physical unit of slot `s` (write order) of `line`; sets slotPu. */
  private slotToPpn(line: number, s: number): number {
    const g = this.geometry;
    const seq = Math.floor(s / g.unitsPerOneshot);
    const within = s - seq * g.unitsPerOneshot;
    const pu = seq % g.pus;
    const k = (seq - pu) / g.pus;
    this.slotPu = pu;
    return line * g.unitsPerLine + pu * g.unitsPerBlock + k * g.unitsPerOneshot + within;
  }

  private takeFreeLine(): number {
    if (this.freeCount === 0) throw new Error('conv model: no free line (internal error: GC reserve exhausted)');
    const line = this.freeQueue[this.freeHead]!;
    this.freeHead = (this.freeHead + 1) % this.geometry.lines;
    this.freeCount--;
    this.lineState[line] = LINE_OPEN;
    return line;
  }

  /** Program write pointer w's buffered one-shot page on unit `pu`; returns when it ends. */
  private program(w: number, pu: number): number {
    const g = this.geometry;
    const lun = pu % g.luns;
    const oneshot = this.p.oneshot_page_size;
    const begin = Math.max(this.wpReady[w]!, this.lunBusy[lun]!);
    const end = this.channelBw[pu % this.p.channels]!.reserve(begin, oneshot) + this.p.program_latency_ns;
    this.lunBusy[lun] = end;
    if (w === USER) {
      this.mediaUser += oneshot;
      this.pushRelease(end, this.wpFill[w]! * MAP_UNIT);
    } else {
      this.mediaGc += oneshot;
    }
    this.wpFill[w] = 0;
    this.wpReady[w] = 0;
    return end;
  }

  /** Program a partly filled one-shot page, decided at `t` (the rest is padding, never mapped). */
  private programPartial(w: number, t: number): number {
    const g = this.geometry;
    if (this.wpReady[w]! < t) this.wpReady[w] = t;
    const s = this.wpSlot[w]! - 1;
    const pu = Math.floor(s / g.unitsPerOneshot) % g.pus;
    this.wpSlot[w] = (Math.floor(s / g.unitsPerOneshot) + 1) * g.unitsPerOneshot;
    return this.program(w, pu);
  }

  // -------------------------------------------------------------------------------------------
  // Write buffer

  /** Take one 4 KiB unit of buffer space at or after `t`; returns when it is available. */
  private acquireBuffer(t: number): number {
    while (this.relCount > 0 && this.relTime[0]! <= t) this.popRelease();
    while (this.bufFree < MAP_UNIT) {
      if (this.relCount === 0) {
        // Only the open one-shot page holds buffer space (cannot happen with a buffer of at least
        // one one-shot page, which the parameters require): program it to free the space.
        if (this.wpFill[USER] === 0) throw new Error('conv model: write buffer accounting (internal error)');
        this.programPartial(USER, t);
        continue;
      }
      const at = this.relTime[0]!;
      this.popRelease();
      if (at > this.bufFreeAt) this.bufFreeAt = at;
    }
    this.bufFree -= MAP_UNIT;
    return t > this.bufFreeAt ? t : this.bufFreeAt;
  }

  private pushRelease(time: number, bytes: number): void {
    if (bytes === 0) return;
    if (this.relCount === this.relTime.length) {
      const grow = (a: Float64Array): Float64Array => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.relTime = grow(this.relTime);
      this.relBytes = grow(this.relBytes);
    }
    const rt = this.relTime;
    const rb = this.relBytes;
    let i = this.relCount++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (rt[parent]! <= time) break;
      rt[i] = rt[parent]!;
      rb[i] = rb[parent]!;
      i = parent;
    }
    rt[i] = time;
    rb[i] = bytes;
  }

  private popRelease(): void {
    const rt = this.relTime;
    const rb = this.relBytes;
    this.bufFree += rb[0]!;
    const n = --this.relCount;
    if (n === 0) return;
    const time = rt[n]!;
    const bytes = rb[n]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && rt[c + 1]! < rt[c]!) c++;
      if (rt[c]! >= time) break;
      rt[i] = rt[c]!;
      rb[i] = rb[c]!;
      i = c;
    }
    rt[i] = time;
    rb[i] = bytes;
  }

  // -------------------------------------------------------------------------------------------
  // Garbage collection

  /** Victim line by policy among full lines with at least one invalid unit; -1 if none. */
  private selectVictim(now: number): number {
    const g = this.geometry;
    const full = g.unitsPerLine;
    let best = -1;
    if (this.p.gc_policy === 'greedy') {
      let bestValid = full;
      for (let l = 0; l < g.lines; l++) {
        if (this.lineState[l] === LINE_FULL && this.lineValid[l]! < bestValid) {
          bestValid = this.lineValid[l]!;
          best = l;
        }
      }
      return best;
    }
    // Cost-benefit (Rosenblum & Ousterhout, LFS): age x (1 - u) / 2u, u = valid fraction.
    let bestScore = -1;
    for (let l = 0; l < g.lines; l++) {
      const v = this.lineValid[l]!;
      if (this.lineState[l] !== LINE_FULL || v >= full) continue;
      const u = v / full;
      const score = v === 0 ? Infinity : ((now - this.lineClosedAt[l]! + 1) * (1 - u)) / (2 * u);
      if (score > bestScore) {
        bestScore = score;
        best = l;
      }
    }
    return best;
  }

  /** Pick a victim and start collecting it; false when there is none. */
  private gcStart(t: number): boolean {
    const victim = this.selectVictim(t);
    if (victim < 0) return false;
    const full = this.geometry.unitsPerLine;
    const valid = this.lineValid[victim]!;
    this.lineState[victim] = LINE_VICTIM;
    this.gcLine = victim;
    this.gcCursor = 0;
    this.gcCredit = 0;
    this.gcRate = (GC_PACE * valid) / (full - valid);
    return true;
  }

  /** One host unit was written at `t`: earn copy credit and spend it on the victim. */
  private gcStep(t: number): void {
    if (this.gcLine < 0 && !this.gcStart(t)) return;
    this.gcCredit += this.gcRate;
    this.gcAdvance(t, false);
  }

  /**
   * Copy the victim's valid units flash page by flash page, in the order they were written (so
   * reads spread over LUNs), while credit lasts (or all of them when `all`); erase and free the
   * line when done.
   */
  private gcAdvance(t: number, all: boolean): void {
    const g = this.geometry;
    const upf = g.unitsPerFlashPage;
    const end = g.unitsPerLine;
    let cursor = this.gcCursor;
    while (cursor < end) {
      const page = this.slotToPpn(this.gcLine, cursor);
      let n = 0;
      for (let u = page; u < page + upf; u++) if (this.p2l.get(u) !== UNMAPPED) n++;
      if (n > 0) {
        if (!all && this.gcCredit < n) break;
        this.gcCredit -= n;
        // The copies' programs do not wait for this read: GC reads run ahead of GC programs in a
        // pipeline (NVMeVirt does not order them either). Waiting would leave the target LUN idle
        // until a read queued on another LUN ends, since a LUN is a busy-until time that cannot
        // fill gaps; GC throughput would be a third of what the LUNs can do.
        this.nandRead(page, n, t);
        for (let u = page; u < page + upf; u++) {
          const lpn = this.p2l.get(u);
          if (lpn === UNMAPPED) continue;
          this.unmap(lpn);
          const ppn = this.nextSlot(GC, t);
          this.map(lpn, ppn);
          if (this.wpReady[GC]! < t) this.wpReady[GC] = t;
          this.wpFill[GC]!++;
          this.gcMoved++;
          if (this.slotEndsOneshot) this.program(GC, this.slotPu);
        }
      }
      cursor += upf;
    }
    this.gcCursor = cursor;
    if (cursor >= end) this.gcFinish(t);
  }

  /** The victim holds no valid unit: each LUN erases its blocks of it (all planes at once). */
  private gcFinish(t: number): void {
    const g = this.geometry;
    const victim = this.gcLine;
    for (let lun = 0; lun < g.luns; lun++) {
      const begin = Math.max(t, this.lunBusy[lun]!);
      this.lunBusy[lun] = begin + this.p.erase_latency_ns;
    }
    const firstBlock = victim * g.pus;
    for (let b = firstBlock; b < firstBlock + g.pus; b++) {
      const c = ++this.eraseCount[b]!;
      if (c > this.maxErase) this.maxErase = c;
      if (c === this.p.pe_cycles) this.wornBlocks++;
    }
    this.erases += g.pus;
    this.gcRuns++;
    this.gcLine = -1;
    this.gcCredit = 0;
    this.lineState[victim] = LINE_FREE;
    this.freeQueue[(this.freeHead + this.freeCount) % g.lines] = victim;
    this.freeCount++;
  }
}
