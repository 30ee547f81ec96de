import { describe, expect, it } from 'vitest';
import { BandwidthResource, nsPerByte } from '../../src/devices/models/bandwidth.js';

const MIB = 1024 * 1024;

describe('BandwidthResource (slotted credits)', () => {
  it('is exact on an idle resource, within and across slots', () => {
    const r = new BandwidthResource(800);
    const per = nsPerByte(800);
    expect(r.reserve(100, 4096)).toBeCloseTo(100 + 4096 * per, 6);
    expect(r.reserve(1_000_000, 256 * 1024)).toBeCloseTo(1_000_000 + 256 * 1024 * per, 6);
  });

  it('queues transfers that want the same time back to back', () => {
    const r = new BandwidthResource(1000);
    const per = nsPerByte(1000);
    const a = r.reserve(0, 4096);
    const b = r.reserve(0, 4096);
    expect(a).toBeCloseTo(4096 * per, 6);
    expect(b).toBeCloseTo(2 * 4096 * per, 6);
  });

  it('lets an earlier transfer use the gap before one reserved for the future', () => {
    const r = new BandwidthResource(1000);
    const per = nsPerByte(1000);
    const future = r.reserve(1_000_000, 8192);
    const now = r.reserve(0, 4096);
    expect(now).toBeCloseTo(4096 * per, 6); // not after `future`
    expect(future).toBeCloseTo(1_000_000 + 8192 * per, 6);
  });

  it('carries at most its bandwidth over time', () => {
    const r = new BandwidthResource(3360);
    let end = 0;
    for (let i = 0; i < 10_000; i++) end = r.reserve(0, 128 * 1024);
    const bytesPerSec = (10_000 * 128 * 1024 * 1e9) / end;
    expect(bytesPerSec / (3360 * MIB)).toBeCloseTo(1, 6);
  });

  it('grows its ring for reservations far ahead and forgets the past', () => {
    const r = new BandwidthResource(100);
    const far = r.reserve(10e9, 4096); // 10 s ahead: beyond the initial ring
    expect(far).toBeCloseTo(10e9 + 4096 * nsPerByte(100), 3);
    r.advanceTo(20e9);
    expect(r.reserve(20e9, 4096)).toBeCloseTo(20e9 + 4096 * nsPerByte(100), 3);
  });

  it('is unlimited at bandwidth 0 and follows setBandwidth', () => {
    const r = new BandwidthResource(0);
    expect(r.reserve(5, 1 << 20)).toBe(5);
    r.setBandwidth(1);
    expect(Math.abs(r.reserve(0, MIB) - 1e9)).toBeLessThan(1);
  });
});
