import { describe, expect, it } from 'vitest';
import { ModelOp } from '../../src/devices/model.js';
import { NvmModel } from '../../src/devices/models/nvm-model.js';
import { NVM_PRESETS, createModel } from '../../src/devices/presets.js';

const p = (o: Partial<ConstructorParameters<typeof NvmModel>[0]> = {}) => ({
  read_latency_ns: 0,
  write_latency_ns: 0,
  io_units: 0,
  read_bw_mibps: 0,
  write_bw_mibps: 0,
  ...o,
});

describe('NvmModel (NVMeVirt simple model)', () => {
  it('completes at nowNs with zero latency and unlimited bandwidth', () => {
    const m = new NvmModel(p(), 512, 1 << 30);
    expect(m.nlb).toBe((1 << 30) / 512);
    for (const op of [ModelOp.Read, ModelOp.Write, ModelOp.Flush, ModelOp.Trim, ModelOp.WriteZeroes]) {
      expect(m.submit(op, 0, 256, false, 12345)).toBe(12345);
    }
  });

  it('adds the latency per command; io_units 0 = unlimited parallelism', () => {
    const m = new NvmModel(p({ read_latency_ns: 20_000, write_latency_ns: 30_000 }), 512, 1 << 30);
    for (let i = 0; i < 100; i++) expect(m.submit(ModelOp.Read, i * 8, 8, false, 1000)).toBe(21_000);
    expect(m.submit(ModelOp.Write, 0, 8, false, 1000)).toBe(31_000);
  });

  it('derives bandwidth = io_units x 4 KiB / latency', () => {
    const m = new NvmModel(p({ read_latency_ns: 10_000, write_latency_ns: 10_000, io_units: 4 }), 512, 1 << 30);
    // QD1 4 KiB: latency. 8 commands at once: 4 units -> the last 4 finish one latency later.
    expect(m.submit(ModelOp.Read, 0, 8, false, 0)).toBe(10_000);
    const m2 = new NvmModel(p({ read_latency_ns: 10_000, io_units: 4 }), 512, 1 << 30);
    const ends = Array.from({ length: 8 }, () => m2.submit(ModelOp.Read, 0, 8, false, 0));
    expect(ends).toEqual([10_000, 10_000, 10_000, 10_000, 12_500, 15_000, 17_500, 20_000]);
    expect(m2.bandwidthMibps.read).toBeCloseTo((4 * 4096 * 1e9) / 10_000 / 2 ** 20, 6);
    // 128 KiB = 32 units of 4 KiB over 4 slots: 8 rounds of the latency.
    const m3 = new NvmModel(p({ read_latency_ns: 10_000, io_units: 4 }), 512, 1 << 30);
    expect(m3.submit(ModelOp.Read, 0, 256, false, 0)).toBe(80_000);
  });

  it('uses explicit bandwidths instead of the derived ones', () => {
    const m = new NvmModel(p({ read_latency_ns: 1000, io_units: 1, read_bw_mibps: 1000 }), 4096, 1 << 30);
    const ns = (1 << 20) * 1e9 / (1000 * 2 ** 20); // 1 MiB at 1000 MiB/s
    expect(m.submit(ModelOp.Read, 0, 256, false, 0)).toBe(Math.ceil(ns));
  });

  it('changes timing at run time and rejects unknown knobs', () => {
    const m = new NvmModel(p({ read_latency_ns: 1000 }), 512, 1 << 20);
    m.setTiming({ read_latency_ns: 5000, io_units: 2 });
    expect(m.timing()).toMatchObject({ read_latency_ns: 5000, io_units: 2 });
    expect(m.submit(ModelOp.Read, 0, 8, false, 0)).toBe(5000);
    expect(() => m.setTiming({ slot: 4 })).toThrow(/unknown timing parameter "slot"/);
    expect(() => m.setTiming({ read_latency_ns: -1 })).toThrow(/>= 0/);
    expect(m.timing().read_latency_ns).toBe(5000);
  });

  it('counts host bytes (WAF 1)', () => {
    const m = new NvmModel(p(), 512, 1 << 20);
    m.submit(ModelOp.Write, 0, 8, false, 0);
    m.submit(ModelOp.Read, 0, 16, false, 0);
    m.submit(ModelOp.Trim, 0, 8, false, 0);
    expect(m.counters()).toMatchObject({ hostWrittenBytes: 4096, hostReadBytes: 8192, mediaWrittenUserBytes: 4096, trimmedBytes: 4096, availableSpare: 100 });
  });

  it('intel-optane: NVMeVirt eval latencies, ~2.4 GB/s 4 KiB random read (P4800X spec sheet)', () => {
    const m = createModel({ type: 'nvm', preset: 'intel-optane', capacity: 1 << 30, lba_size: 512 }) as NvmModel;
    expect(m.submit(ModelOp.Read, 0, 8, false, 0)).toBe(6610);
    expect(m.submit(ModelOp.Write, 0, 8, false, 1e6)).toBe(1e6 + 9870);
    const readGBs = (m.bandwidthMibps.read * 2 ** 20) / 1e9;
    expect(readGBs).toBeGreaterThan(2.4 * 0.95);
    expect(readGBs).toBeLessThan(2.4 * 1.1);
    expect((m.bandwidthMibps.write * 2 ** 20) / 1e9).toBeCloseTo(2.0, 2);
    expect(NVM_PRESETS['intel-optane']!.mdts).toBe(5);
  });
});
