// The conv FTL's maps cost memory only where the host wrote: a multi-TiB namespace is cheap to
// create, its maps grow with the data and shrink again with trims (an emptied chunk is freed at the
// end of the command, so an overwrite never frees and reallocates one), and its saved state holds
// only the written part.
import { readFileSync } from 'node:fs';
import { deserialize, serialize } from 'node:v8';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelOp, type ModelState } from '../../src/devices/model.js';
import { ConvModel } from '../../src/devices/models/conv-model.js';
import type { ConvParams } from '../../src/devices/models/conv-params.js';
import { SPARSE_CHUNK, SparseU32Map, UNSET } from '../../src/devices/models/sparse-map.js';
import { CONV_PRESETS } from '../../src/devices/presets.js';

const TiB = 2 ** 40;
const maps = (m: ConvModel) => m as unknown as { l2p: SparseU32Map; p2l: SparseU32Map };
const pro = (): ConvParams => ({ ...CONV_PRESETS['samsung-970pro']!.params });

describe('SparseU32Map', () => {
  it('reads unset entries as UNSET, allocates a chunk on the first set entry and frees it at reclaim() once empty', () => {
    const m = new SparseU32Map(10 * SPARSE_CHUNK + 5);
    expect(m.get(3)).toBe(UNSET);
    expect(m.allocatedChunks).toBe(0);
    m.set(70000, 7);
    m.put(70001, 8);
    m.set(10 * SPARSE_CHUNK + 4, 9); // the short last chunk
    expect([m.get(70000), m.get(70001), m.get(10 * SPARSE_CHUNK + 4), m.get(69999)]).toEqual([7, 8, 9, UNSET]);
    expect(m.allocatedChunks).toBe(2);
    expect(m.take(70000)).toBe(7);
    expect(m.take(70000)).toBe(UNSET);
    m.set(70001, UNSET);
    expect(m.allocatedChunks).toBe(2); // emptied, freed at reclaim()
    m.put(70002, 1); // refilled before reclaim(): kept
    m.reclaim();
    expect(m.allocatedChunks).toBe(2);
    m.take(70002);
    m.reclaim();
    expect(m.allocatedChunks).toBe(1);
    m.set(5, UNSET); // clearing an unset entry allocates nothing
    expect(m.allocatedChunks).toBe(1);
    expect(m.allocations).toBe(2);
    expect(() => m.check()).not.toThrow();
  });

  it('a map smaller than a chunk allocates only its length', () => {
    const m = new SparseU32Map(100);
    const before = process.memoryUsage().arrayBuffers;
    m.put(99, 1);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4096);
    expect(() => m.check()).not.toThrow();
  });

  // Entries of a few chunks, indexes clustered at chunk starts and ends so that chunks fill and empty.
  const LEN = 3 * SPARSE_CHUNK + 100;
  const index = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 15 }), fc.boolean()).map(([k, j, end]) => {
    const i = k * SPARSE_CHUNK + (end ? SPARSE_CHUNK - 1 - j : j);
    return i < LEN ? i : LEN - 1 - j;
  });
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), i: index, v: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 2 }), fc.constant(UNSET)) }),
    fc.record({ kind: fc.constant('put' as const), i: index, v: fc.integer({ min: 0, max: 2 ** 32 - 2 }) }),
    fc.record({ kind: fc.constant('take' as const), i: index }),
    fc.record({ kind: fc.constant('reclaim' as const) }),
  );

  it('property: behaves as a dense array; a chunk is allocated exactly when it holds entries (after reclaim); parts and dense copies round-trip', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const m = new SparseU32Map(LEN);
        const ref = new Map<number, number>();
        for (const o of ops) {
          if (o.kind === 'reclaim') m.reclaim();
          else if (o.kind === 'take') {
            expect(m.take(o.i)).toBe(ref.get(o.i) ?? UNSET);
            ref.delete(o.i);
          } else if (o.kind === 'put') {
            if (ref.has(o.i)) continue; // put() is for unset entries
            m.put(o.i, o.v);
            ref.set(o.i, o.v);
          } else {
            m.set(o.i, o.v);
            if (o.v === UNSET) ref.delete(o.i);
            else ref.set(o.i, o.v);
          }
        }
        m.reclaim();
        m.check();
        const chunks = new Set([...ref.keys()].map((i) => Math.floor(i / SPARSE_CHUNK)));
        expect(m.allocatedChunks).toBe(chunks.size);
        const seen = new Map<number, number>();
        m.forEach((i, v) => seen.set(i, v));
        expect(seen).toEqual(ref);
        for (const i of [...ref.keys(), 0, LEN - 1, SPARSE_CHUNK]) expect(m.get(i)).toBe(ref.get(i) ?? UNSET);
        // Saved state: only the set entries; restores the same map.
        const parts = m.toParts();
        expect(parts.chunks.length * SPARSE_CHUNK + parts.index.length).toBeLessThanOrEqual(Math.max(ref.size * 2, chunks.size * SPARSE_CHUNK));
        const back = new SparseU32Map(LEN);
        back.fromParts(deserialize(serialize(parts)));
        back.check();
        const dense = new Uint32Array(LEN).fill(UNSET);
        for (const [i, v] of ref) dense[i] = v;
        const fromDense = new SparseU32Map(LEN);
        fromDense.fromDense(dense);
        fromDense.check();
        for (const x of [back, fromDense]) {
          expect(x.allocatedChunks).toBe(chunks.size);
          const got = new Map<number, number>();
          x.forEach((i, v) => got.set(i, v));
          expect(got).toEqual(ref);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('refuses malformed parts and is left empty', () => {
    const m = new SparseU32Map(2 * SPARSE_CHUNK);
    m.put(1, 2);
    const bad = [
      { chunks: new Uint32Array([5]), data: new Uint32Array(SPARSE_CHUNK), index: new Uint32Array(0), value: new Uint32Array(0) },
      { chunks: new Uint32Array(0), data: new Uint32Array(0), index: new Uint32Array([2 * SPARSE_CHUNK]), value: new Uint32Array([1]) },
      { chunks: new Uint32Array(0), data: new Uint32Array(0), index: new Uint32Array([3, 3]), value: new Uint32Array([1, 2]) },
      { chunks: new Uint32Array(0), data: new Uint32Array(0), index: new Uint32Array([3]), value: new Uint32Array(0) },
    ];
    for (const b of bad) {
      expect(() => m.fromParts(b)).toThrow();
      expect(m.allocatedChunks).toBe(0);
      expect(m.get(1)).toBe(UNSET);
    }
  });
});

