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
// Bounded memory (limits.max_memory): a chunk is cached only if the budget takes it. When it is
// spent, a CLOCK sweep picks a chunk to drop: a reference bit set on each access (no allocation,
// no reordering) gives recently used chunks a second chance; the first unreferenced clean chunk
// goes (it reloads from the file when touched again); if none turns up within a short search, an
// unreferenced dirty one is written to the file synchronously first (durable() still fdatasyncs
// it). A chunk whose write-back is in flight cannot be written synchronously (the two writes
// could land in either order): it moves to `limbo` and is written again from there once its
// flight lands. Another namespace short of memory takes cached chunks back the same way
// (MemoryBudget.reclaim). When nothing can go (memory namespaces hold the budget), the data goes
// straight through an uncharged buffer to the file, so a write is never refused for memory. A
// dropped chunk's memory is never reused: views of it handed out for reads stay valid.
import { closeSync, fdatasync, fstatSync, ftruncateSync, openSync, readSync, write, writeSync } from 'node:fs';
import { ChunkedStore, DEFAULT_CHUNK_SIZE } from './chunked-store.js';
import { UNLIMITED, type MemoryBudget, type Reclaimer } from './memory-budget.js';

const PARALLEL_WRITES = 4;
/** CLOCK steps spent looking for a clean chunk before an unreferenced dirty one is written out. */
const CLEAN_SEARCH = 64;

interface Waiter {
  gen: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** A cached chunk: charged to the budget, in the CLOCK ring while the budget is limited. */
interface Cached {
  readonly idx: number;
  readonly buf: Buffer;
  /** Touched since the CLOCK hand last passed. */
  ref: boolean;
  /** Position in the ring; -1 when the budget is unlimited (nothing is ever dropped). */
  slot: number;
}

export class FileStore extends ChunkedStore implements Reclaimer {
  /** Cached chunks; null = known to hold only zeroes (never allocated). */
  private readonly chunks = new Map<number, Cached | null>();
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
  /**
   * Newest data of chunks not in the cache (uncharged) until it is in the file: dropped while
   * their write-back was in flight, or written with no room in the budget while one was.
   */
  private readonly limbo = new Map<number, Buffer>();
  /** CLOCK ring of cached chunks (budget limited only); free slots are reused. */
  private readonly ring: (Cached | null)[] = [];
  private readonly freeSlots: number[] = [];
  private hand = 0;

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
    budget.register(this);
  }

  /** Give one cached chunk back to the budget (another namespace needs the memory). */
  reclaimOne(): boolean {
    return this.evictOne();
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
    const c = this.chunks.get(idx);
    if (c !== undefined) {
      if (c === null) return null;
      c.ref = true;
      return c.buf;
    }
    const l = this.limbo.get(idx);
    if (l !== undefined) {
      if (this.cache(idx, l)) this.limbo.delete(idx);
      return l; // uncached, it still holds the newest data
    }
    const buf = this.load(idx);
    if (buf === null) this.chunks.set(idx, null);
    else this.cache(idx, buf); // over the budget it is read but not cached (the view keeps it alive)
    return buf;
  }

  /** The chunk to write into: cached if the budget allows, else an uncharged one in limbo. */
  protected writeChunk(idx: number): Buffer {
    const c = this.chunks.get(idx);
    if (c) {
      c.ref = true;
      return c.buf;
    }
    let buf = this.limbo.get(idx);
    if (buf === undefined) {
      buf = (c === undefined ? this.load(idx) : null) ?? Buffer.alloc(this.chunkSize);
      this.chunks.delete(idx); // a known-zero entry would hide the new data
    }
    if (this.cache(idx, buf)) this.limbo.delete(idx);
    else this.limbo.set(idx, buf); // changed() writes it to the file
    return buf;
  }

  /**
   * A file store takes every write (see the top of the file). Nothing is loaded ahead: the write
   * fills and marks each chunk before the next is fetched, so making room for the next may drop it.
   */
  protected canWrite(): boolean {
    return true;
  }

  /** The chunk's bytes from the file; null when they are all zeroes. */
  private load(idx: number): Buffer | null {
    this.loads++;
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
    return buf.equals(this.zeroes) ? null : buf;
  }

  /** Cache `buf` as chunk idx if the budget takes it (dropping others if need be). */
  private cache(idx: number, buf: Buffer): boolean {
    while (!this.budget.charge(this.chunkSize)) if (!this.evictOne() && !this.budget.reclaim(this.chunkSize, this)) return false;
    const c: Cached = { idx, buf, ref: false, slot: -1 };
    if (this.budget.limit > 0) {
      // A new chunk starts unreferenced: touched once (a scan) it is among the first to go.
      const free = this.freeSlots.pop();
      c.slot = free ?? this.ring.length;
      if (free === undefined) this.ring.push(c);
      else this.ring[free] = c;
    }
    this.chunks.set(idx, c);
    this.allocated += this.chunkSize;
    return true;
  }

