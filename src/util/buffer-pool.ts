// Reusable buffers for H2C (host-to-controller) data. Allocating a fresh 128 KiB+ buffer per
// command means an mmap and page faults for every write (glibc's mmap threshold) plus GC
// pressure; a free list per power-of-two size class avoids both.

const MIN_SHIFT = 12; // 4 KiB

export class BufferPool {
  private readonly classes: Buffer[][] = [];
  private readonly maxPerClass: number[] = [];
  /** Buffers acquired and not yet released (a leak shows here). */
  outstanding = 0;

  /** `budget` bounds the idle bytes kept per size class. */
  constructor(
    maxSize: number,
    budget = 16 * 1024 * 1024,
  ) {
    for (let shift = MIN_SHIFT, i = 0; 1 << shift <= maxSize * 2; shift++, i++) {
      this.classes.push([]);
      this.maxPerClass.push(Math.max(4, Math.floor(budget / (1 << shift))));
    }
  }

  private classOf(len: number): number {
    const shift = len <= 1 << MIN_SHIFT ? MIN_SHIFT : 32 - Math.clz32(len - 1);
    return shift - MIN_SHIFT;
  }

  /** A buffer of at least `len` bytes (its full backing size; callers take a view). */
  acquire(len: number): Buffer {
    this.outstanding++;
    const c = this.classOf(len);
    const list = this.classes[c];
    if (list === undefined) return Buffer.allocUnsafeSlow(len);
    return list.pop() ?? Buffer.allocUnsafeSlow(1 << (c + MIN_SHIFT));
  }

  release(buf: Buffer): void {
    this.outstanding--;
    const c = this.classOf(buf.length);
    const list = this.classes[c];
    if (list === undefined || buf.length !== 1 << (c + MIN_SHIFT) || list.length >= this.maxPerClass[c]!) return;
    list.push(buf);
  }
}
