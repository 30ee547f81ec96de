// Binary min-heap of (deadline, tag): the worker's outstanding commands ordered by completion
// time. Parallel typed arrays, no allocation per push/pop (grows by doubling, rarely). Ties on the
// deadline pop in insertion order (a sequence number breaks them), so equal-time completions keep
// submission order and the worker's output is deterministic.

export class DeadlineHeap {
  private keys: Float64Array;
  private seqs: Float64Array;
  private vals: Int32Array;
  private n = 0;
  private seq = 0;

  constructor(initialCapacity = 1024) {
    this.keys = new Float64Array(initialCapacity);
    this.seqs = new Float64Array(initialCapacity);
    this.vals = new Int32Array(initialCapacity);
  }

  get size(): number {
    return this.n;
  }

  /** Smallest deadline (Infinity when empty). */
  peekKey(): number {
    return this.n === 0 ? Infinity : this.keys[0]!;
  }

  peekValue(): number {
    return this.vals[0]!;
  }

  push(key: number, val: number): void {
    if (this.n === this.keys.length) this.grow();
    const keys = this.keys, seqs = this.seqs, vals = this.vals;
    const s = this.seq++;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pk = keys[p]!;
      if (pk < key || (pk === key && seqs[p]! < s)) break;
      keys[i] = pk;
      seqs[i] = seqs[p]!;
      vals[i] = vals[p]!;
      i = p;
    }
    keys[i] = key;
    seqs[i] = s;
    vals[i] = val;
  }

  /** Remove the minimum and return its value (the caller read the key with peekKey()). */
  pop(): number {
    const keys = this.keys, seqs = this.seqs, vals = this.vals;
    const top = vals[0]!;
    const n = --this.n;
    if (n === 0) return top;
    const key = keys[n]!, s = seqs[n]!, val = vals[n]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && (keys[r]! < keys[c]! || (keys[r] === keys[c] && seqs[r]! < seqs[c]!))) c = r;
      const ck = keys[c]!;
      if (key < ck || (key === ck && s < seqs[c]!)) break;
      keys[i] = ck;
      seqs[i] = seqs[c]!;
      vals[i] = vals[c]!;
      i = c;
    }
    keys[i] = key;
    seqs[i] = s;
    vals[i] = val;
    return top;
  }

  clear(): void {
    this.n = 0;
  }

  private grow(): void {
    const cap = this.keys.length * 2;
    const k = new Float64Array(cap), s = new Float64Array(cap), v = new Int32Array(cap);
    k.set(this.keys);
    s.set(this.seqs);
    v.set(this.vals);
    this.keys = k;
    this.seqs = s;
    this.vals = v;
  }
}
