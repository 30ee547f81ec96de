// The zns timing model (src/devices/models/zns-model.ts): zone reset pays the erase latency on
// every die of the zone (NVMeVirt and FEMU: nothing), writes stripe over the zone's dies, finish
// programs the buffered tail, reads of unwritten blocks cost no NAND, no early completion waits
// for the program, and the wear counters move with resets.
import { describe, expect, it } from 'vitest';
import { validateEmulation } from '../../src/config/topology.js';
import { ModelOp } from '../../src/devices/model.js';
import { ZnsModel } from '../../src/devices/models/zns-model.js';
import { resolveEmulation } from '../../src/devices/presets.js';

const MiB = 1024 * 1024;
const LBA = 512;

function model(block: Record<string, unknown>): ZnsModel {
  const r = resolveEmulation(validateEmulation({ type: 'zns', capacity: '64MiB', ...block }));
  if (r.type !== 'zns') throw new Error('type');
  return new ZnsModel(r.params, LBA, r.capacity);
}

/** wd-zn540 figures, 4 MiB zones over all 32 dies, 96 KiB one-shot pages, early completion. */
const wd = (extra: Record<string, unknown> = {}): ZnsModel => model({ preset: 'wd-zn540', zone_size: '4MiB', zone_capacity: '4MiB', ...extra });
const lbas = (bytes: number): number => bytes / LBA;

describe('zns model', () => {
  it('zone reset pays the erase latency on the zone\'s dies; resetting an empty zone costs nothing', () => {
    const m = wd();
    const t0 = 1_000_000;
    expect(m.submit(ModelOp.ZoneReset, 0, lbas(4 * MiB), false, t0)).toBe(t0);
    m.submit(ModelOp.Write, 0, lbas(96 * 1024), false, t0);
    const done = m.submit(ModelOp.ZoneReset, 0, lbas(4 * MiB), false, t0 + 10_000_000);
    expect(done).toBe(t0 + 10_000_000 + 5_000_000);
    expect(m.counters()).toMatchObject({ erases: 32, maxEraseCount: 1 });
    expect(m.zoneEraseCount(0)).toBe(1);
    // Erasing with a custom latency, zone 1, after its dies are idle.
    m.setTiming({ erase_latency_ns: 2_000_000 });
    m.submit(ModelOp.Write, lbas(4 * MiB), 8, false, t0 + 20_000_000);
    expect(m.submit(ModelOp.ZoneReset, lbas(4 * MiB), lbas(4 * MiB), false, t0 + 40_000_000)).toBe(t0 + 42_000_000);
  });

  it('a reset waits for what the zone\'s dies are doing', () => {
    const m = wd();
    m.submit(ModelOp.Write, 0, lbas(96 * 1024), false, 0); // programs one page on die 0 (561 µs)
    expect(m.dieBusyUntil(m.dieOf(0, 0))).toBeGreaterThan(561_000);
    const done = m.submit(ModelOp.ZoneReset, 0, lbas(4 * MiB), false, 10_000);
    expect(done).toBeGreaterThan(561_000 + 5_000_000);
  });

  it('writes stripe one-shot pages over the zone\'s dies: 32 dies program in parallel, 1 die in series', () => {
    const wide = wd();
    // 10 pages: what the per-zone buffer holds, so only striping decides.
    wide.submit(ModelOp.Write, 0, lbas(10 * 96 * 1024), false, 0);
    const busyWide = Math.max(...Array.from({ length: 32 }, (_, d) => wide.dieBusyUntil(d)));
    const narrow = wd({ zone_dies: 1 });
    narrow.submit(ModelOp.Write, 0, lbas(10 * 96 * 1024), false, 0);
    const busyNarrow = narrow.dieBusyUntil(narrow.dieOf(0, 0));
    // PCIe (960 KiB at 3,050 MiB/s) + 2 pages on a channel at 450 MiB/s + one program: ~1.3 ms.
    expect(busyWide).toBeLessThan(1.5e6);
    expect(busyNarrow).toBeGreaterThan(10 * 561_000);
    // Zones on one die each sit on different dies.
    expect(narrow.dieOf(1, 0)).not.toBe(narrow.dieOf(0, 0));
  });

  it('early completion: a write completes once buffered; FUA or no early completion waits for the program', () => {
    const m = wd();
    const early = m.submit(ModelOp.Write, 0, 8, false, 0);
    expect(early).toBeLessThan(100_000);
    const fua = m.submit(ModelOp.Write, 8, 8, true, 0);
    expect(fua).toBeGreaterThan(561_000);
    const proto = model({ preset: 'zns-prototype', zone_size: '4MiB' });
    expect(proto.submit(ModelOp.Write, 0, 8, false, 0)).toBeGreaterThan(1_913_640);
  });

  it('the per-zone write buffer (10 one-shot pages) throttles a long burst to the program rate', () => {
    const m = wd({ zone_dies: 1 });
    const t = m.submit(ModelOp.Write, 0, lbas(30 * 96 * 1024), false, 0);
    // 30 pages through a 10-page buffer on one die: at least 20 programs must end first.
    expect(t).toBeGreaterThan(20 * 561_000);
  });

  it('finish programs the buffered tail; flush programs every partial page', () => {
    const m = wd();
    m.submit(ModelOp.Write, 0, 8, false, 0);
    const done = m.submit(ModelOp.ZoneFinish, 0, lbas(4 * MiB), false, 1000);
    expect(done).toBeGreaterThan(561_000);
    expect(m.counters().mediaWrittenUserBytes).toBe(96 * 1024);
    m.submit(ModelOp.Write, lbas(4 * MiB), 8, false, 2_000_000);
    expect(m.submit(ModelOp.Flush, 0, 0, false, 2_000_000)).toBeGreaterThan(2_000_000 + 561_000);
  });

  it('reads: unwritten blocks cost no NAND; programmed data pays the NAND read', () => {
    const m = wd();
    const t0 = 0;
    const unwritten = m.submit(ModelOp.Read, 0, 8, false, t0);
    expect(m.counters().mediaReadBytes).toBe(0);
    expect(unwritten).toBeLessThan(50_000);
    m.submit(ModelOp.Write, 0, lbas(96 * 1024), true, 0);
    const t1 = 10_000_000;
    const read = m.submit(ModelOp.Read, 0, 8, false, t1);
    expect(read - t1).toBeGreaterThanOrEqual(20_000 + 50_000); // firmware + NAND 4 KiB read
    expect(m.counters().mediaReadBytes).toBe(4096);
  });

  it('timing knobs list per-page-type reads and reject unknown keys', () => {
    const m = wd();
    expect(m.timing()).toMatchObject({ read_4k_latency_lsb_ns: 50_000, erase_latency_ns: 5_000_000, program_latency_ns: 561_000 });
    expect(() => m.setTiming({ gc_threshold_lines: 1 })).toThrow(/unknown timing parameter/);
    expect(() => m.setTiming({ pcie_bw_mibps: 0 })).toThrow(/> 0/);
    expect(() => m.submit(99 as never, 0, 1, false, 0)).toThrow(/unknown op/);
  });
});