describe('conv FTL maps', () => {
  it('a 4 TiB samsung-970pro namespace takes a few MiB at creation; scattered writes, reads and trims map and unmap as they should', () => {
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    const m = new ConvModel(pro(), 4096, 4 * TiB);
    expect(performance.now() - t0).toBeLessThan(1000); // dense maps took ~20 s to fill
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 2 ** 20); // dense maps were ~8.5 GiB
    const { l2p, p2l } = maps(m);
    expect(l2p.allocatedChunks + p2l.allocatedChunks).toBe(0);
    const lbas = Array.from({ length: 100 }, (_, i) => ((i * 2654435761) % 2 ** 30) * 1); // scattered 4 KiB LBAs
    let t = 0;
    for (const lba of lbas) t = m.submit(ModelOp.Write, lba, 8, false, t); // 32 KiB each: 8 units
    t = m.submit(ModelOp.Flush, 0, 0, false, t);
    for (const lba of lbas) for (let u = 0; u < 8; u++) expect(m.lookup(lba + u)).toBeGreaterThanOrEqual(0);
    expect(m.lookup(lbas[0]! + 8)).toBe(-1);
    expect(l2p.allocatedChunks).toBeLessThanOrEqual(100);
    expect(() => m.checkInvariants()).not.toThrow(); // O(mapped space), fine at 4 TiB
    const read = m.submit(ModelOp.Read, lbas[5]!, 8, false, t);
    expect(read).toBeGreaterThan(t);
    for (const lba of lbas.slice(0, 50)) t = m.submit(ModelOp.Trim, lba, 8, false, t);
    for (const lba of lbas.slice(0, 50)) expect(m.lookup(lba)).toBe(-1);
    expect(() => m.checkInvariants()).not.toThrow();
    for (const lba of lbas.slice(50)) t = m.submit(ModelOp.Trim, lba, 8, false, t);
    expect(l2p.allocatedChunks + p2l.allocatedChunks).toBe(0);
    expect(m.counters().trimmedBytes).toBe(100 * 8 * 4096);
  });

  it('overwriting a lone unit does not free and reallocate its chunks on every write', () => {
    const m = new ConvModel(pro(), 4096, 16 * 2 ** 30);
    let t = 0;
    for (let i = 0; i < 20_000; i++) t = m.submit(ModelOp.Write, 12345, 1, false, t);
    const { l2p, p2l } = maps(m);
    expect(l2p.allocations).toBe(1);
    expect(p2l.allocations).toBeLessThanOrEqual(Math.ceil(20_000 / SPARSE_CHUNK) + 1);
    expect(() => m.checkInvariants()).not.toThrow();
  });
});

