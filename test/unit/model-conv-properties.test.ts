// Property tests (fast-check) of the conv FTL: after any sequence of writes, trims, write zeroes,
// reads, flushes and forced GC, on small random geometries, the L2P/P2L maps are consistent
// (ConvModel.checkInvariants: every mapped logical unit's physical unit maps back to it, no physical
// unit is mapped twice, per-line valid counts equal the mapped units, free lines are free) and each
// logical unit is mapped exactly when its last write was not trimmed since. Whether the bytes read
// back are the last written ones is the namespace store's business (data is kept by LBA on the
// network thread; a model never sees data), tested with the store.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelOp, type ModelOpCode } from '../../src/devices/model.js';
import { ConvModel } from '../../src/devices/models/conv-model.js';
import { CELL_TYPES, type ConvParams } from '../../src/devices/models/conv-params.js';
import { CONV_PRESETS } from '../../src/devices/presets.js';

const geometry = fc.record({
  channels: fc.integer({ min: 1, max: 3 }),
  luns_per_channel: fc.integer({ min: 1, max: 2 }),
  planes_per_lun: fc.integer({ min: 1, max: 2 }),
  unitsPerFlash: fc.integer({ min: 1, max: 2 }),
  flashPerOneshot: fc.integer({ min: 1, max: 2 }),
  blockOneshots: fc.integer({ min: 1, max: 3 }),
  cell_type: fc.constantFrom(...CELL_TYPES),
  over_provisioning: fc.constantFrom(0, 0.07, 0.25),
  gc_threshold_lines: fc.integer({ min: 1, max: 3 }),
  gc_policy: fc.constantFrom('greedy' as const, 'cost-benefit' as const),
  bufferOneshots: fc.integer({ min: 1, max: 4 }),
  lbaSize: fc.constantFrom(512, 4096),
  units: fc.integer({ min: 4, max: 32 }),
});

type Cmd =
  | { kind: 'write'; start: number; len: number; fua: boolean }
  | { kind: 'trim' | 'zeroes' | 'read'; start: number; len: number }
  | { kind: 'flush' | 'gc' }
  | { kind: 'wait'; ns: number };

/** Commands over a device of `nlb` LBAs (start/len as fractions, scaled at run time). */
const command: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), start: fc.nat(), len: fc.integer({ min: 1, max: 40 }), fua: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('trim' as const, 'zeroes' as const, 'read' as const), start: fc.nat(), len: fc.integer({ min: 1, max: 80 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('flush' as const, 'gc' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const), ns: fc.integer({ min: 0, max: 5_000_000 }) }) },
);

type Geometry = typeof geometry extends fc.Arbitrary<infer T> ? T : never;

function build(g: Geometry): ConvModel {
  const flash = g.unitsPerFlash * 4096;
  const oneshot = flash * g.flashPerOneshot;
  const params: ConvParams = {
    ...CONV_PRESETS['samsung-970pro']!.params,
    cell_type: g.cell_type,
    channels: g.channels,
    luns_per_channel: g.luns_per_channel,
    planes_per_lun: g.planes_per_lun,
    flash_page_size: flash,
    oneshot_page_size: oneshot,
    pages_per_block: g.flashPerOneshot * g.blockOneshots,
    min_lines: 0,
    read_4k_latency_ns: Array(['slc', 'mlc', 'tlc', 'qlc'].indexOf(g.cell_type) + 1).fill(30_000),
    read_latency_ns: Array(['slc', 'mlc', 'tlc', 'qlc'].indexOf(g.cell_type) + 1).fill(40_000),
    write_buffer_size: oneshot * g.bufferOneshots,
    over_provisioning: g.over_provisioning,
    gc_threshold_lines: g.gc_threshold_lines,
    gc_policy: g.gc_policy,
  };
  return new ConvModel(params, g.lbaSize, g.units * 4096);
}

