// Byte store for a namespace that only spends memory on what was written: fixed-size chunks
// allocated on first write, freed when fully deallocated. A 1 TiB namespace costs nothing until
// the host writes to it. Reads of a single chunk return a view, not a copy.

import { UNLIMITED, type MemoryBudget } from './memory-budget.js';

export const DEFAULT_CHUNK_SIZE = 256 * 1024;

export class SparseMemoryStore {
  private readonly chunks = new Map<number, Buffer>();
  /** Shared zero page for reads of never-written ranges; never handed out for writing. */
  private readonly zeroes: Buffer;

  constructor(
    readonly capacity: number,
    readonly chunkSize = DEFAULT_CHUNK_SIZE,
    private readonly budget: MemoryBudget = UNLIMITED,
  ) {
    if ((chunkSize & (chunkSize - 1)) !== 0) throw new Error('chunk size must be a power of two');
    this.zeroes = Buffer.alloc(chunkSize);
  }

  get allocatedBytes(): number {
    return this.chunks.size * this.chunkSize;
  }

  /** Append views covering [offset, offset+length) to `out`; the views alias the store. */
  readv(offset: number, length: number, out: Buffer[]): void {
    const cs = this.chunkSize;
    while (length > 0) {
      const idx = Math.floor(offset / cs);
      const within = offset - idx * cs;
      const n = Math.min(length, cs - within);
      const chunk = this.chunks.get(idx);
      out.push((chunk ?? this.zeroes).subarray(within, within + n));
      offset += n;
      length -= n;
    }
  }

  /** Copy of [offset, offset+length) as one buffer. */
  read(offset: number, length: number): Buffer {
    const parts: Buffer[] = [];
    this.readv(offset, length, parts);
    return parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts, length);
  }

  /**
   * Copy `length` bytes of `src` to `offset`. False when the chunks it needs do not fit the memory
   * budget: then nothing is written.
   */
  write(offset: number, src: Uint8Array, srcOff = 0, length = src.length - srcOff): boolean {
    const cs = this.chunkSize;
    if (this.budget.limit > 0) {
      let missing = 0;
      for (let i = Math.floor(offset / cs), last = Math.floor((offset + length - 1) / cs); i <= last; i++) if (!this.chunks.has(i)) missing++;
      if (!this.budget.charge(missing * cs)) return false;
      this.budget.release(missing * cs); // charged again chunk by chunk below
    }
    while (length > 0) {
      const idx = Math.floor(offset / cs);
      const within = offset - idx * cs;
      const n = Math.min(length, cs - within);
      let chunk = this.chunks.get(idx);
      if (!chunk) {
        chunk = Buffer.alloc(cs);
        this.budget.charge(cs);
        this.chunks.set(idx, chunk);
      }
      chunk.set(src.subarray(srcOff, srcOff + n), within);
      offset += n;
      srcOff += n;
      length -= n;
    }
    return true;
  }

  /** Make [offset, offset+length) read back as zeroes, releasing whole chunks. */
  zero(offset: number, length: number): void {
    const cs = this.chunkSize;
    while (length > 0) {
      const idx = Math.floor(offset / cs);
      const within = offset - idx * cs;
      const n = Math.min(length, cs - within);
      const chunk = this.chunks.get(idx);
      if (chunk) {
        if (n === cs) {
          this.chunks.delete(idx);
          this.budget.release(cs);
        }
        else chunk.fill(0, within, within + n);
      }
      offset += n;
      length -= n;
    }
  }

  /** Drop every chunk, giving their memory back to the budget (namespace removed). */
  clear(): void {
    this.budget.release(this.chunks.size * this.chunkSize);
    this.chunks.clear();
  }

  /** True when every byte of the range equals `data` (Compare command). */
  equals(offset: number, data: Uint8Array): boolean {
    const parts: Buffer[] = [];
    this.readv(offset, data.length, parts);
    let pos = 0;
    for (const p of parts) {
      if (Buffer.compare(p, data.subarray(pos, pos + p.length)) !== 0) return false;
      pos += p.length;
    }
    return true;
  }
}
