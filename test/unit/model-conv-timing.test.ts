// Timing of the conventional SSD model, checked against hand-computed figures.
import { describe, expect, it } from 'vitest';
import { validateEmulation } from '../../src/config/topology.js';
import { ModelOp } from '../../src/devices/model.js';
import { ConvModel } from '../../src/devices/models/conv-model.js';
import { runWorkload } from '../../src/devices/models/workload.js';
import { createModel } from '../../src/devices/presets.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** samsung-970pro figures (device-models.md) */
const FW_4K_READ = 21_500;
const FW_READ = 30_490;
const READ_4K = [29_760, 41_760];
const READ_PAGE = [30_013, 42_013];
const PROGRAM = 185_000;
const FW_WBUF = 4_000 + 460; // base + one 4 KiB unit
const ch = (bytes: number): number => (bytes * 1e9) / (800 * MiB);
const pcie = (bytes: number): number => (bytes * 1e9) / (3360 * MiB);

function ssd(over: Record<string, unknown> = {}, capacity = GiB): ConvModel {
  return createModel(validateEmulation({ type: 'conv', preset: 'samsung-970pro', capacity, ...over })) as ConvModel;
}
/** Write `units` 4 KiB units from unit 0 (512 B LBAs), flush, and return a time when every LUN is idle. */
function written(m: ConvModel, units: number): number {
  let t = 0;
  for (let u = 0; u < units; u += 32) t = m.submit(ModelOp.Write, u * 8, Math.min(32, units - u) * 8, false, t);
  return m.submit(ModelOp.Flush, 0, 0, false, t) + 1_000_000;
}

describe('conv timing: reads', () => {
  it('QD1 4 KiB read = firmware + NAND read of the page type + channel + PCIe', () => {
    const m = ssd();
    const t = written(m, 17 * 8); // 17 one-shot pages: the 17th is the second flash page (MSB) of unit 0's block
    const lsb = m.submit(ModelOp.Read, 0, 8, false, t);
    expect(lsb - t).toBe(Math.ceil(FW_4K_READ + READ_4K[0]! + ch(4096) + pcie(4096)));
    const t2 = t + 1_000_000;
    const msb = m.submit(ModelOp.Read, 128 * 8, 8, false, t2);
    expect(m.lookup(128)).toBe(8); // block 0, units 8..15 = flash page 1
    expect(msb - t2).toBe(Math.ceil(FW_4K_READ + READ_4K[1]! + ch(4096) + pcie(4096)));
    // The mean of the two is ~63.3 µs: the published 15K IOPS at QD1 is 66.7 µs.
    expect((lsb - t + msb - t2) / 2).toBeCloseTo(63_306, -1);
  });

  it('a larger read: one NAND page read per flash page, in parallel over LUNs, then PCIe for the whole', () => {
    const m = ssd();
    const t = written(m, 64);
    // 16 KiB inside one flash page: full-page read latency, 16 KiB over the channel.
    const end = m.submit(ModelOp.Read, 0, 32, false, t);
    expect(end - t).toBe(Math.ceil(FW_READ + READ_PAGE[0]! + ch(16384) + pcie(16384)));
    // 64 KiB over two flash pages on two channels: the NAND parts overlap.
    const t2 = t + 1_000_000;
    const end2 = m.submit(ModelOp.Read, 0, 128, false, t2);
    expect(end2 - t2).toBe(Math.ceil(FW_READ + READ_PAGE[0]! + ch(32768) + pcie(65536)));
  });

  it('reads of unwritten units and of units still in the write buffer do not touch NAND', () => {
    const m = ssd();
    expect(m.submit(ModelOp.Read, 0, 8, false, 0)).toBe(Math.ceil(FW_4K_READ + pcie(4096)));
    m.submit(ModelOp.Write, 8 * 8, 8, false, 1_000_000); // buffered: its one-shot page is not full
    expect(m.submit(ModelOp.Read, 8 * 8, 8, false, 2_000_000) - 2_000_000).toBe(Math.ceil(FW_4K_READ + pcie(4096)));
    expect(m.counters().mediaReadBytes).toBe(0);
  });

  it('sequential 128 KiB reads are bounded by PCIe, or by the channels when they are slower', () => {
    for (const [over, bound] of [
      [{}, 3360 * MiB],
      [{ channel_bw_mibps: 100 }, 8 * 100 * MiB],
    ] as const) {
      const m = ssd(over);
      const t = written(m, (256 * MiB) / 4096);
      const r = runWorkload(m, { rw: 'read', bs: 128 * 1024, iodepth: 32, numjobs: 1, sizeBytes: 256 * MiB, seed: 1 }, t);
      expect(r.bytesPerSec / bound).toBeGreaterThan(0.97);
      expect(r.bytesPerSec / bound).toBeLessThanOrEqual(1.0001);
    }
  });
});

