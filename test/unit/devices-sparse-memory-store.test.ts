// SparseMemoryStore: memory only for written chunks, reads as views, zero() releasing chunks.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHUNK_SIZE, SparseMemoryStore } from '../../src/devices/sparse-memory-store.js';
import { crc32c, crc32cBlocks } from '../../src/protocol/digest.js';

const TiB = 2 ** 40;
const fill = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
const concat = (parts: Buffer[]): Buffer => Buffer.concat(parts);

describe('SparseMemoryStore', () => {
  it('a 1 TiB store allocates nothing until written, and reads of it allocate nothing', () => {
    const s = new SparseMemoryStore(TiB);
    expect(s.capacity).toBe(TiB);
    expect(s.chunkSize).toBe(DEFAULT_CHUNK_SIZE);
    expect(s.allocatedBytes).toBe(0);
    const parts: Buffer[] = [];
    s.readv(TiB - 1024 * 1024, 1024 * 1024, parts);
    expect(concat(parts).equals(Buffer.alloc(1024 * 1024))).toBe(true);
    expect(s.read(123456789, 4096).equals(Buffer.alloc(4096))).toBe(true);
    expect(s.equals(TiB / 2, Buffer.alloc(8192))).toBe(true);
    expect(s.allocatedBytes).toBe(0);
  });

  it('a 4 PiB store costs nothing until written, and writes at both ends and between read back', () => {
    const PiB4 = 2 ** 52;
    const s = new SparseMemoryStore(PiB4);
    const at = [0, 2 ** 40, PiB4 - 4096];
    at.forEach((o, i) => s.write(o, fill(4096, i + 1)));
    expect(s.allocatedBytes).toBe(3 * DEFAULT_CHUNK_SIZE);
    at.forEach((o, i) => expect(s.read(o, 4096).equals(fill(4096, i + 1))).toBe(true));
    expect(s.read(PiB4 / 2, 4096).equals(Buffer.alloc(4096))).toBe(true);
  });

  it('a write near the end of 1 TiB allocates one chunk only', () => {
    const s = new SparseMemoryStore(TiB);
    const d = fill(4096, 1);
    s.write(TiB - 4096, d);
    expect(s.allocatedBytes).toBe(DEFAULT_CHUNK_SIZE);
    expect(s.read(TiB - 4096, 4096).equals(d)).toBe(true);
    expect(s.read(TiB - 8192, 4096).equals(Buffer.alloc(4096))).toBe(true);
  });

  it('writes across chunk boundaries read back, whole and in parts', () => {
    const cs = 4096;
    const s = new SparseMemoryStore(1 << 20, cs);
    const d = fill(3 * cs + 100, 7); // starts 50 bytes before a boundary, spans 5 chunks
    const off = cs - 50;
    s.write(off, d);
    expect(s.allocatedBytes).toBe(5 * cs);
    expect(s.read(off, d.length).equals(d)).toBe(true);
    expect(s.read(cs - 10, 20).equals(d.subarray(40, 60))).toBe(true);
    // Bytes around the write are untouched zeroes.
    expect(s.read(0, off).equals(Buffer.alloc(off))).toBe(true);
    expect(s.read(off + d.length, 64).equals(Buffer.alloc(64))).toBe(true);
  });

  it('write honours srcOff and length', () => {
    const s = new SparseMemoryStore(1 << 16, 1024);
    const src = fill(3000, 3);
    s.write(1000, src, 500, 1500);
    expect(s.read(1000, 1500).equals(src.subarray(500, 2000))).toBe(true);
    expect(s.read(2500, 10).equals(Buffer.alloc(10))).toBe(true);
    s.write(0, src, 2990); // length defaults to the rest of src
    expect(s.read(0, 10).equals(src.subarray(2990))).toBe(true);
  });

  it('readv appends one view per chunk touched; views alias the store (no copy)', () => {
    const cs = 1024;
    const s = new SparseMemoryStore(1 << 16, cs);
    s.write(0, fill(cs, 1));
    const out: Buffer[] = [Buffer.from('x')];
    s.readv(cs / 2, 2 * cs, out); // half of chunk 0, all of (unwritten) chunk 1, half of chunk 2
    expect(out.length).toBe(4);
    expect(out.slice(1).map((p) => p.length)).toEqual([cs / 2, cs, cs / 2]);
    // Written chunk: a view; a later write shows through it.
    const view = out[1]!;
    s.write(cs / 2, Buffer.alloc(4, 0xab));
    expect(view.subarray(0, 4).toString('hex')).toBe('abababab');
    // Unwritten chunks read as zeroes.
    expect(out[2]!.every((x) => x === 0)).toBe(true);
    // read() copies: later writes do not show through.
    const copy = s.read(cs / 2, 4);
    s.write(cs / 2, Buffer.alloc(4, 0xcd));
    expect(copy.toString('hex')).toBe('abababab');
  });

  it('zero() frees whole chunks and zeroes partial ones', () => {
    const cs = 1024;
    const s = new SparseMemoryStore(1 << 16, cs);
    const d = fill(4 * cs, 9);
    s.write(0, d);
    expect(s.allocatedBytes).toBe(4 * cs);
    // From the middle of chunk 0 to the middle of chunk 3: chunks 1 and 2 go away.
    s.zero(cs / 2, 3 * cs);
    expect(s.allocatedBytes).toBe(2 * cs);
    const want = Buffer.from(d);
    want.fill(0, cs / 2, cs / 2 + 3 * cs);
    expect(s.read(0, 4 * cs).equals(want)).toBe(true);
    // Zeroing unwritten space allocates nothing.
    s.zero(8 * cs, 4 * cs);
    expect(s.allocatedBytes).toBe(2 * cs);
    // Zeroing a whole written chunk frees it; it reads as zeroes and can be written again.
    s.zero(3 * cs, cs);
    expect(s.allocatedBytes).toBe(cs);
    expect(s.read(3 * cs, cs).equals(Buffer.alloc(cs))).toBe(true);
    s.write(3 * cs + 5, Buffer.from([1]));
    expect(s.allocatedBytes).toBe(2 * cs);
    expect(s.read(3 * cs, 8).toString('hex')).toBe('0000000000010000');
  });

  it('writes never dirty the shared zero page seen through earlier views', () => {
    const cs = 1024;
    const s = new SparseMemoryStore(1 << 16, cs);
    const zeroView: Buffer[] = [];
    s.readv(5 * cs, cs, zeroView);
    s.write(5 * cs, Buffer.alloc(cs, 0xff));
    expect(zeroView[0]!.every((x) => x === 0)).toBe(true);
    // Writing through another chunk never dirties the shared zero page.
    const again: Buffer[] = [];
    s.readv(6 * cs, cs, again);
    expect(again[0]!.every((x) => x === 0)).toBe(true);
  });

  it('equals() compares across chunks, written and unwritten', () => {
    const cs = 1024;
    const s = new SparseMemoryStore(1 << 16, cs);
    const d = fill(2 * cs, 5);
    s.write(cs - 100, d);
    expect(s.equals(cs - 100, d)).toBe(true);
    const other = Buffer.from(d);
    other[other.length - 1] ^= 1;
    expect(s.equals(cs - 100, other)).toBe(false);
    const first = Buffer.from(d);
    first[0] ^= 1;
    expect(s.equals(cs - 100, first)).toBe(false);
    // Across written and unwritten space.
    const mixed = Buffer.concat([d.subarray(d.length - 10), Buffer.alloc(cs)]);
    expect(s.equals(cs - 100 + d.length - 10, mixed)).toBe(true);
    expect(s.equals(10 * cs, Buffer.alloc(3 * cs))).toBe(true);
    expect(s.equals(10 * cs, Buffer.from([0, 0, 1]))).toBe(false);
  });

  it('chunks on both sides of a chunk-table leaf (1024 chunks) keep their own bytes; a dropped chunk written again reads zeroes around the new bytes', () => {
    const cs = 1024;
    const s = new SparseMemoryStore(4096 * cs, cs);
    const at = [0, 1023 * cs, 1024 * cs, 2047 * cs + 10, 4095 * cs];
    at.forEach((o, i) => s.write(o, fill(100, i + 1)));
    expect(s.allocatedBytes).toBe(at.length * cs);
    at.forEach((o, i) => expect(s.read(o, 100).equals(fill(100, i + 1))).toBe(true));
    expect(s.read(1023 * cs + 100, cs - 100).equals(Buffer.alloc(cs - 100))).toBe(true);
    s.zero(1024 * cs, cs); // drops the first chunk of the second leaf
    expect(s.allocatedBytes).toBe((at.length - 1) * cs);
    expect(s.read(1024 * cs, 100).equals(Buffer.alloc(100))).toBe(true);
    s.write(1024 * cs + 500, fill(10, 9));
    expect(s.allocatedBytes).toBe(at.length * cs);
    const back = s.read(1024 * cs, cs);
    expect(back.subarray(500, 510).equals(fill(10, 9))).toBe(true);
    expect(back.subarray(0, 500).equals(Buffer.alloc(500))).toBe(true);
    expect(s.read(1023 * cs, 100).equals(fill(100, 2))).toBe(true);
  });

  it('a chunk dropped while its slab (16 chunks) lives on reads zeroes when written again; a fully dropped slab starts clean', () => {
    const cs = 1024;
    const s = new SparseMemoryStore(64 * cs, cs);
    s.write(0, fill(16 * cs, 3)); // every chunk of the first slab
    s.zero(5 * cs, cs); // drop one: the slab still holds 15
    expect(s.allocatedBytes).toBe(15 * cs);
    expect(s.read(5 * cs, cs).equals(Buffer.alloc(cs))).toBe(true);
    s.write(5 * cs + 100, fill(8, 4));
    const back = s.read(5 * cs, cs);
    expect(back.subarray(100, 108).equals(fill(8, 4))).toBe(true);
    expect(back.subarray(0, 100).equals(Buffer.alloc(100))).toBe(true);
    expect(back.subarray(108).equals(Buffer.alloc(cs - 108))).toBe(true);
    expect(s.read(4 * cs, cs).equals(fill(16 * cs, 3).subarray(4 * cs, 5 * cs))).toBe(true); // neighbours kept
    s.zero(0, 16 * cs); // the whole slab
    expect(s.allocatedBytes).toBe(0);
    s.write(9 * cs + 1, fill(2, 5));
    expect(s.read(9 * cs, cs).equals(Buffer.concat([Buffer.alloc(1), fill(2, 5), Buffer.alloc(cs - 3)]))).toBe(true);
    expect(s.allocatedBytes).toBe(cs);
  });

  it('clear() drops every chunk: nothing allocated, everything reads as zeroes', () => {
    const cs = 4096;
    const s = new SparseMemoryStore(1 << 24, cs);
    for (let o = 0; o < 1 << 24; o += 1 << 20) s.write(o + 7, fill(50, o >>> 20));
    expect(s.allocatedBytes).toBe(16 * cs);
    s.clear();
    expect(s.allocatedBytes).toBe(0);
    expect(s.read(7, 50).equals(Buffer.alloc(50))).toBe(true);
    expect(s.read((5 << 20) + 7, 50).equals(Buffer.alloc(50))).toBe(true);
  });

  it('rejects a chunk size that is not a power of two', () => {
    expect(() => new SparseMemoryStore(1 << 20, 3000)).toThrow(/power of two/);
  });
});

