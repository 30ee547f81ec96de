// The conv FTL's maps cost memory only where the host wrote: a multi-TiB namespace is cheap to
// create, and its maps grow with the data and shrink again with trims.
import { describe, expect, it } from 'vitest';
import { ModelOp } from '../../src/devices/model.js';
import { ConvModel } from '../../src/devices/models/conv-model.js';
import { SparseU32Map } from '../../src/devices/models/sparse-map.js';
import { CONV_PRESETS } from '../../src/devices/presets.js';

describe('SparseU32Map', () => {
  it('reads unset entries as empty, allocates a chunk on the first set entry and frees it with the last', () => {
    const m = new SparseU32Map(10 * 65536 + 5, 0xffffffff);
    expect(m.get(3)).toBe(0xffffffff);
    expect(m.allocatedBytes).toBe(0);
    m.set(70000, 7);
    m.set(70001, 8);
    m.set(10 * 65536 + 4, 9); // the short last chunk
    expect([m.get(70000), m.get(70001), m.get(10 * 65536 + 4), m.get(69999)]).toEqual([7, 8, 9, 0xffffffff]);
    expect(m.allocatedBytes).toBe(2 * 65536 * 4);
    m.set(70000, 0xffffffff);
    expect(m.allocatedBytes).toBe(2 * 65536 * 4);
    m.set(70001, 0xffffffff);
    expect(m.allocatedBytes).toBe(2 * 65536 * 4); // kept until compact()
    m.compact();
    expect(m.allocatedBytes).toBe(65536 * 4);
    m.set(5, 0xffffffff); // clearing an unset entry allocates nothing
    expect(m.allocatedBytes).toBe(65536 * 4);
    const dense = m.toDense();
    expect(dense.length).toBe(m.length);
    const copy = new SparseU32Map(m.length, 0xffffffff);
    copy.fromDense(dense);
    expect([copy.get(10 * 65536 + 4), copy.get(70001), copy.allocatedBytes]).toEqual([9, 0xffffffff, 65536 * 4]);
  });
});

describe('conv FTL maps', () => {
  it('a 4 TiB samsung-970pro namespace costs a few MiB of maps at creation, and they follow the data', () => {
    const before = process.memoryUsage().arrayBuffers;
    const m = new ConvModel({ ...CONV_PRESETS['samsung-970pro']!.params }, 4096, 4 * 2 ** 40);
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown).toBeLessThan(64 * 2 ** 20); // dense maps would be ~8.6 GiB
    const maps = (): number => (m as unknown as { l2p: SparseU32Map; p2l: SparseU32Map }).l2p.allocatedBytes;
    expect(maps()).toBe(0);
    let t = 0;
    for (let i = 0; i < 100; i++) t = m.submit(ModelOp.Write, i * 2 ** 24, 8, false, t); // 100 scattered 32 KiB writes
    t = m.submit(ModelOp.Flush, 0, 0, false, t); // out of the write buffer, onto NAND: mapped
    expect(maps()).toBeGreaterThan(0);
    expect(maps()).toBeLessThanOrEqual(100 * 65536 * 4);
    for (let i = 0; i < 100; i++) t = m.submit(ModelOp.Trim, i * 2 ** 24, 8, false, t);
    (m as unknown as { l2p: SparseU32Map }).l2p.compact();
    expect(maps()).toBe(0);
  });
});