describe('conv FTL properties', () => {
  it('a flush with no free line leaves GC room to finish its victim (a case the property below found)', () => {
    // 8 lines of one 4-unit one-shot page, no over-provisioning: the seventh write leaves no free
    // line, GC's open line holding one copied unit and its victim one more. The flush used to pad
    // GC's one-shot page too, filling GC's line: the victim could then never be finished.
    const m = build({ channels: 1, luns_per_channel: 1, planes_per_lun: 1, unitsPerFlash: 2, flashPerOneshot: 2, blockOneshots: 1, cell_type: 'slc', over_provisioning: 0, gc_threshold_lines: 1, gc_policy: 'greedy', bufferOneshots: 1, lbaSize: 4096, units: 16 });
    let t = 0;
    for (const [start, len, fua] of [[0, 6, false], [5, 5, false], [7, 2, false], [0, 1, true], [3, 2, false], [10, 4, true], [10, 1, false]] as const) {
      t = m.submit(ModelOp.Write, start, len, fua, t);
      m.checkInvariants();
    }
    t = m.submit(ModelOp.Flush, 0, 0, false, t);
    m.checkInvariants();
    for (let i = 0; i < 64; i++) t = m.submit(ModelOp.Write, (i * 5) % 16, 1, false, t); // and GC goes on
    m.checkInvariants();
  });

  it('maps stay consistent and match the last write / trim of every unit', { timeout: 60_000 }, () => {
    let withGc = 0;
    fc.assert(
      fc.property(geometry, fc.array(command, { minLength: 1, maxLength: 400, size: 'max' }), (g, cmds) => {
        const m = build(g);
        const perUnit = 4096 / g.lbaSize;
        const mapped = new Uint8Array(g.units);
        let now = 0;
        for (const c of cmds) {
          if (c.kind === 'wait') {
            now += c.ns;
            continue;
          }
          let end = NaN;
          if (c.kind === 'flush') end = m.submit(ModelOp.Flush, 0, 0, false, now);
          else if (c.kind === 'gc') {
            m.forceGc(now);
            end = now;
          } else if ('start' in c) {
            const start = c.start % m.nlb;
            const len = Math.min(c.len, m.nlb - start);
            const op: ModelOpCode = { write: ModelOp.Write, trim: ModelOp.Trim, zeroes: ModelOp.WriteZeroes, read: ModelOp.Read }[c.kind];
            end = m.submit(op, start, len, c.kind === 'write' && c.fua, now);
            const first = Math.floor(start / perUnit);
            const last = Math.ceil((start + len) / perUnit); // exclusive
            if (c.kind === 'write') mapped.fill(1, first, last);
            if (c.kind === 'trim' || c.kind === 'zeroes') mapped.fill(0, Math.ceil(start / perUnit), Math.floor((start + len) / perUnit));
          }
          expect(Number.isFinite(end)).toBe(true);
          expect(end).toBeGreaterThanOrEqual(now);
          m.checkInvariants();
          now = end; // the next command comes when this one completes (QD1), or later after a wait
        }
        for (let u = 0; u < g.units; u++) expect(m.lookup(u) >= 0).toBe(mapped[u] === 1);
        if (m.counters().gcPagesMoved > 0) withGc++;
      }),
      { numRuns: 300 },
    );
    expect(withGc).toBeGreaterThan(50); // GC copied data in a good share of the runs
  });

  it('completion times never precede submission, also with many commands outstanding', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(geometry, fc.array(command, { minLength: 1, maxLength: 200 }), fc.integer({ min: 0, max: 2 ** 31 }), (g, cmds, seed) => {
        const m = build(g);
        let now = seed; // commands at the same instant: a deep queue
        for (const c of cmds) {
          if (c.kind === 'wait') now += c.ns;
          else if (c.kind === 'gc') m.forceGc(now);
          else if (c.kind === 'flush') expect(m.submit(ModelOp.Flush, 0, 0, false, now)).toBeGreaterThanOrEqual(now);
          else if ('start' in c) {
            const start = c.start % m.nlb;
            const op = c.kind === 'write' ? ModelOp.Write : c.kind === 'read' ? ModelOp.Read : ModelOp.Trim;
            expect(m.submit(op, start, Math.min(c.len, m.nlb - start), c.kind === 'write' && c.fua, now)).toBeGreaterThanOrEqual(now);
          }
        }
        m.checkInvariants();
      }),
      { numRuns: 200 },
    );
  });
});
