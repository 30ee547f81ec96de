// Device engine building blocks: the SharedArrayBuffer SPSC ring (single thread, wrap-around,
// full/empty, and a producer on another thread) and the deadline heap (order, ties, growth).
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { DeadlineHeap } from '../../src/devices/engine/heap.js';
import { COUNTER_KEYS, emptyCounters, readCounters, STATS_BYTES, writeCounters } from '../../src/devices/engine/layout.js';
import { Ring, RingWord } from '../../src/devices/engine/ring.js';

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('Ring', () => {
  it('rejects bad geometry', () => {
    expect(() => new Ring(new SharedArrayBuffer(Ring.bytesFor(3, 4)), 4)).toThrow(/power of two/);
    expect(() => new Ring(new SharedArrayBuffer(Ring.bytesFor(4, 3)), 3)).toThrow(/even/);
  });

  it('passes entries in order across many wrap-arounds, with int and float64 fields', () => {
    const sab = new SharedArrayBuffer(Ring.bytesFor(8, 4));
    const p = Ring.attach(sab, 4, 'producer');
    const c = Ring.attach(sab, 4, 'consumer');
    let sent = 0;
    let got = 0;
    const rnd = xorshift(7);
    while (got < 1000) {
      const burst = Math.floor(rnd() * 10);
      for (let i = 0; i < burst; i++) {
        const w = p.slot();
        if (w < 0) {
          expect(p.free()).toBe(0);
          break;
        }
        p.i32[w] = sent;
        p.f64[(w >> 1) + 1] = sent * 1.5 + 2 ** 40;
        p.push();
        sent++;
      }
      p.publish();
      let n = c.available();
      expect(n).toBe(sent - got);
      const take = Math.min(n, Math.floor(rnd() * 10));
      for (n = 0; n < take; n++) {
        const w = c.peek();
        expect(c.i32[w]).toBe(got);
        expect(c.f64[(w >> 1) + 1]).toBe(got * 1.5 + 2 ** 40);
        c.advance();
        got++;
      }
      c.release();
    }
  });

  it('is full at capacity and nothing is visible before publish()', () => {
    const r = Ring.create(4, 8);
    const c = Ring.attach(r.sab, 8, 'consumer');
    for (let i = 0; i < 4; i++) {
      expect(r.slot()).toBeGreaterThanOrEqual(0);
      r.push();
    }
    expect(r.slot()).toBe(-1);
    expect(c.available()).toBe(0);
    r.publish();
    expect(c.available()).toBe(4);
    c.advance();
    expect(r.slot()).toBe(-1); // not released yet
    c.release();
    expect(r.slot()).toBeGreaterThanOrEqual(0);
  });

  it('works with free-running counters near the 32-bit wrap', () => {
    const r = Ring.create(4, 2);
    Atomics.store(r.i32, RingWord.Head, 0x7ffffffe);
    Atomics.store(r.i32, RingWord.Tail, 0x7ffffffe);
    const p = Ring.attach(r.sab, 2, 'producer');
    const c = Ring.attach(r.sab, 2, 'consumer');
    for (let k = 0; k < 20; k++) {
      for (let i = 0; i < 3; i++) {
        const w = p.slot();
        p.i32[w] = k * 3 + i;
        p.push();
      }
      p.publish();
      expect(c.available()).toBe(3);
      for (let i = 0; i < 3; i++) {
        expect(c.i32[c.peek()]).toBe(k * 3 + i);
        c.advance();
      }
      c.release();
    }
  });

  it('carries 200k entries from a producer thread intact (Atomics publish/consume)', async () => {
    const N = 200_000;
    const ring = Ring.create(256, 4);
    // Plain JS producer on another thread speaking the ring protocol (head @0, tail @16, entries from word 64).
    const code = `
      const { workerData } = require('node:worker_threads');
      const i32 = new Int32Array(workerData.sab); const f64 = new Float64Array(workerData.sab);
      let tail = 0; const cap = 256, mask = 255, base = 64;
      for (let k = 0; k < ${N}; k++) {
        while (((tail - Atomics.load(i32, 0)) | 0) >= cap) {}
        const w = base + (tail & mask) * 4;
        i32[w] = k; i32[w + 1] = k ^ 0x5a5a; f64[(w >> 1) + 1] = k * 0.25;
        tail = (tail + 1) | 0;
        if ((k & 7) === 7 || k === ${N} - 1) Atomics.store(i32, 16, tail);
      }`;
    const w = new Worker(code, { eval: true, workerData: { sab: ring.sab } });
    const c = Ring.attach(ring.sab, 4, 'consumer');
    let got = 0;
    let bad = 0;
    while (got < N) {
      let n = c.available();
      if (n === 0) {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      for (; n > 0; n--) {
        const e = c.peek();
        if (c.i32[e] !== got || c.i32[e + 1] !== (got ^ 0x5a5a) || c.f64[(e >> 1) + 1] !== got * 0.25) bad++;
        c.advance();
        got++;
      }
      c.release();
    }
    await w.terminate();
    expect(bad).toBe(0);
    expect(got).toBe(N);
  }, 60_000); // a busy shared machine can starve the producer thread; nothing here is timed
});

describe('DeadlineHeap', () => {
  it('pops in deadline order, ties in insertion order, and grows', () => {
    const h = new DeadlineHeap(2);
    const rnd = xorshift(11);
    const ref: [number, number][] = [];
    for (let i = 0; i < 5000; i++) {
      const k = Math.floor(rnd() * 500) * 1000; // many ties
      h.push(k, i);
      ref.push([k, i]);
    }
    ref.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    expect(h.size).toBe(5000);
    for (const [k, v] of ref) {
      expect(h.peekKey()).toBe(k);
      expect(h.pop()).toBe(v);
    }
    expect(h.size).toBe(0);
    expect(h.peekKey()).toBe(Infinity);
  });

  it('stays ordered under interleaved pushes and pops', () => {
    const h = new DeadlineHeap(4);
    const rnd = xorshift(3);
    const ref: { k: number; v: number; s: number }[] = [];
    let seq = 0;
    let now = 0;
    for (let step = 0; step < 20000; step++) {
      if (rnd() < 0.55) {
        const k = now + Math.floor(rnd() * 300);
        h.push(k, step);
        ref.push({ k, v: step, s: seq++ });
      } else if (ref.length > 0) {
        ref.sort((a, b) => a.k - b.k || a.s - b.s);
        const e = ref.shift()!;
        expect(h.peekKey()).toBe(e.k);
        expect(h.pop()).toBe(e.v);
        now = e.k;
      }
      expect(h.size).toBe(ref.length);
    }
  });
});

describe('stats block', () => {
  it('round-trips every counter; a fresh block reads as a new device', () => {
    const sab = new SharedArrayBuffer(STATS_BYTES);
    const i32 = new Int32Array(sab, 0, 2);
    const f64 = new Float64Array(sab);
    expect(readCounters(i32, f64)).toEqual(emptyCounters());
    const c = emptyCounters();
    COUNTER_KEYS.forEach((k, i) => (c[k] = (i + 1) * 1e9 + 0.5));
    writeCounters(i32, f64, c);
    expect(readCounters(i32, f64)).toEqual(c);
    expect(Atomics.load(i32, 0) % 2).toBe(0);
  });
});
