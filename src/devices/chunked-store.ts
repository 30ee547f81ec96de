// What the memory store and the file store share: a namespace's bytes in fixed-size chunks, the
// walk of a byte range over them, reads as views (no copy), all-or-nothing writes, zeroing that
// drops whole chunks. Subclasses say where a chunk comes from and what happens when it changes.
import type { BlockDigests } from '../controller/request.js';
import { UNLIMITED, type MemoryBudget } from './memory-budget.js';

export const DEFAULT_CHUNK_SIZE = 256 * 1024;

export abstract class ChunkedStore {
  /** Shared zero page for reads of never-written ranges; never handed out for writing. */
  protected readonly zeroes: Buffer;

  constructor(
    readonly capacity: number,
    readonly chunkSize = DEFAULT_CHUNK_SIZE,
    protected readonly budget: MemoryBudget = UNLIMITED,
  ) {
    if ((chunkSize & (chunkSize - 1)) !== 0) throw new Error('chunk size must be a power of two');
    this.zeroes = Buffer.alloc(chunkSize);
  }

  /** The chunk's bytes to read, or null when it holds only zeroes. */
  protected abstract readChunk(idx: number): Buffer | null;
  /** The chunk to write into (allocated if need be), or null when the memory budget is spent (memory store only). */
  protected abstract writeChunk(idx: number): Buffer | null;
  /** Can every chunk of [offset, offset + length) be written? (Checked before any byte moves.) */
  protected abstract canWrite(first: number, last: number): boolean;
  /** Bytes [within, within + n) of a chunk were changed by a write. */
  protected abstract changed(idx: number, within: number, n: number): void;
  /** A whole chunk now reads as zeroes. */
  protected abstract dropChunk(idx: number): void;
  /** Part of a chunk now reads as zeroes. */
  protected abstract zeroPart(idx: number, within: number, n: number): void;

  /**
   * Append views covering [offset, offset+length) to `out`; the views alias the store. `digests`
   * gets the block digests of what was read where the store keeps them (the memory store), else null.
   */
  readv(offset: number, length: number, out: Buffer[], digests?: BlockDigests): void {
    if (digests !== undefined) digests.c2hDigests = null;
    const cs = this.chunkSize;
    while (length > 0) {
      const idx = Math.floor(offset / cs);
      const within = offset - idx * cs;
      const n = Math.min(length, cs - within);
      out.push(this.view(idx, within, n));
      offset += n;
      length -= n;
    }
  }

  /** A view of chunk idx's bytes [within, within + n): the shared zero page where it holds only zeroes. */
  protected view(idx: number, within: number, n: number): Buffer {
    return (this.readChunk(idx) ?? this.zeroes).subarray(within, within + n);
  }

  /** Copy of [offset, offset+length) as one buffer. */
  read(offset: number, length: number): Buffer {
    const parts: Buffer[] = [];
    this.readv(offset, length, parts);
    return parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts, length);
  }

  /** Would write(offset, .., length) succeed now? (Checked by callers that must decide first.) */
  canStore(offset: number, length: number): boolean {
    if (length <= 0) return true;
    const cs = this.chunkSize;
    return this.canWrite(Math.floor(offset / cs), Math.floor((offset + length - 1) / cs));
  }

  /** Copy `length` bytes of `src` to `offset`; false (nothing written) when memory is short. */
  write(offset: number, src: Uint8Array, srcOff = 0, length = src.length - srcOff): boolean {
    const cs = this.chunkSize;
    if (length <= 0) return true;
    if (!this.canWrite(Math.floor(offset / cs), Math.floor((offset + length - 1) / cs))) return false;
    while (length > 0) {
      const idx = Math.floor(offset / cs);
      const within = offset - idx * cs;
      const n = Math.min(length, cs - within);
      this.writeChunk(idx)!.set(srcOff === 0 && n === src.length ? src : src.subarray(srcOff, srcOff + n), within);
      this.changed(idx, within, n);
      offset += n;
      srcOff += n;
      length -= n;
    }
    return true;
  }

  /** Make [offset, offset+length) read back as zeroes, dropping whole chunks. */
  zero(offset: number, length: number): void {
    const cs = this.chunkSize;
    while (length > 0) {
      const idx = Math.floor(offset / cs);
      const within = offset - idx * cs;
      const n = Math.min(length, cs - within);
      if (n === cs) this.dropChunk(idx);
      else this.zeroPart(idx, within, n);
      offset += n;
      length -= n;
    }
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
