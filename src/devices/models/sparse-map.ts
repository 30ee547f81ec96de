// A huge array of 32-bit entries that costs memory only where entries are set: fixed-size chunks
// allocated on the first set entry, freed by compact() once empty. The conv FTL's
// logical-to-physical and physical-to-logical maps are ~2 MiB per GiB of capacity when dense; a
// namespace's capacity should cost nothing until it is written.
const SHIFT = 16;
const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;

export class SparseU32Map {
  private readonly chunks: (Uint32Array | null)[];
  /** Set (non-empty) entries per chunk. */
  private readonly counts: Uint32Array;

  constructor(
    readonly length: number,
    /** The value of an unset entry. */
    readonly empty: number,
  ) {
    const n = Math.ceil(length / CHUNK);
    this.chunks = new Array<Uint32Array | null>(n).fill(null);
    this.counts = new Uint32Array(n);
  }

  get(i: number): number {
    const c = this.chunks[i >>> SHIFT];
    return c === null || c === undefined ? this.empty : c[i & MASK]!;
  }

  set(i: number, v: number): void {
    const k = i >>> SHIFT;
    let c = this.chunks[k]!;
    if (c === null) {
      if (v === this.empty) return;
      c = this.chunks[k] = new Uint32Array(CHUNK).fill(this.empty);
    }
    const j = i & MASK;
    const old = c[j]!;
    c[j] = v;
    if (old === this.empty) {
      if (v !== this.empty) this.counts[k]!++;
    } else if (v === this.empty) this.counts[k]!--;
    // Emptied chunks are kept: freeing at once made an overwrite of an entry alone in its chunk
    // free and reallocate 256 KiB every time (unmap clears before map sets).
  }

  /** Free the chunks that hold no entries (after trims). */
  compact(): void {
    for (let k = 0; k < this.chunks.length; k++) if (this.counts[k] === 0) this.chunks[k] = null;
  }

  /** Bytes of chunks allocated now. */
  get allocatedBytes(): number {
    let n = 0;
    for (const c of this.chunks) if (c !== null) n++;
    return n * CHUNK * 4;
  }

  /** A dense copy (the saved-state format). */
  toDense(): Uint32Array {
    const out = new Uint32Array(this.length).fill(this.empty);
    this.chunks.forEach((c, k) => {
      if (c !== null) out.set(c.subarray(0, Math.min(CHUNK, this.length - k * CHUNK)), k * CHUNK);
    });
    return out;
  }

  /** Replace the contents with those of a dense array of the same length. */
  fromDense(a: Uint32Array): void {
    this.chunks.fill(null);
    this.counts.fill(0);
    for (let i = 0; i < a.length; i++) if (a[i] !== this.empty) this.set(i, a[i]!);
  }
}
