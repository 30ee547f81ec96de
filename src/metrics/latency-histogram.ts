// A latency histogram cheap enough for every I/O: fixed buckets in a typed array, no labels, no
// allocation. prom-client's Histogram hashes its label set on each observe(); ours is observed on
// the hot path and only turned into Prometheus samples when /metrics is scraped.

/** Upper bounds in seconds, roughly exponential from 5 µs to 1 s (then +Inf). */
export const LATENCY_BUCKETS_S: readonly number[] = [
  5e-6, 10e-6, 20e-6, 35e-6, 50e-6, 75e-6, 100e-6, 150e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1,
];

export class LatencyHistogram {
  /** counts[i] = observations in (bound[i-1], bound[i]]; the last slot is +Inf. Not cumulative. */
  readonly counts = new Float64Array(LATENCY_BUCKETS_S.length + 1);
  sum = 0;
  count = 0;

  /** Record `n` observations of `seconds` (commands that arrived together and left together). */
  observe(seconds: number, n = 1): void {
    const b = LATENCY_BUCKETS_S;
    let i = 0;
    // Linear: most I/O lands in the first few buckets, where this beats a binary search.
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]! += n;
    this.sum += seconds * n;
    this.count += n;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /** Cumulative counts per bound (the last one is +Inf), as Prometheus exposes them. */
  cumulative(): number[] {
    const out = new Array<number>(this.counts.length);
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) out[i] = acc += this.counts[i]!;
    return out;
  }

  /** Estimated quantile (0..1) by linear interpolation inside the bucket, as histogram_quantile does. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = q * this.count;
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      if (acc + c >= rank && c > 0) {
        if (i === LATENCY_BUCKETS_S.length) return LATENCY_BUCKETS_S[i - 1]!;
        const lo = i === 0 ? 0 : LATENCY_BUCKETS_S[i - 1]!;
        const hi = LATENCY_BUCKETS_S[i]!;
        return lo + ((hi - lo) * (rank - acc)) / c;
      }
      acc += c;
    }
    return LATENCY_BUCKETS_S[LATENCY_BUCKETS_S.length - 1]!;
  }
}