describe('conv saved state', () => {
  it('holds only the written part of the map, and restores it', () => {
    const a = new ConvModel(pro(), 4096, TiB);
    let t = 0;
    for (let i = 0; i < 200; i++) t = a.submit(ModelOp.Write, (i * 1_000_003) % 2 ** 28, 2, false, t);
    t = a.submit(ModelOp.Write, 2 ** 20, 65536, false, t); // 256 MiB sequential: whole chunks
    t = a.submit(ModelOp.Flush, 0, 0, false, t);
    const bytes = serialize(a.exportState());
    expect(bytes.length).toBeLessThan(2 * 2 ** 20); // dense maps would be ~2.1 GiB; the written map is 256 KiB + 400 units
    const b = new ConvModel(pro(), 4096, TiB);
    b.importState(deserialize(bytes) as ModelState, 1e12);
    expect(() => b.checkInvariants()).not.toThrow();
    expect(b.counters()).toEqual(a.counters());
    for (const lpn of [0, 2 ** 20, 2 ** 20 + 65535, 1_000_003, 2 ** 20 + 65536]) expect(b.lookup(lpn)).toBe(a.lookup(lpn));
    expect(maps(b).p2l.allocatedChunks).toBe(maps(a).p2l.allocatedChunks);
  });

  it('restores a snapshot in the format before sparse maps (version 1: dense l2p and p2l), written by that version', () => {
    const f = JSON.parse(readFileSync(new URL('../fixtures/conv-state-v1.json', import.meta.url), 'utf8')) as { snapshot: string; lookup: number[]; counters: unknown };
    const s = deserialize(Buffer.from(f.snapshot, 'base64')) as ModelState;
    expect(s.arrays.l2p).toBeInstanceOf(Uint32Array);
    expect(s.scalars.stateVersion).toBeUndefined();
    const m = new ConvModel(
      { ...pro(), channels: 2, luns_per_channel: 1, flash_page_size: 8192, oneshot_page_size: 8192, pages_per_block: 2, min_lines: 0, write_buffer_size: 16384, over_provisioning: 0.25 },
      4096,
      256 * 1024,
    );
    m.importState(s, 5e12);
    expect(() => m.checkInvariants()).not.toThrow();
    expect(m.counters()).toEqual(f.counters);
    expect(f.lookup.map((_, lpn) => m.lookup(lpn))).toEqual(f.lookup);
    let t = 5e12; // and it carries on, from a write at exactly the restore time
    for (let i = 0; i < 500; i++) t = m.submit(ModelOp.Write, i % 64, 1, false, t);
    expect(() => m.checkInvariants()).not.toThrow();
  });

  it('refuses a newer format, or an inconsistent map, with a message saying so', () => {
    const a = new ConvModel(pro(), 4096, 2 ** 30);
    let t = 0;
    for (let i = 0; i < 10; i++) t = a.submit(ModelOp.Write, i * 7, 1, false, t);
    a.submit(ModelOp.Flush, 0, 0, false, t);
    const fresh = () => new ConvModel(pro(), 4096, 2 ** 30);
    const newer = a.exportState();
    newer.scalars.stateVersion = 3;
    expect(() => fresh().importState(newer, 0)).toThrow(/format version 3; this nvmf-emu reads versions 1 and 2/);
    const twice = a.exportState();
    const value = twice.arrays['l2p.value'] as Uint32Array;
    value[1] = value[0]!; // two logical units on one physical unit
    expect(() => fresh().importState(twice, 0)).toThrow(/inconsistent.*taken/);
    const lost = a.exportState();
    lost.arrays['l2p.index'] = (lost.arrays['l2p.index'] as Uint32Array).slice(1);
    lost.arrays['l2p.value'] = (lost.arrays['l2p.value'] as Uint32Array).slice(1);
    expect(() => fresh().importState(lost, 0)).toThrow(/inconsistent.*valid count/);
    const garbled = a.exportState();
    garbled.arrays['l2p.value'] = new Uint32Array(1);
    expect(() => fresh().importState(garbled, 0)).toThrow(/l2p is malformed/);
  });
});
