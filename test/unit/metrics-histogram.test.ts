import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS_S, LatencyHistogram } from '../../src/metrics/latency-histogram.js';
import { VERSION } from '../../src/version.js';

describe('LatencyHistogram', () => {
  it('puts each observation in the first bucket whose bound is >= it (Prometheus le semantics)', () => {
    const h = new LatencyHistogram();
    h.observe(5e-6); // exactly on the first bound: le="0.000005"
    h.observe(5.1e-6);
    h.observe(1); // last finite bound
    h.observe(3); // +Inf
    expect(h.counts[0]).toBe(1);
    expect(h.counts[1]).toBe(1);
    expect(h.counts[LATENCY_BUCKETS_S.length - 1]).toBe(1);
    expect(h.counts[LATENCY_BUCKETS_S.length]).toBe(1);
    expect(h.count).toBe(4);
    expect(h.sum).toBeCloseTo(4.0000101, 9);
    expect(h.cumulative()).toEqual([1, 2, ...new Array(LATENCY_BUCKETS_S.length - 3).fill(2), 3, 4]);
  });

  it('estimates quantiles inside the bucket as histogram_quantile does, and resets', () => {
    const h = new LatencyHistogram();
    expect(h.quantile(0.5)).toBeNaN();
    for (let i = 0; i < 100; i++) h.observe(60e-6); // all in (50 µs, 75 µs]
    expect(h.quantile(0.5)).toBeCloseTo(62.5e-6, 12);
    expect(h.quantile(1)).toBeCloseTo(75e-6, 12);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.cumulative().every((c) => c === 0)).toBe(true);
  });

  it('observe(x, n) is n observations of x', () => {
    const once = new LatencyHistogram();
    const many = new LatencyHistogram();
    for (const [x, n] of [[7e-6, 3], [120e-6, 17], [2, 2]] as const) {
      many.observe(x, n);
      for (let i = 0; i < n; i++) once.observe(x);
    }
    expect([...many.counts]).toEqual([...once.counts]);
    expect(many.count).toBe(22);
    expect(many.sum).toBeCloseTo(once.sum, 12);
  });

  it('has strictly increasing bounds from 5 µs to 1 s', () => {
    expect(LATENCY_BUCKETS_S[0]).toBe(5e-6);
    expect(LATENCY_BUCKETS_S.at(-1)).toBe(1);
    for (let i = 1; i < LATENCY_BUCKETS_S.length; i++) expect(LATENCY_BUCKETS_S[i]!).toBeGreaterThan(LATENCY_BUCKETS_S[i - 1]!);
  });
});

describe('VERSION', () => {
  it('is package.json version', () => {
    expect(VERSION).toBe((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version);
  });
});
