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
import { ChunkedStore, DEFAULT_CHUNK_SIZE } from './chunked-store.js';
import { UNLIMITED, type MemoryBudget } from './memory-budget.js';

const PARALLEL_WRITES = 4;

interface Waiter {
  gen: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class FileStore extends ChunkedStore {
  /** Loaded chunks; null = known to hold only zeroes (never allocated). */
  private readonly chunks = new Map<number, Buffer | null>();
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
    capacity: number,
    chunkSize = DEFAULT_CHUNK_SIZE,
    budget: MemoryBudget = UNLIMITED,
  ) {
    super(capacity, chunkSize, budget);
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

  /** The chunk from the cache, or read from the file (cached while the memory budget allows). */
  protected readChunk(idx: number): Buffer | null {
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

  protected writeChunk(idx: number): Buffer | null {
    let c = this.readChunk(idx);
    if (c !== null && !this.chunks.get(idx)) return null; // loaded but not cacheable
    if (c === null) {
      if (!this.budget.charge(this.chunkSize)) return null;
      c = Buffer.alloc(this.chunkSize);
      this.chunks.set(idx, c);
      this.allocated += this.chunkSize;
    }
    return c;
  }

  protected canWrite(first: number, last: number): boolean {
    for (let i = first; i <= last; i++) if (this.writeChunk(i) === null) return false;
    return true;
  }

  protected changed(idx: number): void {
    this.dirty.set(idx, ++this.gen);
    this.pump();
  }

  protected dropChunk(idx: number): void {
    const c = this.chunks.get(idx);
    if (c === null) return;
    if (c) {
      this.allocated -= this.chunkSize;
      this.budget.release(this.chunkSize);
    }
    this.chunks.set(idx, null);
    this.changed(idx);
  }

  protected zeroPart(idx: number, within: number, n: number): void {
    if (this.readChunk(idx) === null) return;
    const c = this.writeChunk(idx);
    if (c !== null) {
      c.fill(0, within, within + n);
      this.changed(idx);
    } else {
      // Not cacheable (memory budget spent) and so not dirty: zero the bytes in the file itself.
      writeSync(this.fd, Buffer.alloc(n), 0, n, idx * this.chunkSize + within);
    }
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
      this.writeBack(idx, g);
    }
  }

  private writeBack(idx: number, g: number): void {
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
