// `zns` device model: the timing and wear of a zoned flash SSD. The zone state machine (states,
// write pointers, limits, statuses) lives on the network thread (src/devices/zns/zones.ts); this
// model only sees the ops that passed it, in order, and decides when they complete. It mirrors
// each zone's write pointer from the writes it sees (a Zone Append arrives as a Write at the LBA
// the zone manager assigned), so it knows what is on NAND, in the write buffer, or unwritten.
//
// Geometry: channels x luns_per_channel dies. Zone z is striped over `zone_dies` dies starting at
// die (z x zone_dies) mod dies; the k-th one-shot page of a zone goes to the (k mod zone_dies)-th
// of them, so a zone on 32 dies programs 32 pages in parallel and a zone on 1 die (zns-prototype)
// serialises. A die (LUN) does one operation at a time (busy-until); channel and PCIe are
// bandwidth resources (NVMeVirt's slot model, ./bandwidth.ts).
//
// Timing (ns; computed at submission, so the model is pure):
// - Write: PCIe transfer -> a write buffer slot for each one-shot page the write starts (per
//   zone: zone_write_buffer_oneshots pages, waiting for the program of the page that used the slot
//   before; or a global buffer of write_buffer_size) -> completion = in buffer + firmware base +
//   per 4 KiB (write_early_completion), or when the programs holding the data end (no early
//   completion, and FUA). A one-shot page is programmed when it fills (or the zone reaches its
//   capacity): channel transfer then program latency on its die; the slot frees at the end.
//   Programming a partial page early (FUA, no early completion) pads it; the page is programmed
//   again when it fills, as the media write counters show.
// - Read: firmware -> per flash page: NAND read (4 KiB or page latency of its page type) on its
//   die -> channel transfer -> PCIe transfer of the whole command. Data still buffered is served
//   from the buffer; blocks past the write pointer read as zeroes without NAND.
// - Zone Reset (ModelOp.ZoneReset): every die of the zone erases its block (erase_latency_ns, in
//   parallel across the zone's dies, after what each die is doing); nothing to erase if nothing was
//   written since the last reset. NVMeVirt and FEMU charge nothing here.
// - Zone Finish (ModelOp.ZoneFinish): the partly filled one-shot page is padded and programmed; the
//   rest of the zone is left unprogrammed (the zone is marked full in the FTL, no data moves).
// - Flush: programs every partly filled page; completes when every die is idle.
import { BandwidthResource } from './bandwidth.js';
import { nandTiming, setNandTiming, type NandTimingState } from './nand-timing.js';
import { CELL_BITS, MAP_UNIT } from './conv-params.js';
import { ZNS_SCALAR_TIMING_KEYS, znsParamProblems, type ZnsParams } from './zns-params.js';
import { ModelOp, type DeviceModel, type ModelCounters, type ModelOpCode, type TimingParams } from '../model.js';

export class ZnsModel implements DeviceModel {
  readonly kind = 'zns' as const;
  readonly nlb: number;
  readonly zones: number;
  readonly dies: number;
  private readonly p: ZnsParams;
  private readonly zoneLbas: number;
  private readonly capBytes: number;
  private readonly os: number;
  private readonly bits: number;

  /** Per zone: bytes of data written (the write pointer) and bytes programmed to NAND. */
  private readonly written: Float64Array;
  private readonly programmed: Float64Array;
  private readonly eraseCount: Uint32Array;
  /** Write buffer slot release times: per zone (zones x slots) or global (slots). */
  private readonly slotFree: Float64Array;
  private readonly slotsPerZone: number;
  private globalAcquired = 0;
  private globalReleased = 0;
  private readonly globalSlots: number;

  private readonly dieBusy: Float64Array;
  private readonly channelBw: BandwidthResource[];
  private readonly pcieToHost: BandwidthResource;
  private readonly pcieFromHost: BandwidthResource;
  private readonly read4k: Float64Array;
  private readonly readPage: Float64Array;
  private lastNow = 0;

