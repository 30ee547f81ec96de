// Byte store of a file-backed namespace (`device.path`): the same sparse chunks in memory as the
// memory store (commands read and write them synchronously on the network thread), loaded from the
// file on first touch, and written back behind the commands by a writer on libuv's thread pool.
//
// Durability is the NVMe volatile-write-cache contract: a write is acknowledged once it is in
// memory (never lost while the daemon runs); `durable()` — what Flush and FUA wait for —
// resolves once every write acknowledged before the call is in the file and fdatasync'd. So data
// acknowledged after Flush or FUA survives kill -9.
//
// Writes carry a generation number. A dirty chunk remembers the newest generation written to it;
// the writer snapshots a chunk (copy), writes it, and clears it only if no newer write came in
// meanwhile. One write per chunk at a time, a few chunks in parallel: the file never sees two
// writes of one region racing.
import { closeSync, fdatasync, fstatSync, ftruncateSync, openSync, readSync, write, writeSync } from 'node:fs';
import { UNLIMITED, type MemoryBudget } from './memory-budget.js';
import { DEFAULT_CHUNK_SIZE } from './sparse-memory-store.js';

const PARALLEL_WRITES = 4;

interface Waiter {
  gen: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class FileStore {
  /** Loaded chunks; null = known to hold only zeroes (never allocated). */
  private readonly chunks = new Map<number, Buffer | null>();
  private readonly zeroes: Buffer;
  /** chunk index -> newest generation written to it and not yet in the file. */
  private readonly dirty = new Map<number, number>();
  /** Chunks being written now -> the generation their snapshot holds. */
  private readonly writing = new Map<number, number>();
  private gen = 0;
  private waiters: Waiter[] = [];
  private syncing = false;
  private fd: number;
  /** First write or sync error: every later durable() fails with it (the host sees a write fault). */
  private failure: Error | null = null;
  private allocated = 0;

  constructor(
    readonly path: string,
    readonly capacity: number,
    readonly chunkSize = DEFAULT_CHUNK_SIZE,
    private readonly budget: MemoryBudget = UNLIMITED,
  ) {
    if ((chunkSize & (chunkSize - 1)) !== 0) throw new Error('chunk size must be a power of two');
    this.zeroes = Buffer.alloc(chunkSize);
    this.fd = openSync(path, 'a+'); // create if missing, never truncate
    closeSync(this.fd);
    this.fd = openSync(path, 'r+');
    const size = fstatSync(this.fd).size;
    if (size > capacity) {
      closeSync(this.fd);
      throw new Error(`${path} holds ${size} bytes, more than the namespace capacity (${capacity}): refusing to hide data`);
    }
    if (size < capacity) ftruncateSync(this.fd, capacity); // sparse on every file system that matters
  }

  get allocatedBytes(): number {
    return this.allocated;
  }

  /** Bytes written and not yet durable, roughly (whole chunks). */
  get dirtyBytes(): number {
    return this.dirty.size * this.chunkSize;
  }

  private load(idx: number): Buffer | null {
    let c = this.chunks.get(idx);
    if (c !== undefined) return c;
    const buf = Buffer.allocUnsafe(this.chunkSize);
    const pos = idx * this.chunkSize;
    const want = Math.min(this.chunkSize, this.capacity - pos);
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd, buf, got, want - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    buf.fill(0, got);
    c = buf.equals(this.zeroes) ? null : buf;
    // Over the memory budget the chunk is read but not cached (the view keeps it alive).
    if (c !== null && !this.budget.charge(this.chunkSize)) return c;
    if (c !== null) this.allocated += this.chunkSize;
    this.chunks.set(idx, c);
    return c;
  }

  /** The cached chunk to write into (allocated if need be), or null when the budget is spent. */
  private writable(idx: number): Buffer | null {
    let c = this.load(idx);
    if (c !== null && !this.chunks.get(idx)) return null; // loaded but not cacheable
    if (c === null) {
      if (!this.budget.charge(this.chunkSize)) return null;
      c = Buffer.alloc(this.chunkSize);
      this.chunks.set(idx, c);
      this.allocated += this.chunkSize;
    }
    return c;
  }

  private touched(idx: number): void {
    this.dirty.set(idx, ++this.gen);
    this.pump();
  }

  readv(offset: number, length: number, out: Buffer[]): void {
    const cs = this.chunkSize;
    while (length > 0) {
      const idx = Math.floor(offset / cs);
      const within = offset - idx * cs;
      const n = Math.min(length, cs - within);
      out.push((this.load(idx) ?? this.zeroes).subarray(within, within + n));
      offset += n;
      length -= n;
    }
  }

  /** False when the memory budget cannot hold the chunks it needs: then nothing is written. */
  write(offset: number, src: Uint8Array, srcOff = 0, length = src.length - srcOff): boolean {
    const cs = this.chunkSize;
    for (let i = Math.floor(offset / cs), last = Math.floor((offset + length - 1) / cs); i <= last; i++) if (this.writable(i) === null) return false;
    while (length > 0) {
      const idx = Math.floor(offset / cs);
      const within = offset - idx * cs;
      const n = Math.min(length, cs - within);
      this.writable(idx)!.set(src.subarray(srcOff, srcOff + n), within);
      this.touched(idx);
      offset += n;
      srcOff += n;
      length -= n;
    }
    return true;
  }

  zero(offset: number, length: number): void {
    const cs = this.chunkSize;
    while (length > 0) {
      const idx = Math.floor(offset / cs);
      const within = offset - idx * cs;
      const n = Math.min(length, cs - within);
      if (n === cs) {
        if (this.chunks.get(idx) !== null) {
          if (this.chunks.get(idx)) {
            this.allocated -= cs;
            this.budget.release(cs);
          }
          this.chunks.set(idx, null);
          this.touched(idx);
        }
      } else if (this.load(idx) !== null) {
        const c = this.writable(idx);
        if (c !== null) {
          c.fill(0, within, within + n);
          this.touched(idx);
        } else {
          // Not cacheable (memory budget spent) and so not dirty: zero the bytes in the file itself.
          writeSync(this.fd, Buffer.alloc(n), 0, n, offset);
        }
      }
      offset += n;
      length -= n;
    }
  }

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

  /** Resolves when everything written before this call is in the file and synced. */
  durable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const gen = this.gen;
    return new Promise((resolve, reject) => {
      this.waiters.push({ gen, resolve, reject });
      this.settle();
    });
  }

