// GC, trim, wear and counters of the conventional SSD model, on small geometries.
import { describe, expect, it } from 'vitest';
import { ModelOp } from '../../src/devices/model.js';
import { ConvModel } from '../../src/devices/models/conv-model.js';
import type { ConvParams } from '../../src/devices/models/conv-params.js';
import { Prng } from '../../src/devices/models/workload.js';
import { CONV_PRESETS } from '../../src/devices/presets.js';

/**
 * 2 channels x 1 LUN, 8 KiB flash = one-shot pages (2 units), 2 pages per block: a line is 2 blocks
 * = 8 units. 64 KiB logical = 16 units; OP 25% + GC spare gives 7 lines.
 */
function small(over: Partial<ConvParams> = {}, capacity = 64 * 1024): ConvModel {
  return new ConvModel(
    {
      ...CONV_PRESETS['samsung-970pro']!.params,
      channels: 2,
      luns_per_channel: 1,
      flash_page_size: 8192,
      oneshot_page_size: 8192,
      pages_per_block: 2,
      min_lines: 0,
      write_buffer_size: 16384,
      over_provisioning: 0.25,
      ...over,
    },
    4096,
    capacity,
  );
}
const W = (m: ConvModel, unit: number, t: number, n = 1): number => m.submit(ModelOp.Write, unit, n, false, t);
const media = (m: ConvModel): number => m.counters().mediaWrittenUserBytes + m.counters().mediaWrittenGcBytes;

