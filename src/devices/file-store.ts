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
//
// Bounded memory (limits.max_memory): when a chunk must be cached and the budget is spent, the
// oldest-loaded clean chunk is dropped (it reloads from the file when touched again); when every
// cached chunk is dirty, one is written to the file synchronously first (durable() still syncs it).
// A chunk whose write-back is in flight cannot be written synchronously (the two writes could land
// in either order): it moves to `limbo` (at most PARALLEL_WRITES of them) and is written again
// from there once its flight lands. The chunks of the command being served are never dropped. A
// dropped chunk's memory is never reused: views of it handed out for reads stay valid.
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
  /** Dropped from the cache while their write-back was in flight: newest data until in the file. */
  private readonly limbo = new Map<number, Buffer>();
  /** Chunks of the write being checked and done: not to be dropped to make room for each other. */
  private pinFirst = -1;
  private pinLast = -1;

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
    const l = this.limbo.get(idx);
    if (l !== undefined) {
      if (!this.charge(idx)) return l; // readable, not cacheable
      this.limbo.delete(idx);
      this.chunks.set(idx, l);
      this.allocated += this.chunkSize;
      return l;
    }
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
    // Over the memory budget (nothing of ours left to drop) the chunk is read but not cached.
    if (c !== null && !this.charge(idx)) return c;
    if (c !== null) this.allocated += this.chunkSize;
    this.chunks.set(idx, c);
    return c;
  }

  protected writeChunk(idx: number): Buffer | null {
    let c = this.readChunk(idx);
    if (c !== null && !this.chunks.get(idx)) return null; // loaded but not cacheable
    if (c === null) {
      if (!this.charge(idx)) return null;
      c = Buffer.alloc(this.chunkSize);
      this.chunks.set(idx, c);
      this.allocated += this.chunkSize;
    }
    return c;
  }

  protected canWrite(first: number, last: number): boolean {
    this.pinFirst = first;
    this.pinLast = last;
    for (let i = first; i <= last; i++) if (this.writeChunk(i) === null) return false;
    return true;
  }

  /** Budget for one more cached chunk (`idx` is the one wanted), dropping others if need be. */
  private charge(idx: number): boolean {
    while (!this.budget.charge(this.chunkSize)) if (!this.evictOne(idx)) return false;
    return true;
  }

  /**
   * Drop one cached chunk to give its memory back: the oldest loaded clean one, else the oldest
   * dirty one not being written, written to the file first. False when none can go.
   */
  private evictOne(wanted: number): boolean {
    let dirtyVictim = -1;
    let flyingVictim = -1;
    for (const [i, c] of this.chunks) {
      if (c === null || i === wanted || (i >= this.pinFirst && i <= this.pinLast)) continue;
      if (this.writing.has(i)) {
        if (flyingVictim < 0) flyingVictim = i;
      } else if (!this.dirty.has(i)) return this.drop(i);
      else if (dirtyVictim < 0) dirtyVictim = i;
    }
    if (dirtyVictim < 0 && flyingVictim >= 0) {
      this.limbo.set(flyingVictim, this.chunks.get(flyingVictim)!);
      return this.drop(flyingVictim); // still dirty: written again from limbo when its flight lands
    }
    if (dirtyVictim < 0 || this.fd < 0) return false;
    const pos = dirtyVictim * this.chunkSize;
    try {
      writeSync(this.fd, this.chunks.get(dirtyVictim)!, 0, Math.min(this.chunkSize, this.capacity - pos), pos);
    } catch (e) {
      this.fail(e as Error);
      return false;
    }
    this.dirty.delete(dirtyVictim); // in the file now; durable() still fdatasyncs before resolving
    this.settle();
    return this.drop(dirtyVictim);
  }

  private drop(i: number): boolean {
    this.chunks.delete(i); // unknown again: read back from the file when next touched
    this.allocated -= this.chunkSize;
    this.budget.release(this.chunkSize);
    this.evictions++;
    return true;
  }

  /** Chunks dropped from the cache to stay within the memory budget. */
  evictions = 0;

  protected changed(idx: number): void {
    this.dirty.set(idx, ++this.gen);
    this.pump();
  }

  protected dropChunk(idx: number): void {
    this.limbo.delete(idx);
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
    const c = this.chunks.has(idx) ? this.chunks.get(idx) : this.limbo.get(idx);
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
      if (this.dirty.get(idx) === g) {
        this.dirty.delete(idx);
        this.limbo.delete(idx); // its newest data is in the file now
      }
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
