// The conv model's FTL survives a save/restore (file-backed namespaces across a clean restart):
// maps, wear and counters come back, the invariants hold, and it carries on as it would have.
import { serialize, deserialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { ModelOp, type ModelState } from '../../src/devices/model.js';
import { ConvModel } from '../../src/devices/models/conv-model.js';
import type { ConvParams } from '../../src/devices/models/conv-params.js';
import { Prng } from '../../src/devices/models/workload.js';
import { CONV_PRESETS } from '../../src/devices/presets.js';

const params = (over: Partial<ConvParams> = {}): ConvParams => ({
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
});
const CAP = 256 * 1024;

function churn(m: ConvModel, seed: number, n: number, t0: number): number {
  const rng = new Prng(seed);
  let t = t0;
  for (let i = 0; i < n; i++) {
    const unit = rng.u32() % (CAP / 4096);
    t = i % 17 === 0 ? m.submit(ModelOp.Trim, unit, 1, false, t) : m.submit(ModelOp.Write, unit, 1, false, t);
  }
  return m.submit(ModelOp.Flush, 0, 0, false, t);
}

describe('conv model state', () => {
  it('round-trips through v8 serialization with maps, wear and counters intact', () => {
    const a = new ConvModel(params(), 4096, CAP);
    const t = churn(a, 1, 3000, 1e9);
    expect(a.counters().gcRuns).toBeGreaterThan(0);
    const saved = deserialize(serialize(a.exportState())) as ModelState;
    const b = new ConvModel(params(), 4096, CAP);
    b.importState(saved, 5e12);
    expect(b.counters()).toEqual(a.counters());
    expect(() => b.checkInvariants()).not.toThrow();
    // Both carry on identically in structure (timing state restarts idle, so only wear is compared).
    churn(a, 2, 2000, t);
    churn(b, 2, 2000, 5e12);
    expect(b.counters().erases).toBe(a.counters().erases);
    expect(b.counters().gcPagesMoved).toBe(a.counters().gcPagesMoved);
    expect(() => b.checkInvariants()).not.toThrow();
  });

  it('refuses a state made with other parameters or capacity', () => {
    const a = new ConvModel(params(), 4096, CAP);
    churn(a, 3, 100, 0);
    const s = a.exportState();
    expect(() => new ConvModel(params({ pages_per_block: 4 }), 4096, CAP).importState(s, 0)).toThrow(/other conv parameters/);
    expect(() => new ConvModel(params(), 4096, CAP * 2).importState(s, 0)).toThrow(/other conv parameters/);
    // Timing is not structure: a restore after changing latencies is fine.
    expect(() => new ConvModel(params({ program_latency_ns: 1 }), 4096, CAP).importState(s, 0)).not.toThrow();
    expect(() => new ConvModel(params({ read_latency_ns: [1, 2] }), 4096, CAP).importState(s, 0)).not.toThrow();
  });
});