describe('conv GC', () => {
  it('geometry: lines, units, spare lines', () => {
    const g = small().geometry;
    expect(g).toMatchObject({ logicalPages: 16, unitsPerBlock: 4, unitsPerLine: 8, pus: 2, luns: 2, lines: 7, physicalPages: 56 });
  });

  it('runs only when free lines fall to the threshold, and never exhausts them', () => {
    const m = small();
    let t = 0;
    for (let u = 0; u < 16; u++) t = W(m, u, t);
    expect(m.counters().gcRuns).toBe(0);
    const rng = new Prng(3);
    let sawGc = false;
    for (let i = 0; i < 2000; i++) {
      const before = m.counters();
      t = W(m, rng.u32() % 16, t);
      const after = m.counters();
      if (!sawGc && (after.gcRuns > before.gcRuns || after.gcPagesMoved > before.gcPagesMoved)) {
        // The first victim is picked by the write that opens a line and leaves gc_threshold_lines
        // (2) free; a victim once started is collected to the end, paced by host writes.
        expect(before.freeBlocks / m.geometry.pus).toBe(3);
        expect(m.counters().freeBlocks / m.geometry.pus).toBeGreaterThanOrEqual(2);
        sawGc = true;
      }
      m.checkInvariants(); // includes: a free line, or GC can finish its victim without one
    }
    expect(sawGc).toBe(true);
    m.checkInvariants();
  });

  it('erase latency occupies the LUNs: host I/O after GC sees it', () => {
    const results = [0, 2_000_000].map((erase) => {
      const m = small({ erase_latency_ns: erase });
      let t = 0;
      for (let u = 0; u < 16; u++) t = W(m, u, t);
      for (let u = 0; u < 8; u++) t = W(m, u, t); // line 0 is now all invalid
      t = m.submit(ModelOp.Flush, 0, 0, false, t) + 1e6; // every LUN idle
      expect(m.forceGc(t)).toBe(true); // nothing to copy: an erase of line 0 on both LUNs
      expect(m.counters()).toMatchObject({ gcRuns: 1, gcPagesMoved: 0, erases: 2 });
      return m.submit(ModelOp.Read, 8, 1, false, t) - t; // unit 8 is on a LUN that is erasing
    });
    // The read's firmware time (21.5 µs) overlaps the erase; the NAND read waits for the rest.
    expect(results[1]! - results[0]!).toBe(2_000_000 - 21_500);
  });

  it('copies valid units (NAND reads + programs) and counts them as GC media writes', () => {
    const m = small();
    let t = 0;
    for (let u = 0; u < 8; u++) t = W(m, u, t); // line 0
    for (let u = 8; u < 16; u++) t = W(m, u, t); // line 1
    t = W(m, 0, t); // one invalid unit in line 0
    t = m.submit(ModelOp.Flush, 0, 0, false, t) + 1e6;
    const before = m.counters();
    expect(m.forceGc(t)).toBe(true); // greedy: line 0 (7 valid) over line 1 (8 valid)
    const c = m.counters();
    expect(c.gcPagesMoved - before.gcPagesMoved).toBe(7);
    expect(c.mediaReadBytes - before.mediaReadBytes).toBe(7 * 4096);
    expect(Array.from(m.eraseCounts())).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // A flush programs host data only: GC's partly filled one-shot page stays open (padding it
    // would spend the room GC keeps to finish a victim).
    m.submit(ModelOp.Flush, 0, 0, false, t);
    const c2 = m.counters();
    expect(c2.mediaWrittenGcBytes - before.mediaWrittenGcBytes).toBe(3 * 8192); // 7 units: 3 full one-shot pages, the 7th buffered
    for (let u = 1; u < 8; u++) expect(Math.floor(m.lookup(u) / 8)).not.toBe(0);
    m.checkInvariants();
  });

  it('trimmed units are not copied', () => {
    const moved = [false, true].map((trim) => {
      const m = small();
      let t = 0;
      for (let u = 0; u < 16; u++) t = W(m, u, t);
      t = W(m, 0, t);
      if (trim) t = m.submit(ModelOp.Trim, 2, 4, false, t); // units 2..5 of line 0
      expect(m.forceGc(t + 1e6)).toBe(true);
      m.checkInvariants();
      return m.counters().gcPagesMoved;
    });
    expect(moved).toEqual([7, 3]);
    // And in bulk: random overwrites with half the device trimmed move fewer units.
    const bulk = [false, true].map((trim) => {
      const m = small({}, 1024 * 1024);
      let t = 0;
      for (let u = 0; u < 256; u++) t = W(m, u, t);
      if (trim) t = m.submit(ModelOp.Trim, 128, 128, false, t);
      const rng = new Prng(9);
      for (let i = 0; i < 3000; i++) t = W(m, rng.u32() % 128, t);
      m.checkInvariants();
      return m.counters();
    });
    expect(bulk[1]!.gcPagesMoved).toBeLessThan(bulk[0]!.gcPagesMoved / 2);
    expect(bulk[1]!.trimmedBytes).toBe(128 * 4096);
  });

  it('victims by policy: greedy takes the fewest valid units, cost-benefit weighs age', () => {
    const victims = (['greedy', 'cost-benefit'] as const).map((gc_policy) => {
      const m = small({ gc_policy, gc_threshold_lines: 1 });
      let t = 0;
      for (let u = 0; u < 8; u++) t = W(m, u, t); // line 0 at t ~ 0
      for (let u = 8; u < 16; u++) t = W(m, u, 1e9 + u); // line 1; line 0 closes at 1e9
      t = m.submit(ModelOp.Trim, 0, 4, false, 2e9); // line 0 (old): 4 of 8 valid
      t = m.submit(ModelOp.Trim, 8, 5, false, 2e9); // line 1 (young): 3 of 8 valid
      W(m, 0, 3e9); // opens line 2, closing line 1 at 3e9
      m.forceGc(3e9 + 10);
      const e = m.eraseCounts();
      return e[0] ? 0 : e[2] ? 1 : -1;
    });
    // greedy: line 1 (3 valid); cost-benefit: line 0, age 2e9 x (1 - 0.5) / 1 beats age 10 x 0.625 / 0.75.
    expect(victims).toEqual([1, 0]);
  });

  it('stays consistent and makes progress when the device is full of valid data', () => {
    const m = small({ over_provisioning: 0, gc_threshold_lines: 1 }, 256 * 1024);
    let t = 0;
    const rng = new Prng(1);
    for (let round = 0; round < 20; round++) {
      for (let u = 0; u < 64; u++) t = W(m, u, t); // all 64 units valid, again and again
      for (let i = 0; i < 64; i++) t = W(m, rng.u32() % 64, t);
    }
    m.checkInvariants();
    expect(m.counters().gcRuns).toBeGreaterThan(50);
    expect(m.freeLines).toBeGreaterThanOrEqual(1);
  });
});