  private hostWritten = 0;
  private hostRead = 0;
  private mediaWritten = 0;
  private mediaRead = 0;
  private erases = 0;
  private maxErase = 0;
  private trimmed = 0;

  constructor(
    params: ZnsParams,
    readonly lbaSize: number,
    capacityBytes: number,
  ) {
    const problems = znsParamProblems(params, capacityBytes, lbaSize);
    if (problems.length) throw new Error(`invalid zns parameters: ${problems.map(([k, m]) => `${k}: ${m}`).join('; ')}`);
    this.p = { ...params, read_4k_latency_ns: [...params.read_4k_latency_ns], read_latency_ns: [...params.read_latency_ns] };
    this.nlb = Math.floor(capacityBytes / lbaSize);
    this.zoneLbas = this.p.zone_size / lbaSize;
    this.zones = Math.floor(capacityBytes / this.p.zone_size);
    this.capBytes = this.p.zone_capacity > 0 ? this.p.zone_capacity : this.p.zone_size;
    this.os = this.p.oneshot_page_size;
    this.bits = CELL_BITS[this.p.cell_type];
    this.dies = this.p.channels * this.p.luns_per_channel;
    this.written = new Float64Array(this.zones);
    this.programmed = new Float64Array(this.zones);
    this.eraseCount = new Uint32Array(this.zones);
    this.slotsPerZone = this.p.zone_write_buffer_oneshots;
    this.globalSlots = this.slotsPerZone > 0 ? 0 : Math.max(1, Math.floor(this.p.write_buffer_size / this.os));
    this.slotFree = new Float64Array(this.slotsPerZone > 0 ? this.zones * this.slotsPerZone : this.globalSlots);
    this.dieBusy = new Float64Array(this.dies);
    this.channelBw = Array.from({ length: this.p.channels }, () => new BandwidthResource(this.p.channel_bw_mibps));
    this.pcieToHost = new BandwidthResource(this.p.pcie_bw_mibps);
    this.pcieFromHost = new BandwidthResource(this.p.pcie_bw_mibps);
    this.read4k = Float64Array.from(this.p.read_4k_latency_ns);
    this.readPage = Float64Array.from(this.p.read_latency_ns);
  }

  submit(op: ModelOpCode, slba: number, nlb: number, fua: boolean, nowNs: number): number {
    const now = nowNs > this.lastNow ? nowNs : this.lastNow;
    if (now !== this.lastNow) {
      this.lastNow = now;
      for (const c of this.channelBw) c.advanceTo(now);
      this.pcieToHost.advanceTo(now);
      this.pcieFromHost.advanceTo(now);
    }
    const bytes = nlb * this.lbaSize;
    switch (op) {
      case ModelOp.Read:
        this.hostRead += bytes;
        return Math.ceil(this.read(slba, nlb, now));
      case ModelOp.Write:
      case ModelOp.WriteZeroes:
        this.hostWritten += bytes;
        return Math.ceil(this.write(slba, nlb, fua, now));
      case ModelOp.Trim:
        this.trimmed += bytes;
        return now;
      case ModelOp.Flush:
        return Math.ceil(this.flush(now));
      case ModelOp.ZoneReset:
        return Math.ceil(this.reset(Math.floor(slba / this.zoneLbas), now));
      case ModelOp.ZoneFinish:
        return Math.ceil(this.finish(Math.floor(slba / this.zoneLbas), now));
      default:
        throw new Error(`zns model: unknown op ${String(op)}`);
    }
  }

  counters(): ModelCounters {
    const blocks = this.zones * this.p.zone_dies;
    let freeZones = 0;
    for (let z = 0; z < this.zones; z++) if (this.written[z] === 0 && this.programmed[z] === 0) freeZones++;
    return {
      hostWrittenBytes: this.hostWritten,
      hostReadBytes: this.hostRead,
      mediaWrittenUserBytes: this.mediaWritten,
      mediaWrittenGcBytes: 0, // no GC: the host resets zones
      mediaReadBytes: this.mediaRead,
      gcRuns: 0,
      gcPagesMoved: 0,
      erases: this.erases,
      maxEraseCount: this.maxErase,
      freeBlocks: freeZones * this.p.zone_dies,
      totalBlocks: blocks,
      trimmedBytes: this.trimmed,
      percentageUsed: Math.min(255, Math.round((100 * (this.erases / blocks)) / this.p.pe_cycles)),
      availableSpare: 100,
    };
  }

