// Byte store for a namespace that only spends memory on what was written: fixed-size chunks
// allocated on first write, freed when fully deallocated. A 1 TiB namespace costs nothing until
// the host writes to it. Reads of a single chunk return a view, not a copy.
import type { BlockDigests } from '../controller/request.js';
import { JOIN_UNIT } from '../protocol/digest.js';
import { bufferView } from '../util/buffer-view.js';
import { ChunkedStore } from './chunked-store.js';

export { DEFAULT_CHUNK_SIZE } from './chunked-store.js';

/** Chunks per leaf of the chunk table. */
const LEAF = 1024;
/** Chunks per slab: one ArrayBuffer (4 MiB with 256 KiB chunks) holds this many. */
const SLAB_BITS = 4;
const SLAB = 1 << SLAB_BITS;

interface Leaf {
  bufs: (Buffer | null)[];
  /** Each slab's memory, chunk k of it at k * chunkSize (views are made from it: see util/buffer-view.ts). */
  slabs: (ArrayBuffer | null)[];
  /** Chunks in use per slab: at 0 the slab goes. */
  live: Int32Array;
  /** 1 where a dropped chunk left its bytes in a slab still in use: zeroed when taken again. */
  stale: Uint8Array;
  /** Per slab, the data digests of its 4 KiB blocks (crc32cBlocks in protocol/digest.ts). */
  digests: (Float64Array | null)[];
}

export class SparseMemoryStore extends ChunkedStore {
  // Chunks by index in a two-level table, leaves made on first write: finding one is two array
  // loads (a Map<number, Buffer> of a few thousand chunks cost ~150 ns a lookup in cache misses).
  // Chunks live 16 to a slab (one ArrayBuffer) because every read makes a view from its chunk's
  // ArrayBuffer, and with one per chunk that object was a DRAM miss per random 4 KiB read (6-7%
  // of the CPU at QD32); 64 slabs per GiB stay in the cache. A new slab's pages are the kernel's
  // zero pages until written (calloc of an mmap), so a sparse write costs what it writes. A
  // dropped chunk's memory goes back to the system with its slab (the budget counts chunks).
  // The leaves array only grows as far as writes reach (V8 keeps a far-flung write's slot in a
  // dictionary): a namespace of any size costs nothing until written.
  // Data digests: a random 4 KiB read summed when sent costs a trip to DRAM for its block before
  // the kernel copies it into the socket (which then finds it in the cache): most of what header +
  // data digests cost. Each slab has the CRC32C of each of its 4 KiB blocks once a digest was
  // summed for it (8 bytes per block: 0.2% of the memory), readv hands a read the table of the
  // slab it shows, and every change of a slab's bytes clears the blocks it touched (writes, partial
  // zeroes, a dropped chunk's bytes zeroed on reuse). The table goes with its slab: a view made
  // before its chunk was dropped keeps the digests of the bytes it shows.
  private readonly leaves: (Leaf | undefined)[] = [];
  private count = 0;
  private readonly zeroAb: ArrayBufferLike;
  private readonly zeroBase: number;
  /** 4 KiB blocks per chunk (0 for chunks smaller than that: no digests kept). */
  private readonly blocks: number;

  constructor(...args: ConstructorParameters<typeof ChunkedStore>) {
    super(...args);
    this.zeroAb = this.zeroes.buffer;
    this.zeroBase = this.zeroes.byteOffset;
    this.blocks = this.chunkSize >= JOIN_UNIT ? this.chunkSize / JOIN_UNIT : 0;
  }

  override readv(offset: number, length: number, out: Buffer[], digests?: BlockDigests): void {
    const cs = this.chunkSize;
    const idx = Math.floor(offset / cs);
    const within = offset - idx * cs;
    // One view of whole blocks of a written chunk: it comes with its slab's digests.
    if (digests === undefined || this.blocks === 0 || length <= 0 || within + length > cs || ((within | length) & (JOIN_UNIT - 1)) !== 0) {
      super.readv(offset, length, out, digests);
      return;
    }
    const leaf = this.leafOf(idx);
    const slot = idx & (LEAF - 1);
    if (leaf === null || leaf.bufs[slot] === null) {
      super.readv(offset, length, out, digests);
      return;
    }
    const s = slot >>> SLAB_BITS;
    const pos = (slot & (SLAB - 1)) * cs + within;
    out.push(bufferView(leaf.slabs[s]!, pos, length));
    digests.c2hDigests = leaf.digests[s]!;
    digests.c2hBlock = pos / JOIN_UNIT;
  }

  get allocatedBytes(): number {
    return this.count * this.chunkSize;
  }