// Data digests come from the per-4 KiB-block CRCs the store keeps; each test has digests taken
// (so the blocks' CRCs are kept), changes bytes in a way the store must notice, then takes them again.
describe('SparseMemoryStore data digests', () => {
  const K4 = 4096;
  interface Read {
    view: Buffer;
    table: Float64Array | null;
    block: number;
  }
  /** A read as the I/O path makes it: its views and, for one view of whole blocks, their digests. */
  const readOf = (s: SparseMemoryStore, offset: number, length: number): Read[] => {
    const parts: Buffer[] = [];
    const d = { c2hDigests: null as Float64Array | null, c2hBlock: -1 };
    s.readv(offset, length, parts, d);
    if (parts.length !== 1) expect(d.c2hDigests).toBeNull();
    return parts.map((view) => ({ view, table: d.c2hDigests, block: d.c2hBlock }));
  };
  /** The digest the transport sends for a read. */
  const digestOf = (r: Read): number => (r.table === null ? crc32c(r.view) : crc32cBlocks(r.table, r.block, r.view));
  /** Digests of a read of [offset, +length), each checked against the bytes its view shows; whether they came from a table. */
  const digests = (s: SparseMemoryStore, offset: number, length: number): boolean[] =>
    readOf(s, offset, length).map((r) => {
      expect(digestOf(r)).toBe(crc32c(r.view));
      return r.table !== null;
    });

  it('a read of one block, of many, unaligned, and across chunks has the CRC32C of its bytes', () => {
    const s = new SparseMemoryStore(64 << 20);
    s.write(0, fill(3 * DEFAULT_CHUNK_SIZE, 1));
    expect(digests(s, 0, K4)).toEqual([true]);
    expect(digests(s, 8 * K4, 32 * K4)).toEqual([true]); // its blocks' CRCs joined
    expect(digests(s, 8 * K4, 32 * K4)).toEqual([true]); // ... now all known
    expect(digests(s, 100, 5000)).toEqual([false]); // not whole blocks: summed
    expect(digests(s, DEFAULT_CHUNK_SIZE - 2 * K4, 4 * K4)).toEqual([false, false]); // two views
    expect(digests(s, 40 << 20, 4 * K4)).toEqual([false]); // never written
    const known = readOf(s, 8 * K4, K4)[0]!;
    expect(known.table![known.block]).toBe(crc32c(known.view) + 1);
  });

  it('follows writes, partial zeroes and whole-chunk zeroes of blocks whose CRC it knew', () => {
    const s = new SparseMemoryStore(64 << 20);
    const span = 2 * DEFAULT_CHUNK_SIZE;
    s.write(0, fill(span, 1));
    digests(s, 0, DEFAULT_CHUNK_SIZE);
    digests(s, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE);
    s.write(5 * K4 + 10, fill(20, 2)); // inside one block
    s.write(9 * K4 - 10, fill(20, 3)); // across two
    s.write(DEFAULT_CHUNK_SIZE + 7 * K4, fill(K4, 4)); // a whole block of the second chunk
    digests(s, 0, DEFAULT_CHUNK_SIZE);
    digests(s, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE);
    s.zero(3 * K4 + 1, 2); // partial zero
    digests(s, 0, DEFAULT_CHUNK_SIZE);
    s.zero(DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE); // the second chunk dropped (its slab lives on)
    expect(digests(s, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE)).toEqual([false]);
    s.write(DEFAULT_CHUNK_SIZE + K4, fill(K4, 5)); // taken again: reads zeroes but that block
    expect(digests(s, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE)).toEqual([true]);
    expect(s.read(DEFAULT_CHUNK_SIZE, K4).equals(Buffer.alloc(K4))).toBe(true);
  });

  it('a read made before its chunk was dropped keeps the digests of the bytes it shows', () => {
    const s = new SparseMemoryStore(64 << 20);
    s.write(0, fill(2 * K4, 1));
    const old = readOf(s, 0, 2 * K4)[0]!;
    const oldCrc = crc32c(Buffer.from(old.view));
    expect(digestOf(old)).toBe(oldCrc);
    s.zero(0, DEFAULT_CHUNK_SIZE); // the slab's only chunk: the slab goes
    s.write(0, fill(K4, 2)); // a new slab, its second block zeroes
    expect(digestOf(old)).toBe(oldCrc);
    digests(s, 0, 2 * K4);
    // The same in a slab that lives on: the old read shows the bytes of the chunk reused.
    s.write(DEFAULT_CHUNK_SIZE, fill(K4, 3));
    const old2 = readOf(s, 0, K4)[0]!;
    digestOf(old2);
    s.zero(0, DEFAULT_CHUNK_SIZE);
    s.write(K4, fill(K4, 4)); // chunk 0 again: zeroed, then its second block written
    expect(digestOf(old2)).toBe(crc32c(Buffer.alloc(K4)));
    digests(s, 0, 2 * K4);
  });

  it('keeps digests apart past 2^32 chunks; chunks smaller than a block keep none', () => {
    const PiB4 = 2 ** 52;
    const big = new SparseMemoryStore(PiB4);
    big.write(PiB4 - K4, fill(K4, 1));
    big.write(PiB4 / 2, fill(K4, 2));
    expect(digests(big, PiB4 - K4, K4)).toEqual([true]);
    expect(digests(big, PiB4 / 2, K4)).toEqual([true]);
    big.write(PiB4 - K4, fill(K4, 3));
    digests(big, PiB4 - K4, K4);
    digests(big, PiB4 / 2, K4);
    const small = new SparseMemoryStore(1 << 20, 1024);
    small.write(0, fill(3 * K4, 5));
    expect(digests(small, 0, K4)).toEqual([false, false, false, false]);
  });
});