  timing(): TimingParams {
    return nandTiming(this.nand(), ZNS_SCALAR_TIMING_KEYS);
  }

  setTiming(t: TimingParams): void {
    setNandTiming(this.nand(), t, ZNS_SCALAR_TIMING_KEYS, 'a zns device');
  }

  private nand(): NandTimingState {
    return this as unknown as NandTimingState; // the fields it names are this model's own
  }

  /** Erase count of each zone's blocks (tests). */
  zoneEraseCount(z: number): number {
    return this.eraseCount[z]!;
  }

  /** When die `d` is next idle (tests). */
  dieBusyUntil(d: number): number {
    return this.dieBusy[d]!;
  }

  /** Die holding one-shot page k of zone z. */
  dieOf(z: number, k: number): number {
    return ((z * this.p.zone_dies) % this.dies + (k % this.p.zone_dies)) % this.dies;
  }

  // ---- Write ----

  private write(slba: number, nlb: number, fua: boolean, now: number): number {
    const z = Math.floor(slba / this.zoneLbas);
    if (z >= this.zones) return now;
    const off = (slba - z * this.zoneLbas) * this.lbaSize;
    const bytes = nlb * this.lbaSize;
    const end = Math.min(off + bytes, this.capBytes);
    const inBuffer = this.pcieFromHost.reserve(now, bytes);
    let t = inBuffer;
    let programs = 0;
    // Page by page: a new page waits for a buffer slot; a page the write completes is programmed.
    const firstNew = Math.ceil(this.written[z]! / this.os);
    const lastPage = Math.ceil(end / this.os) - 1;
    for (let k = Math.floor(off / this.os); k <= lastPage; k++) {
      if (k >= firstNew) {
        const free = this.slotFree[this.acquireSlot(z, k)]!;
        if (free > t) t = free;
      }
      const pageEnd = Math.min((k + 1) * this.os, this.capBytes);
      if (end >= pageEnd && this.programmed[z]! < pageEnd) {
        const e = this.program(z, k, pageEnd - k * this.os, t);
        this.slotFree[this.releaseSlot(z, k)] = e;
        if (e > programs) programs = e;
        this.programmed[z] = pageEnd;
      }
    }
    if (end > this.written[z]!) this.written[z] = end;
    let done = t + this.p.firmware_wbuf_base_ns + this.p.firmware_wbuf_per_4k_ns * Math.ceil(bytes / MAP_UNIT);
    if (fua || !this.p.write_early_completion) {
      if (this.programmed[z]! < end) {
        // The partly filled page holding the end of the data: programmed now (padded).
        const k = Math.floor(this.programmed[z]! / this.os);
        const e = this.program(z, k, this.os, t);
        if (e > programs) programs = e;
      }
      if (programs > done) done = programs;
    }
    return done;
  }

  /**
   * Buffer slot a new page k of zone z waits for. Per zone: slot k mod slots, freed by the program
   * of page k - slots. Global: a FIFO of program ends; the page waits for the program that freed
   * the slot `globalSlots` pages ago (an approximation when that page has not been programmed yet,
   * e.g. a partly written page of another zone: the slot then counts as free).
   */
  private acquireSlot(z: number, k: number): number {
    if (this.slotsPerZone > 0) return z * this.slotsPerZone + (k % this.slotsPerZone);
    return this.globalAcquired++ % this.globalSlots;
  }

  private releaseSlot(z: number, k: number): number {
    if (this.slotsPerZone > 0) return z * this.slotsPerZone + (k % this.slotsPerZone);
    return this.globalReleased++ % this.globalSlots;
  }