  /** Write back and sync everything, then close the file. */
  async close(): Promise<void> {
    try {
      await this.durable();
    } finally {
      if (this.fd >= 0) closeSync(this.fd);
      this.fd = -1;
    }
  }

  // ------------------------------------------------------------------ writer

  private pump(): void {
    if (this.failure || this.fd < 0) return;
    for (const [idx, g] of this.dirty) {
      if (this.writing.size >= PARALLEL_WRITES) return;
      if (this.writing.has(idx)) continue;
      this.writeChunk(idx, g);
    }
  }

  private writeChunk(idx: number, g: number): void {
    const c = this.chunks.get(idx);
    // Snapshot: later commands may change the chunk while the write is in the thread pool.
    const snap = c ? Buffer.from(c) : this.zeroes;
    const pos = idx * this.chunkSize;
    const len = Math.min(this.chunkSize, this.capacity - pos);
    this.writing.set(idx, g);
    write(this.fd, snap, 0, len, pos, (err) => {
      this.writing.delete(idx);
      if (err) {
        this.fail(err);
        return;
      }
      if (this.dirty.get(idx) === g) this.dirty.delete(idx);
      this.pump();
      this.settle();
    });
  }

  /** Oldest generation not yet in the file (Infinity when everything is written). */
  private oldestUnwritten(): number {
    let m = Infinity;
    for (const g of this.dirty.values()) if (g < m) m = g;
    return m;
  }

  private settle(): void {
    if (this.syncing || this.waiters.length === 0 || this.failure) return;
    const oldest = this.oldestUnwritten();
    const ready = this.waiters.filter((w) => w.gen < oldest);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.gen >= oldest);
    this.syncing = true;
    fdatasync(this.fd, (err) => {
      this.syncing = false;
      if (err) {
        for (const w of ready) w.reject(err);
        this.fail(err);
        return;
      }
      for (const w of ready) w.resolve();
      this.settle();
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }
}
