// Byte store for a namespace that only spends memory on what was written: fixed-size chunks
// allocated on first write, freed when fully deallocated. A 1 TiB namespace costs nothing until
// the host writes to it. Reads of a single chunk return a view, not a copy.
import { ChunkedStore } from './chunked-store.js';

export { DEFAULT_CHUNK_SIZE } from './chunked-store.js';

export class SparseMemoryStore extends ChunkedStore {
  private readonly chunks = new Map<number, Buffer>();

  get allocatedBytes(): number {
    return this.chunks.size * this.chunkSize;
  }

  protected readChunk(idx: number): Buffer | null {
    return this.chunks.get(idx) ?? null;
  }

  protected canWrite(first: number, last: number): boolean {
    if (this.budget.limit === 0) return true;
    let missing = 0;
    for (let i = first; i <= last; i++) if (!this.chunks.has(i)) missing++;
    const need = missing * this.chunkSize;
    // File caches give memory back; data held here cannot go anywhere.
    return this.budget.used + need <= this.budget.limit || this.budget.reclaim(need);
  }

  protected writeChunk(idx: number): Buffer {
    let chunk = this.chunks.get(idx);
    if (!chunk) {
      chunk = Buffer.alloc(this.chunkSize);
      this.budget.charge(this.chunkSize); // canWrite() checked it fits
      this.chunks.set(idx, chunk);
    }
    return chunk;
  }

  protected changed(): void {}

  protected dropChunk(idx: number): void {
    if (this.chunks.delete(idx)) this.budget.release(this.chunkSize);
  }

  protected zeroPart(idx: number, within: number, n: number): void {
    this.chunks.get(idx)?.fill(0, within, within + n);
  }

  /** Drop every chunk, giving their memory back to the budget (namespace removed). */
  clear(): void {
    this.budget.release(this.chunks.size * this.chunkSize);
    this.chunks.clear();
  }
}
