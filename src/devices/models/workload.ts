// A fio-like workload driven against a device model in VIRTUAL time: no network, no threads, no
// clock. Every job keeps `iodepth` commands outstanding; an event queue (binary heap) holds them by
// completion time; popping the earliest completion advances the virtual clock to it and submits
// the job's next command at that instant. Deterministic: the same model, spec and seed give the
// same result. This is what `nvmf-emu simulate` and the fidelity tests run.
import { ModelOp, type DeviceModel, type ModelCounters } from '../model.js';

export const RW_MODES = ['read', 'write', 'randread', 'randwrite', 'randrw', 'rw'] as const;
export type RwMode = (typeof RW_MODES)[number];

export interface WorkloadSpec {
  rw: RwMode;
  /** Bytes per command; a multiple of the model's LBA size. */
  bs: number;
  iodepth: number;
  numjobs: number;
  /** Percentage of reads for randrw / rw (default 50). */
  rwmixread?: number;
  /** Stop submitting after this much virtual time... */
  runtimeNs?: number;
  /** ...or after this many bytes were submitted (all jobs together), whichever comes first. */
  sizeBytes?: number;
  /** ...or when this returns true (checked every 256 completions). */
  until?: () => boolean;
  seed: number;
  /** Force unit access on writes. */
  fua?: boolean;
  /** Record counters every this much virtual time (or every `sampleEveryIos` completions). */
  sampleEveryNs?: number;
  sampleEveryIos?: number;
}

export interface CounterSample {
  tNs: number;
  counters: ModelCounters;
}

export interface LatencyStats {
  ios: number;
  bytes: number;
  meanNs: number;
  minNs: number;
  p50Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
}

export interface WorkloadResult {
  startNs: number;
  /** Time of the last completion (the model's clock when the phase ended). */
  endNs: number;
  /** Window the rates are over: the runtime, or start to last completion. */
  elapsedNs: number;
  /** Commands completed in that window (latency stats cover every command submitted). */
  ios: number;
  read: LatencyStats;
  write: LatencyStats;
  all: LatencyStats;
  iops: number;
  bytesPerSec: number;
  /** All latencies, sorted (ns). */
  latencies: Float64Array;
  before: ModelCounters;
  after: ModelCounters;
  samples: CounterSample[];
}

/** A workload that cannot run as given (bad block size, virtual time that does not advance). */
export class WorkloadError extends Error {
  override readonly name = 'WorkloadError';
}

/** Small fast deterministic PRNG (sfc32, seeded through splitmix32). */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** Uniform in [0, 1) with 53 bits. */
  float(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }
}

/** Growable array of doubles. */
class F64List {
  a = new Float64Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  sorted(): Float64Array {
    return this.a.slice(0, this.n).sort();
  }
}

function stats(sorted: Float64Array, bytes: number): LatencyStats {
  const n = sorted.length;
  const q = (p: number): number => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return {
    ios: n,
    bytes,
    meanNs: n ? sum / n : 0,
    minNs: n ? sorted[0]! : 0,
    p50Ns: q(0.5),
    p99Ns: q(0.99),
    p999Ns: q(0.999),
    maxNs: n ? sorted[n - 1]! : 0,
  };
}

