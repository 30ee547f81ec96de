// The samsung-970pro preset, simulated in virtual time, against the drive's published figures
// (Samsung 970 PRO spec sheet, device-models.md). Deterministic: not a timed assertion.
import { describe, expect, it } from 'vitest';
import { simulate, type SimulateOptions } from '../../src/cli/simulate.js';

const run = (o: Partial<SimulateOptions>) =>
  simulate({ preset: 'samsung-970pro', capacity: '2GiB', precondition: 'fill', set: [], rw: 'randread', rwmixread: '50', bs: '4KiB', iodepth: '1', numjobs: '1', seed: '1', ...o }).report;

describe('samsung-970pro fidelity', () => {
  it('QD1 4 KiB random read within 10% of the published 15K IOPS', () => {
    const r = run({ rw: 'randread', iodepth: '1', runtime: '0.5' });
    expect(r.result.iops / 15_000).toBeGreaterThan(0.9);
    expect(r.result.iops / 15_000).toBeLessThan(1.1);
  });

  it('sequential 128 KiB read at QD32 within 10% of the published 3,500 MB/s', () => {
    const r = run({ rw: 'read', bs: '128KiB', iodepth: '32', runtime: '0.2' });
    expect(r.result.bandwidth_bytes_per_s / 3.5e9).toBeGreaterThan(0.9);
    expect(r.result.bandwidth_bytes_per_s / 3.5e9).toBeLessThan(1.1);
  });
});
