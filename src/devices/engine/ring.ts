// Single-producer single-consumer ring of fixed-size entries in a SharedArrayBuffer: the only
// thing that crosses between the network thread and a device worker per command. Entries are
// `wordsPerEntry` 32-bit words (even, so a float64 field at an even word offset is aligned); the
// producer writes an entry with plain stores and publishes it with one Atomics.store of the tail,
// the consumer reads up to the tail it loaded with Atomics.load and frees the slots with one
// Atomics.store of the head. Atomics are sequentially consistent in JavaScript, so plain stores
// before the publishing store are visible to the consumer that loads the new tail.
//
// Head and tail are free-running 32-bit counters (wrapping is fine: differences are taken `| 0`),
// each on its own 64-byte line. A third word, FLAG, is the consumer's "I am about to sleep, wake me"
// flag (see DeviceEngine and worker.ts for the handshake); a fourth is spare for the user.

/** Int32 word indices of the header fields. */
export const RingWord = { Head: 0, Tail: 16, Flag: 32, Spare: 48 } as const;
const HEADER_BYTES = 256;

export class Ring {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly capacity: number;
  readonly mask: number;
  readonly wordsPerEntry: number;
  /** Word index of entry 0 in i32. */
  readonly base: number;
  /** Producer side: next tail (published by publish()). Consumer side: next head. */
  private local: number;

  constructor(
    readonly sab: SharedArrayBuffer,
    wordsPerEntry: number,
  ) {
    if (wordsPerEntry % 2 !== 0) throw new Error('ring entries must be an even number of words');
    const cap = (sab.byteLength - HEADER_BYTES) / (wordsPerEntry * 4);
    if (!Number.isInteger(cap) || cap < 2 || (cap & (cap - 1)) !== 0) throw new Error('ring capacity must be a power of two');
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.capacity = cap;
    this.mask = cap - 1;
    this.wordsPerEntry = wordsPerEntry;
    this.base = HEADER_BYTES / 4;
    this.local = 0;
  }

  static bytesFor(capacity: number, wordsPerEntry: number): number {
    return HEADER_BYTES + capacity * wordsPerEntry * 4;
  }

  static create(capacity: number, wordsPerEntry: number): Ring {
    return new Ring(new SharedArrayBuffer(Ring.bytesFor(capacity, wordsPerEntry)), wordsPerEntry);
  }

  /** Attach the producer or the consumer end: picks up the shared head/tail. */
  static attach(sab: SharedArrayBuffer, wordsPerEntry: number, end: 'producer' | 'consumer'): Ring {
    const r = new Ring(sab, wordsPerEntry);
    r.local = Atomics.load(r.i32, end === 'producer' ? RingWord.Tail : RingWord.Head);
    return r;
  }

  // ---- producer

  /** Entries the producer may still write (counting written but unpublished ones). */
  free(): number {
    return this.capacity - ((this.local - Atomics.load(this.i32, RingWord.Head)) | 0);
  }

  /**
   * Word index (in i32) of the next entry to write, or -1 when the ring is full. The caller fills
   * the words and calls push() to claim it.
   */
  slot(): number {
    if (((this.local - Atomics.load(this.i32, RingWord.Head)) | 0) >= this.capacity) return -1;
    return this.base + (this.local & this.mask) * this.wordsPerEntry;
  }

  /** Claim the entry returned by slot() (not yet visible to the consumer). */
  push(): void {
    this.local = (this.local + 1) | 0;
  }

  /** Make every pushed entry visible to the consumer. */
  publish(): void {
    Atomics.store(this.i32, RingWord.Tail, this.local);
  }

  // ---- consumer

  /** Entries published and not yet consumed. */
  available(): number {
    return (Atomics.load(this.i32, RingWord.Tail) - this.local) | 0;
  }

  /** Word index of the next entry to read; only valid when available() > 0. */
  peek(): number {
    return this.base + (this.local & this.mask) * this.wordsPerEntry;
  }

  /** Done with the entry returned by peek(); frees its slot at the next release(). */
  advance(): void {
    this.local = (this.local + 1) | 0;
  }

  /** Give consumed slots back to the producer. */
  release(): void {
    Atomics.store(this.i32, RingWord.Head, this.local);
  }

  /** The consumer's head (or the producer's tail) as this end knows it. */
  get position(): number {
    return this.local;
  }
}