  // Chunk indices pass 2^32 in a namespace over 1 PiB: the leaf is found by division, not a shift
  // (which would wrap); the low bits (slot, place in slab) survive the bitwise ops' 32-bit wrap.
  private leafOf(idx: number): Leaf | null {
    return this.leaves[Math.floor(idx / LEAF)] ?? null;
  }

  protected readChunk(idx: number): Buffer | null {
    const leaf = this.leafOf(idx);
    return leaf === null ? null : leaf.bufs[idx & (LEAF - 1)]!;
  }

  protected override view(idx: number, within: number, n: number): Buffer {
    const leaf = this.leafOf(idx);
    const slot = idx & (LEAF - 1);
    // A slab can outlive a dropped chunk of it (stale bytes): the chunk's own slot says if it is there.
    if (leaf === null || leaf.bufs[slot] === null) return bufferView(this.zeroAb, this.zeroBase + within, n);
    return bufferView(leaf.slabs[slot >>> SLAB_BITS]!, (slot & (SLAB - 1)) * this.chunkSize + within, n);
  }

  protected canWrite(first: number, last: number): boolean {
    if (this.budget.limit === 0) return true;
    let missing = 0;
    for (let i = first; i <= last; i++) if (this.readChunk(i) === null) missing++;
    const need = missing * this.chunkSize;
    // File caches give memory back; data held here cannot go anywhere.
    return this.budget.used + need <= this.budget.limit || this.budget.reclaim(need);
  }

  protected writeChunk(idx: number): Buffer {
    let leaf = this.leafOf(idx);
    if (leaf === null) {
      leaf = {
        bufs: new Array<Buffer | null>(LEAF).fill(null),
        slabs: new Array<ArrayBuffer | null>(LEAF / SLAB).fill(null),
        live: new Int32Array(LEAF / SLAB),
        stale: new Uint8Array(LEAF),
        digests: new Array<Float64Array | null>(LEAF / SLAB).fill(null),
      };
      this.leaves[Math.floor(idx / LEAF)] = leaf;
    }
    const slot = idx & (LEAF - 1);
    let chunk = leaf.bufs[slot]!;
    if (chunk === null) {
      const s = slot >>> SLAB_BITS;
      let ab = leaf.slabs[s]!;
      if (ab === null) {
        ab = new ArrayBuffer(SLAB * this.chunkSize);
        leaf.slabs[s] = ab;
        leaf.digests[s] = this.blocks === 0 ? null : new Float64Array(SLAB * this.blocks);
      }
      chunk = bufferView(ab, (slot & (SLAB - 1)) * this.chunkSize, this.chunkSize);
      if (leaf.stale[slot] === 1) {
        chunk.fill(0);
        this.forget(leaf, slot, 0, this.chunkSize);
        leaf.stale[slot] = 0;
      }
      this.budget.charge(this.chunkSize); // canWrite() checked it fits
      leaf.bufs[slot] = chunk;
      leaf.live[s]!++;
      this.count++;
    }
    return chunk;
  }

  protected changed(idx: number, within: number, n: number): void {
    this.forget(this.leafOf(idx)!, idx & (LEAF - 1), within, n);
  }

  protected dropChunk(idx: number): void {
    const leaf = this.leafOf(idx);
    const slot = idx & (LEAF - 1);
    if (leaf === null || leaf.bufs[slot] === null) return;
    leaf.bufs[slot] = null;
    const s = slot >>> SLAB_BITS;
    if (--leaf.live[s]! === 0) {
      leaf.slabs[s] = null;
      leaf.digests[s] = null;
      leaf.stale.fill(0, s * SLAB, (s + 1) * SLAB);
    } else leaf.stale[slot] = 1;
    this.count--;
    this.budget.release(this.chunkSize);
  }

  protected zeroPart(idx: number, within: number, n: number): void {
    const chunk = this.readChunk(idx);
    if (chunk === null) return;
    chunk.fill(0, within, within + n);
    this.forget(this.leafOf(idx)!, idx & (LEAF - 1), within, n);
  }

  /** Bytes [within, within + n) of chunk `slot` changed: their blocks' digests are not known any more. */
  private forget(leaf: Leaf, slot: number, within: number, n: number): void {
    const d = leaf.digests[slot >>> SLAB_BITS]!;
    if (d === null) return;
    const base = (slot & (SLAB - 1)) * this.blocks;
    const end = base + Math.ceil((within + n) / JOIN_UNIT);
    for (let b = base + Math.floor(within / JOIN_UNIT); b < end; b++) d[b] = 0;
  }

  /** Drop every chunk, giving their memory back to the budget (namespace removed). */
  clear(): void {
    this.budget.release(this.count * this.chunkSize);
    this.leaves.length = 0;
    this.count = 0;
  }
}