describe('conv timing: writes, FUA, flush', () => {
  it('a write completes early, once in the buffer: PCIe + firmware', () => {
    const m = ssd();
    expect(m.submit(ModelOp.Write, 0, 8, false, 1000)).toBe(1000 + Math.ceil(pcie(4096) + FW_WBUF));
    expect(m.counters().mediaWrittenUserBytes).toBe(0); // nothing programmed yet
  });

  it('FUA waits for the program of its (padded) one-shot page', () => {
    const m = ssd();
    const end = m.submit(ModelOp.Write, 0, 8, true, 1000);
    expect(end).toBe(1000 + Math.ceil(pcie(4096) + ch(32768) + PROGRAM));
    expect(m.counters().mediaWrittenUserBytes).toBe(32768); // the whole one-shot page is programmed
    // The next write goes to the next one-shot page (the rest of the first is padding).
    m.submit(ModelOp.Write, 8, 8, false, end);
    expect(m.lookup(1)).toBe(m.geometry.unitsPerBlock); // unit 0 of the next parallel unit's block
  });

  it('a write waits for buffer space when the buffer is full; the space frees when a program ends', () => {
    const m = ssd({ write_buffer_size: 64 * 1024 }); // two one-shot pages
    const ends = Array.from({ length: 17 }, (_, i) => m.submit(ModelOp.Write, i * 8, 8, false, 0));
    // The first 16 are accepted at once (each behind the previous one's PCIe transfer).
    ends.slice(0, 16).forEach((e, i) => expect(e).toBe(Math.ceil((i + 1) * pcie(4096) + FW_WBUF)));
    // The 17th waits for the first program (one-shot page 0 on channel 0) to end.
    const firstProgram = 8 * pcie(4096) + ch(32768) + PROGRAM;
    expect(ends[16]).toBe(Math.ceil(firstProgram + FW_WBUF));
  });

  it('flush programs what is buffered and completes when the last busy LUN is idle', () => {
    const m = ssd();
    expect(m.submit(ModelOp.Flush, 0, 0, false, 0)).toBe(0);
    m.submit(ModelOp.Write, 0, 24, false, 0); // 12 KiB: a partial one-shot page
    const f = m.submit(ModelOp.Flush, 0, 0, false, 10_000);
    expect(f).toBe(Math.ceil(10_000 + ch(32768) + PROGRAM)); // the program starts when the flush arrives
    for (let l = 0; l < m.geometry.luns; l++) expect(m.lunBusyUntil(l)).toBeLessThanOrEqual(f);
    expect(m.submit(ModelOp.Flush, 0, 0, false, 20_000)).toBe(f); // nothing new buffered
  });

  it('a LUN serves one NAND operation at a time (it stays busy until its data is out on the channel)', () => {
    const m = ssd();
    const t = written(m, 17 * 8);
    // Units 0 and 128 are flash pages 0 and 1 of the same block, on LUN 0.
    const a = m.submit(ModelOp.Read, 0, 8, false, t);
    const b = m.submit(ModelOp.Read, 128 * 8, 8, false, t);
    const lunFree = t + FW_4K_READ + READ_4K[0]! + ch(4096);
    expect(a).toBe(Math.ceil(lunFree + pcie(4096)));
    expect(b).toBe(Math.ceil(lunFree + READ_4K[1]! + ch(4096) + pcie(4096)));
    // A program holds its LUN for the channel transfer and the program time.
    const m2 = ssd();
    const fua = m2.submit(ModelOp.Write, 0, 8, true, 0);
    expect(m2.lunBusyUntil(0)).toBeCloseTo(pcie(4096) + ch(32768) + PROGRAM, 3);
    expect(fua).toBe(Math.ceil(m2.lunBusyUntil(0)));
  });
});

describe('conv timing: runtime knobs', () => {
  it('setTiming changes latencies for the next command; unknown keys throw', () => {
    const m = ssd();
    const t = written(m, 8);
    const knobs = m.timing();
    expect(knobs).toMatchObject({ read_4k_latency_lsb_ns: 29_760, read_4k_latency_msb_ns: 41_760, program_latency_ns: PROGRAM, erase_latency_ns: 3_500_000 });
    m.setTiming({ read_4k_latency_lsb_ns: 10_000, firmware_4k_read_ns: 0, pcie_bw_mibps: 1e9 });
    const r = m.submit(ModelOp.Read, 0, 8, false, t);
    expect(r - t).toBe(Math.ceil(10_000 + ch(4096) + (4096 * 1e9) / (1e9 * MiB)));
    m.setTiming({ read_4k_latency_ns: 7000 }); // every page type
    expect(m.timing()).toMatchObject({ read_4k_latency_lsb_ns: 7000, read_4k_latency_msb_ns: 7000 });
    expect(() => m.setTiming({ read_latency: 1 })).toThrow(/unknown timing parameter "read_latency"/);
    expect(() => m.setTiming({ channel_bw_mibps: 0 })).toThrow(/> 0/);
    expect(m.timing().channel_bw_mibps).toBe(800);
  });
});
