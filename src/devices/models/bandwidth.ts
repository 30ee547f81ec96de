// A bandwidth resource (a NAND channel, one direction of the PCIe link) in the way NVMeVirt models
// it: time is cut into fixed slots and each slot can carry `bandwidth x slot length` bytes. A
// transfer that may start at time t takes capacity from the slot holding t onwards, wherever there
// is room, so transfers reserved for the future (a LUN that is still reading) leave the gaps before
// them usable by transfers that are ready earlier. A plain busy-until time would not: it would make
// every transfer wait behind the one reserved furthest in the future.
//
// Within a slot the capacity is fluid (a byte count, not a timeline): on an idle resource the end
// time is exact (t + bytes / bandwidth); under contention transfers sharing a slot finish as if
// sent back to back from the slot's start. Slots live in a ring indexed by absolute slot number;
// `advanceTo(now)` forgets slots in the past, and the ring grows (rarely) when a transfer lands
// beyond it. No allocation on the per-transfer path.

/** NVMeVirt's slot length. */
export const BW_SLOT_NS = 4000;
const INITIAL_RING = 16384; // 65 ms of future at 4 µs slots; grows by doubling when needed

export const MIB = 1024 * 1024;

/** ns per byte for a bandwidth in MiB/s; 0 (or less) means unlimited. */
export function nsPerByte(mibps: number): number {
  return mibps > 0 ? 1e9 / (mibps * MIB) : 0;
}

export class BandwidthResource {
  private nsPerByte = 0;
  private slotBytes = Infinity;
  private used: Float64Array;
  /** Absolute slot number of the oldest slot still kept (slots before it are in the past). */
  private base = 0;
  /** Every slot from `base` up to (not including) this one is full: reservations skip them. */
  private firstOpen = 0;

  constructor(
    mibps: number,
    private readonly slotNs = BW_SLOT_NS,
  ) {
    this.used = new Float64Array(INITIAL_RING);
    this.setBandwidth(mibps);
  }

  /** Takes effect for transfers reserved from now on (capacity already used stays used). */
  setBandwidth(mibps: number): void {
    this.nsPerByte = nsPerByte(mibps);
    this.slotBytes = this.nsPerByte > 0 ? this.slotNs / this.nsPerByte : Infinity;
    this.firstOpen = this.base; // full slots may have room at a higher bandwidth
  }

  /** Forget the slots that end before `nowNs`; call with a non-decreasing clock. */
  advanceTo(nowNs: number): void {
    const s = Math.floor(nowNs / this.slotNs);
    if (s <= this.base) return;
    const r = this.used.length;
    if (s - this.base >= r) this.used.fill(0);
    else for (let i = this.base; i < s; i++) this.used[i % r] = 0;
    this.base = s;
    if (this.firstOpen < s) this.firstOpen = s;
  }

  /** Reserve `bytes` starting no earlier than `startNs`; returns when the last byte is through. */
  reserve(startNs: number, bytes: number): number {
    if (this.nsPerByte === 0 || bytes <= 0) return startNs;
    const slotNs = this.slotNs;
    const cap = this.slotBytes;
    let s = Math.floor(startNs / slotNs);
    let t = startNs;
    if (s < this.firstOpen) {
      s = this.firstOpen; // the slots before are full (or in the past, which should not happen)
      t = s * slotNs;
    }
    let remaining = bytes;
    for (;;) {
      if (s - this.base >= this.used.length) this.grow(s - this.base + 1);
      const idx = s % this.used.length;
      const slotStart = s * slotNs;
      const slotEnd = slotStart + slotNs;
      const used = this.used[idx]!;
      const avail = Math.min(cap - used, ((slotEnd - t) / slotNs) * cap);
      if (avail > 1e-9) {
        if (remaining <= avail) {
          this.used[idx] = used + remaining;
          if (s === this.firstOpen) this.skipFull();
          return Math.max(t + remaining * this.nsPerByte, slotStart + (used + remaining) * this.nsPerByte);
        }
        this.used[idx] = used + avail;
        remaining -= avail;
        if (s === this.firstOpen) this.skipFull();
      }
      s++;
      t = slotEnd;
    }
  }

  private skipFull(): void {
    const r = this.used.length;
    while (this.firstOpen - this.base < r && this.used[this.firstOpen % r]! >= this.slotBytes - 1e-9) this.firstOpen++;
  }

  private grow(minSlots: number): void {
    let n = this.used.length * 2;
    while (n < minSlots) n *= 2;
    const next = new Float64Array(n);
    const r = this.used.length;
    for (let i = this.base; i < this.base + r; i++) next[i % n] = this.used[i % r]!;
    this.used = next;
  }
}
