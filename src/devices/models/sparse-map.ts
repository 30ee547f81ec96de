// A huge array of 32-bit entries that costs memory only where entries are set: fixed-size chunks
// allocated on the first set entry and freed once their last set entry is cleared. The conv FTL's
// logical-to-physical and physical-to-logical maps are ~2 MiB per GiB of capacity when dense; a
// namespace's capacity should cost nothing until it is written.
//
// An access is a shift, a mask and two array loads (the chunk, then the entry). A chunk whose last
// entry is cleared is not freed at once but queued, and freed by reclaim() if still empty then:
// the FTL clears a unit's old mapping just before setting its new one (an overwrite), which must
// not free and reallocate a chunk each time (one lone unit overwritten in a loop would allocate
// 256 KiB per write).
export const SPARSE_SHIFT = 16;
export const SPARSE_CHUNK = 1 << SPARSE_SHIFT;
const MASK = SPARSE_CHUNK - 1;
/** The value of an unset entry (a constant, not a field: the hot path compares against it). */
export const UNSET = 0xffffffff;

/** A map's set entries, compactly: whole chunks where they are at least half full, else (index, value) pairs. */
export interface SparseU32Parts {
  /** Chunk numbers stored whole, ascending. */
  chunks: Uint32Array;
  /** Those chunks' entries, SPARSE_CHUNK per chunk (the last chunk's tail past `length` is UNSET). */
  data: Uint32Array;
  /** Indexes of the entries of the other chunks, ascending. */
  index: Uint32Array;
  value: Uint32Array;
}

export class SparseU32Map {
  private readonly chunks: (Uint32Array | null)[] = [];
  /** Set (not UNSET) entries per chunk. */
  private readonly counts: Int32Array;
  /** Chunks whose count reached 0 since the last reclaim() (each once: see queued). */
  private readonly emptied: number[] = [];
  private readonly queued: Uint8Array;
  private allocated = 0;
  /** Chunks allocated so far, freed or not (tests: an overwrite must not reallocate). */
  allocations = 0;

  /** Entries 0 .. length-1 (at most 2^32), all UNSET at first. */
  constructor(readonly length: number) {
    if (!(length >= 0 && length <= 2 ** 32)) throw new RangeError(`SparseU32Map: length ${length} out of range`);
    const n = Math.ceil(length / SPARSE_CHUNK);
    for (let k = 0; k < n; k++) this.chunks.push(null); // packed, not holey
    this.counts = new Int32Array(n);
    this.queued = new Uint8Array(n);
  }

  /** Entry i (0 <= i < length: not checked). */
  get(i: number): number {
    const c = this.chunks[i >>> SPARSE_SHIFT]!;
    return c === null ? UNSET : c[i & MASK]!;
  }

  set(i: number, v: number): void {
    const k = i >>> SPARSE_SHIFT;
    let c = this.chunks[k]!;
    if (c === null) {
      if (v === UNSET) return;
      c = this.allocate(k);
    }
    const j = i & MASK;
    const old = c[j]!;
    c[j] = v;
    if (old === UNSET) {
      if (v !== UNSET) this.counts[k]!++;
    } else if (v === UNSET && --this.counts[k]! === 0) this.emptiedChunk(k);
  }

  /** Set entry i, which is unset, to v, which is not UNSET (the FTL's map(): a fast set()). */
  put(i: number, v: number): void {
    const k = i >>> SPARSE_SHIFT;
    let c = this.chunks[k]!;
    if (c === null) c = this.allocate(k);
    const j = i & MASK;
    if (c[j] === UNSET) this.counts[k]!++; // a precondition, but the count must stay right
    c[j] = v;
  }

  /** Clear entry i and return what it was (the FTL's unmap(): a get() and a set(i, UNSET) in one). */
  take(i: number): number {
    const k = i >>> SPARSE_SHIFT;
    const c = this.chunks[k]!;
    if (c === null) return UNSET;
    const j = i & MASK;
    const old = c[j]!;
    if (old !== UNSET) {
      c[j] = UNSET;
      if (--this.counts[k]! === 0) this.emptiedChunk(k);
    }
    return old;
  }

  /**
   * Clear entry i, which is set (not checked: the per-chunk count would go wrong; check() finds it).
   * A blind store: the FTL's p2l entry of a unit being unmapped is far from anything recently used,
   * and loading it first (as take() does) would wait for a cache miss on every overwrite.
   */
  clear(i: number): void {
    const k = i >>> SPARSE_SHIFT;
    this.chunks[k]![i & MASK] = UNSET;
    if (--this.counts[k]! === 0) this.emptiedChunk(k);
  }

  private emptiedChunk(k: number): void {
    if (this.queued[k] !== 0) return;
    this.queued[k] = 1;
    this.emptied.push(k);
  }

  private allocate(k: number): Uint32Array {
    const c = new Uint32Array(this.chunkLength(k)).fill(UNSET);
    this.chunks[k] = c;
    this.allocated++;
    this.allocations++;
    return c;
  }

  /** Entries in chunk k: SPARSE_CHUNK, or fewer in the last one (a small map costs only its size). */
  private chunkLength(k: number): number {
    return Math.min(SPARSE_CHUNK, this.length - k * SPARSE_CHUNK);
  }

  /** Free the chunks emptied since the last call that are still empty. */
  reclaim(): void {
    const e = this.emptied;
    if (e.length === 0) return;
    for (let n = 0; n < e.length; n++) {
      const k = e[n]!;
      this.queued[k] = 0;
      if (this.counts[k] === 0 && this.chunks[k] !== null) {
        this.chunks[k] = null;
        this.allocated--;
      }
    }
    e.length = 0;
  }