/** Run one workload phase from virtual time `startNs`. */
export function runWorkload(model: DeviceModel, spec: WorkloadSpec, startNs: number): WorkloadResult {
  const lba = model.lbaSize;
  const cap = model.nlb * lba;
  const bs = spec.bs;
  if (!Number.isInteger(bs) || bs <= 0 || bs % lba !== 0) throw new WorkloadError(`bs must be a positive multiple of the LBA size (${lba}), got ${bs}`);
  if (bs > cap) throw new WorkloadError(`bs (${bs}) is larger than the device (${cap} bytes)`);
  const nlb = bs / lba;
  const jobs = spec.numjobs;
  const depth = spec.iodepth;
  const slots = jobs * depth;
  const random = spec.rw.startsWith('rand');
  const mixed = spec.rw === 'randrw' || spec.rw === 'rw';
  const readOnly = spec.rw === 'read' || spec.rw === 'randread';
  const mix = (spec.rwmixread ?? 50) / 100;
  const rng = new Prng(spec.seed);
  const fua = spec.fua ?? false;
  const blocks = Math.floor(cap / bs);
  // Sequential jobs each walk their own region (fio's offset_increment = size / numjobs).
  const region = Math.max(1, Math.floor(blocks / jobs)) * bs;
  const seqNext = new Float64Array(jobs);

  const deadline = spec.runtimeNs !== undefined ? startNs + spec.runtimeNs : Infinity;
  const sizeLimit = spec.sizeBytes ?? Infinity;
  if (deadline === Infinity && sizeLimit === Infinity && !spec.until) throw new WorkloadError('a workload needs a runtime, a size or a stop condition');

  // Event queue: completion time, ties broken by slot number (deterministic).
  const hTime = new Float64Array(slots);
  const hSlot = new Int32Array(slots);
  let hn = 0;
  const less = (i: number, j: number): boolean => hTime[i]! < hTime[j]! || (hTime[i] === hTime[j] && hSlot[i]! < hSlot[j]!);
  const swap = (i: number, j: number): void => {
    const t = hTime[i]!;
    hTime[i] = hTime[j]!;
    hTime[j] = t;
    const s = hSlot[i]!;
    hSlot[i] = hSlot[j]!;
    hSlot[j] = s;
  };
  const push = (time: number, slot: number): void => {
    let i = hn++;
    hTime[i] = time;
    hSlot[i] = slot;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(i, p)) break;
      swap(i, p);
      i = p;
    }
  };
  const popTop = (): void => {
    hn--;
    if (hn === 0) return;
    hTime[0] = hTime[hn]!;
    hSlot[0] = hSlot[hn]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= hn) break;
      const c = l + 1 < hn && less(l + 1, l) ? l + 1 : l;
      if (!less(c, i)) break;
      swap(c, i);
      i = c;
    }
  };

  const submittedAt = new Float64Array(slots);
  const isRead = new Uint8Array(slots);
  let issuedBytes = 0;
  const issue = (slot: number, t: number): void => {
    const job = (slot / depth) | 0;
    const read = readOnly || (mixed && rng.float() < mix);
    let off: number;
    if (random) {
      off = Math.floor(rng.float() * blocks) * bs;
    } else {
      off = job * region + (seqNext[job]! % region);
      seqNext[job]! += bs;
    }
    submittedAt[slot] = t;
    isRead[slot] = read ? 1 : 0;
    issuedBytes += bs;
    push(model.submit(read ? ModelOp.Read : ModelOp.Write, off / lba, nlb, !read && fua, t), slot);
  };

  const before = model.counters();
  const samples: CounterSample[] = [{ tNs: startNs, counters: before }];
  let nextSample = spec.sampleEveryNs ? startNs + spec.sampleEveryNs : Infinity;
  const sampleEveryIos = spec.sampleEveryIos ?? 0;

  const readLat = new F64List();
  const writeLat = new F64List();
  for (let s = 0; s < slots && issuedBytes < sizeLimit; s++) issue(s, startNs);
  let stopped = false;
  let completions = 0;
  let inWindow = 0;
  let last = startNs;
  let still = 0;
  while (hn > 0) {
    const t = hTime[0]!;
    const slot = hSlot[0]!;
    popTop();
    if (t !== last) still = 0;
    else if (++still > 1_000_000 && sizeLimit === Infinity) {
      throw new WorkloadError('virtual time does not advance (the device completes commands instantly): give a --size instead of a --runtime');
    }
    last = t;
    completions++;
    // Every command's latency counts (dropping the ones that end after the runtime would hide the
    // slowest); the rates count the commands completed within the runtime.
    (isRead[slot] ? readLat : writeLat).push(t - submittedAt[slot]!);
    if (t <= deadline) inWindow++;
    if (t >= nextSample || (sampleEveryIos > 0 && completions % sampleEveryIos === 0)) {
      samples.push({ tNs: t, counters: model.counters() });
      while (nextSample <= t) nextSample += spec.sampleEveryNs!;
    }
    if (spec.until && (completions & 255) === 0 && spec.until()) stopped = true;
    if (!stopped && t < deadline && issuedBytes < sizeLimit) issue(slot, t);
  }
  const after = model.counters();
  samples.push({ tNs: last, counters: after });

  const timeBound = deadline !== Infinity && last >= deadline && !stopped && issuedBytes < sizeLimit;
  const elapsedNs = timeBound ? spec.runtimeNs! : last - startNs;
  const r = readLat.sorted();
  const w = writeLat.sorted();
  const all = new Float64Array(r.length + w.length);
  all.set(r);
  all.set(w, r.length);
  all.sort();
  const ios = timeBound ? inWindow : all.length;
  return {
    startNs,
    endNs: last,
    elapsedNs,
    ios,
    read: stats(r, r.length * bs),
    write: stats(w, w.length * bs),
    all: stats(all, all.length * bs),
    iops: elapsedNs > 0 ? (ios * 1e9) / elapsedNs : 0,
    bytesPerSec: elapsedNs > 0 ? (ios * bs * 1e9) / elapsedNs : 0,
    latencies: all,
    before,
    after,
    samples,
  };
}

export const PRECONDITION_MODES = ['none', 'fill', 'steady'] as const;
export type PreconditionMode = (typeof PRECONDITION_MODES)[number];

/**
 * Bring a model to a measurable state, from virtual time `startNs`:
 * - fill: write the whole device sequentially (128 KiB, QD32), so reads hit NAND;
 * - steady: fill, then 4 KiB random overwrites (QD32) until GC has run (at most 2 device
 *   capacities; a model without GC stops there).
 * Returns the phases run (each with its end time; the last one's endNs is when to start measuring).
 */
export function precondition(model: DeviceModel, mode: PreconditionMode, startNs: number, seed: number, sampleEveryIos = 0): WorkloadResult[] {
  if (mode === 'none') return [];
  const cap = model.nlb * model.lbaSize;
  const bs = Math.min(128 * 1024, cap - (cap % model.lbaSize));
  const fill = runWorkload(model, { rw: 'write', bs, iodepth: 32, numjobs: 1, sizeBytes: Math.floor(cap / bs) * bs, seed, sampleEveryIos }, startNs);
  if (mode === 'fill') return [fill];
  const overwrite = runWorkload(
    model,
    {
      rw: 'randwrite',
      bs: Math.max(4096, model.lbaSize),
      iodepth: 32,
      numjobs: 1,
      sizeBytes: 2 * cap,
      until: () => model.counters().gcRuns > 0,
      seed: seed + 1,
      sampleEveryIos,
    },
    fill.endNs,
  );
  return [fill, overwrite];
}