  /** Program `len` bytes (one one-shot page) of zone z, page k, ready at t; returns its end. */
  private program(z: number, k: number, len: number, t: number): number {
    const die = this.dieOf(z, k);
    const begin = Math.max(t, this.dieBusy[die]!);
    const xfer = this.channelBw[die % this.p.channels]!.reserve(begin, len) + this.p.firmware_ch_xfer_ns;
    const end = xfer + this.p.program_latency_ns;
    this.dieBusy[die] = end;
    this.mediaWritten += len;
    return end;
  }

  // ---- Read ----

  private read(slba: number, nlb: number, now: number): number {
    const bytes = nlb * this.lbaSize;
    const start = now + (bytes <= MAP_UNIT ? this.p.firmware_4k_read_ns : this.p.firmware_read_ns);
    let done = start;
    const fp = this.p.flash_page_size;
    let lba = slba;
    const endLba = Math.min(slba + nlb, this.zones * this.zoneLbas);
    while (lba < endLba) {
      const z = Math.floor(lba / this.zoneLbas);
      const zoneEnd = Math.min(endLba, (z + 1) * this.zoneLbas);
      const from = (lba - z * this.zoneLbas) * this.lbaSize;
      const to = Math.min((zoneEnd - z * this.zoneLbas) * this.lbaSize, this.written[z]!);
      for (let pos = from; pos < to; ) {
        const page = Math.floor(pos / fp);
        const pageEnd = Math.min((page + 1) * fp, to);
        const n = pageEnd - pos;
        if (pos < this.programmed[z]!) {
          const die = this.dieOf(z, Math.floor(pos / this.os));
          const cell = page % this.bits;
          const begin = Math.max(start, this.dieBusy[die]!);
          const sensed = begin + (n <= MAP_UNIT ? this.read4k[cell]! : this.readPage[cell]!);
          const e = this.channelBw[die % this.p.channels]!.reserve(sensed, n) + this.p.firmware_ch_xfer_ns;
          this.dieBusy[die] = e;
          this.mediaRead += n;
          if (e > done) done = e;
        }
        pos = pageEnd;
      }
      lba = zoneEnd;
    }
    return this.pcieToHost.reserve(done, bytes);
  }

  // ---- Zone management, flush ----

  private reset(z: number, now: number): number {
    if (z < 0 || z >= this.zones) return now;
    let done = now;
    if (this.written[z]! > 0 || this.programmed[z]! > 0) {
      const n = this.p.zone_dies;
      for (let i = 0; i < n; i++) {
        const die = this.dieOf(z, i);
        const end = Math.max(now, this.dieBusy[die]!) + this.p.erase_latency_ns;
        this.dieBusy[die] = end;
        if (end > done) done = end;
      }
      const c = ++this.eraseCount[z]!;
      if (c > this.maxErase) this.maxErase = c;
      this.erases += n;
    }
    this.written[z] = 0;
    this.programmed[z] = 0;
    return done;
  }

  private finish(z: number, now: number): number {
    if (z < 0 || z >= this.zones) return now;
    let done = now + this.p.firmware_wbuf_base_ns;
    if (this.programmed[z]! < this.written[z]!) {
      const k = Math.floor(this.programmed[z]! / this.os);
      const e = this.program(z, k, this.os, now);
      if (e > done) done = e;
    }
    // Full: nothing more is written until a reset; the unwritten rest reads as zeroes.
    this.programmed[z] = this.written[z] = Math.max(this.written[z]!, this.programmed[z]!);
    return done;
  }

  private flush(now: number): number {
    for (let z = 0; z < this.zones; z++) {
      if (this.programmed[z]! < this.written[z]!) {
        const k = Math.floor(this.programmed[z]! / this.os);
        this.program(z, k, this.os, now);
      }
    }
    let done = now;
    for (let d = 0; d < this.dies; d++) if (this.dieBusy[d]! > done) done = this.dieBusy[d]!;
    return done;
  }
}