  /**
   * Drop one cached chunk to give its memory back (CLOCK): the first unreferenced clean one, else
   * an unreferenced dirty one not being written, written to the file first, else one being
   * written (to limbo). False when none can go.
   */
  private evictOne(): boolean {
    const ring = this.ring;
    const n = ring.length;
    let dirtyVictim: Cached | null = null;
    let flyingVictim: Cached | null = null;
    // A clean chunk is looked for over one turn (CLEAN_SEARCH steps at most); a second turn
    // finds a victim if the first only cleared reference bits.
    const search = Math.min(n, CLEAN_SEARCH);
    for (let step = 0; step < 2 * n; step++) {
      if (dirtyVictim !== null && step >= search) break;
      const c = ring[this.hand];
      this.hand = this.hand + 1 === n ? 0 : this.hand + 1;
      if (c === null || c === undefined) continue;
      if (c.ref) {
        c.ref = false;
        continue;
      }
      if (this.writing.has(c.idx)) flyingVictim ??= c;
      else if (!this.dirty.has(c.idx)) return this.drop(c);
      else dirtyVictim ??= c;
    }
    if (dirtyVictim !== null && this.fd >= 0) {
      const pos = dirtyVictim.idx * this.chunkSize;
      try {
        writeSync(this.fd, dirtyVictim.buf, 0, Math.min(this.chunkSize, this.capacity - pos), pos);
      } catch (e) {
        this.fail(e as Error);
        return false;
      }
      this.dirty.delete(dirtyVictim.idx); // in the file now; durable() still fdatasyncs before resolving
      this.settle();
      return this.drop(dirtyVictim);
    }
    if (flyingVictim === null) return false;
    this.limbo.set(flyingVictim.idx, flyingVictim.buf); // still dirty: written again from limbo when its flight lands
    return this.drop(flyingVictim);
  }

  /** Take a cached chunk out of the cache and the ring, giving its memory back to the budget. */
  private uncache(c: Cached): void {
    if (c.slot >= 0) {
      this.ring[c.slot] = null;
      this.freeSlots.push(c.slot);
    }
    this.allocated -= this.chunkSize;
    this.budget.release(this.chunkSize);
  }

  private drop(c: Cached): boolean {
    this.uncache(c);
    this.chunks.delete(c.idx); // unknown again: read back from the file when next touched
    this.evictions++;
    return true;
  }

  /** Chunks dropped from the cache to stay within the memory budget. */
  evictions = 0;
  /** Chunks read from the file (cache misses). */
  loads = 0;

  protected changed(idx: number): void {
    this.dirty.set(idx, ++this.gen);
    const l = this.limbo.get(idx);
    // Not cacheable and no write of it in flight: straight to the file, so limbo stays small.
    if (l !== undefined && !this.writing.has(idx)) this.writeThrough(idx, l);
    this.pump();
  }

  /** Write an uncached chunk's newest data to the file now (none of it is in flight). */
  private writeThrough(idx: number, buf: Buffer): void {
    const pos = idx * this.chunkSize;
    try {
      writeSync(this.fd, buf, 0, Math.min(this.chunkSize, this.capacity - pos), pos);
    } catch (e) {
      this.fail(e as Error); // it stays in limbo, readable; durable() fails from now on
      return;
    }
    this.dirty.delete(idx);
    this.limbo.delete(idx);
    this.settle();
  }

  protected dropChunk(idx: number): void {
    this.limbo.delete(idx);
    const c = this.chunks.get(idx);
    if (c === null) return;
    if (c !== undefined) this.uncache(c);
    this.chunks.set(idx, null);
    this.changed(idx);
  }

  protected zeroPart(idx: number, within: number, n: number): void {
    if (this.readChunk(idx) === null) return;
    this.writeChunk(idx).fill(0, within, within + n);
    this.changed(idx);
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

  /** Write back and sync everything, then close the file and give the cache's memory back. */
  async close(): Promise<void> {
    try {
      await this.durable();
    } finally {
      this.budget.unregister(this);
      if (this.fd >= 0) closeSync(this.fd);
      this.fd = -1;
      // A namespace removed while the daemon runs must not keep its share of the budget.
      this.budget.release(this.allocated);
      this.allocated = 0;
      this.chunks.clear();
      this.limbo.clear();
      this.ring.length = 0;
      this.freeSlots.length = 0;
      this.hand = 0;
    }
  }

  // ------------------------------------------------------------------ writer

  private pump(): void {
    if (this.failure || this.fd < 0) return;
    // Limbo first: its chunks hold uncharged memory until they are in the file.
    if (this.limbo.size > 0) {
      for (const idx of this.limbo.keys()) {
        if (this.writing.size >= PARALLEL_WRITES) return;
        const g = this.dirty.get(idx);
        if (g !== undefined && !this.writing.has(idx)) this.writeBack(idx, g);
      }
    }
    for (const [idx, g] of this.dirty) {
      if (this.writing.size >= PARALLEL_WRITES) return;
      if (this.writing.has(idx)) continue;
      this.writeBack(idx, g);
    }
  }

  private writeBack(idx: number, g: number): void {
    const c = this.chunks.get(idx);
    const buf = c === undefined ? this.limbo.get(idx) : c === null ? null : c.buf;
    // Snapshot: later commands may change the chunk while the write is in the thread pool.
    const snap = buf ? Buffer.from(buf) : this.zeroes;
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