  /** Chunks allocated now (emptied ones count until reclaim()). */
  get allocatedChunks(): number {
    return this.allocated;
  }

  /** Set entries, in index order. */
  forEach(fn: (index: number, value: number) => void): void {
    for (let k = 0; k < this.chunks.length; k++) {
      const c = this.chunks[k]!;
      if (c === null || this.counts[k] === 0) continue;
      const base = k * SPARSE_CHUNK;
      for (let j = 0; j < c.length; j++) if (c[j] !== UNSET) fn(base + j, c[j]!);
    }
  }

  /** Throws if a chunk's count disagrees with its entries, or an empty chunk outlived reclaim() (tests). */
  check(): void {
    let allocated = 0;
    for (let k = 0; k < this.chunks.length; k++) {
      const c = this.chunks[k]!;
      if (c === null) {
        if (this.counts[k] !== 0) throw new Error(`sparse map: chunk ${k} is absent but counts ${this.counts[k]} entries`);
        continue;
      }
      allocated++;
      if (c.length !== this.chunkLength(k)) throw new Error(`sparse map: chunk ${k} has ${c.length} entries, expected ${this.chunkLength(k)}`);
      let n = 0;
      for (let j = 0; j < c.length; j++) if (c[j] !== UNSET) n++;
      if (n !== this.counts[k]) throw new Error(`sparse map: chunk ${k} has ${n} set entries but counts ${this.counts[k]}`);
      if (n === 0 && this.queued[k] === 0) throw new Error(`sparse map: chunk ${k} is empty and not queued to be freed`);
    }
    if (allocated !== this.allocated) throw new Error(`sparse map: ${allocated} chunks allocated but ${this.allocated} counted`);
  }

  /**
   * The set entries, compactly (a saved state): 4 bytes per entry of a chunk at least half full
   * (unset ones included), 8 per set entry of the others, nothing for empty chunks.
   */
  toParts(): SparseU32Parts {
    const whole: number[] = [];
    let pairs = 0;
    for (let k = 0; k < this.chunks.length; k++) {
      const n = this.counts[k]!;
      if (n === 0) continue;
      if (2 * n >= SPARSE_CHUNK) whole.push(k);
      else pairs += n;
    }
    const data = new Uint32Array(whole.length * SPARSE_CHUNK).fill(UNSET);
    whole.forEach((k, w) => data.set(this.chunks[k]!, w * SPARSE_CHUNK));
    const index = new Uint32Array(pairs);
    const value = new Uint32Array(pairs);
    let p = 0;
    for (let k = 0; k < this.chunks.length; k++) {
      const n = this.counts[k]!;
      if (n === 0 || 2 * n >= SPARSE_CHUNK) continue;
      const c = this.chunks[k]!;
      const base = k * SPARSE_CHUNK;
      for (let j = 0; j < c.length; j++) {
        if (c[j] === UNSET) continue;
        index[p] = base + j;
        value[p++] = c[j]!;
      }
    }
    return { chunks: Uint32Array.from(whole), data, index, value };
  }

  /** Replace the contents with toParts() output (validated: throws on a malformed one, leaving the map empty). */
  fromParts(s: SparseU32Parts): void {
    this.reset();
    try {
      const { chunks, data, index, value } = s;
      if (![chunks, data, index, value].every((a) => a instanceof Uint32Array)) throw new Error('not Uint32Arrays');
      if (data.length !== chunks.length * SPARSE_CHUNK) throw new Error(`${chunks.length} whole chunks but ${data.length} entries`);
      if (index.length !== value.length) throw new Error(`${index.length} indexes but ${value.length} values`);
      for (let w = 0; w < chunks.length; w++) {
        const k = chunks[w]!;
        if (k >= this.chunks.length || (w > 0 && k <= chunks[w - 1]!)) throw new Error(`chunk ${k} out of range or order`);
        const len = this.chunkLength(k);
        for (let j = w * SPARSE_CHUNK + len; j < (w + 1) * SPARSE_CHUNK; j++) if (data[j] !== UNSET) throw new Error(`entry ${k * SPARSE_CHUNK + j - w * SPARSE_CHUNK} beyond the length`);
        const c = data.slice(w * SPARSE_CHUNK, w * SPARSE_CHUNK + len);
        let n = 0;
        for (let j = 0; j < len; j++) if (c[j] !== UNSET) n++;
        if (n === 0) continue;
        this.chunks[k] = c;
        this.counts[k] = n;
        this.allocated++;
      }
      for (let p = 0; p < index.length; p++) {
        const i = index[p]!;
        if (i >= this.length || this.get(i) !== UNSET || value[p] === UNSET) throw new Error(`entry ${i} out of range, repeated or empty`);
        this.set(i, value[p]!);
      }
    } catch (err) {
      this.reset();
      throw err;
    }
  }

  /** Replace the contents with those of a dense array of the same length (the saved-state format before SparseU32Parts). */
  fromDense(a: Uint32Array): void {
    if (a.length !== this.length) throw new Error(`dense map of ${a.length} entries, expected ${this.length}`);
    this.reset();
    for (let k = 0; k < this.chunks.length; k++) {
      const c = a.subarray(k * SPARSE_CHUNK, Math.min(this.length, (k + 1) * SPARSE_CHUNK));
      let n = 0;
      for (let j = 0; j < c.length; j++) if (c[j] !== UNSET) n++;
      if (n === 0) continue;
      this.allocate(k).set(c);
      this.counts[k] = n;
    }
  }

  reset(): void {
    this.chunks.fill(null);
    this.counts.fill(0);
    this.queued.fill(0);
    this.emptied.length = 0;
    this.allocated = 0;
  }
}