describe('conv counters and wear', () => {
  it('host and media bytes, WAF, trim, write zeroes', () => {
    const m = small({}, 1024 * 1024);
    let t = 0;
    for (let u = 0; u < 256; u++) t = W(m, u, t);
    t = m.submit(ModelOp.Flush, 0, 0, false, t);
    let c = m.counters();
    expect(c.hostWrittenBytes).toBe(1024 * 1024);
    expect(c.mediaWrittenUserBytes).toBe(1024 * 1024); // whole one-shot pages, no padding
    expect(c.mediaWrittenGcBytes).toBe(0);
    const rng = new Prng(5);
    for (let i = 0; i < 5000; i++) t = W(m, rng.u32() % 256, t);
    c = m.counters();
    const waf = (c.mediaWrittenUserBytes + c.mediaWrittenGcBytes) / c.hostWrittenBytes;
    expect(c.mediaWrittenGcBytes).toBeGreaterThan(0);
    expect(waf).toBeGreaterThan(1);
    expect(c.gcPagesMoved * 4096).toBeLessThanOrEqual(c.mediaWrittenGcBytes);
    m.submit(ModelOp.WriteZeroes, 0, 4, false, t);
    expect(m.lookup(0)).toBe(-1); // zeroes = deallocated units
    expect(m.counters().hostWrittenBytes).toBe(c.hostWrittenBytes + 4 * 4096);
    expect(media(m)).toBe(c.mediaWrittenUserBytes + c.mediaWrittenGcBytes); // no media write for zeroes
  });

  it('erase counts per block with their max; percentage used from average erases / rated P/E cycles; spare from worn blocks', () => {
    const m = small({ pe_cycles: 20 });
    let t = 0;
    const rng = new Prng(11);
    for (let i = 0; i < 4000; i++) t = W(m, rng.u32() % 16, t);
    const e = Array.from(m.eraseCounts());
    const c = m.counters();
    expect(e.reduce((a, b) => a + b, 0)).toBe(c.erases);
    expect(Math.max(...e)).toBe(c.maxEraseCount);
    expect(c.totalBlocks).toBe(e.length);
    expect(c.percentageUsed).toBe(Math.min(255, Math.round((100 * c.erases) / e.length / 20)));
    expect(c.percentageUsed).toBeGreaterThan(100);
    // Blocks past their rated cycles come out of the spare: 14 blocks, 4 needed for the data.
    const worn = e.filter((x) => x >= 20).length;
    expect(c.availableSpare).toBe(Math.max(0, Math.round((100 * (10 - worn)) / 10)));
    const fresh = small().counters();
    expect(fresh).toMatchObject({ percentageUsed: 0, availableSpare: 100, erases: 0, freeBlocks: 14, totalBlocks: 14 });
  });

  it('is deterministic', () => {
    const run = (): [number[], unknown] => {
      const m = small({}, 512 * 1024);
      const rng = new Prng(42);
      const ends: number[] = [];
      let t = 0;
      for (let i = 0; i < 3000; i++) {
        const u = rng.u32() % 128;
        const op = rng.u32() % 10;
        t = op < 6 ? W(m, u, t) : op < 9 ? m.submit(ModelOp.Read, u, 1, false, t) : m.submit(ModelOp.Trim, u, 2, false, t);
        ends.push(t);
      }
      return [ends, m.counters()];
    };
    expect(run()).toEqual(run());
  });
});
