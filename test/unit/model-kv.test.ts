import { describe, expect, it } from 'vitest';
import { ModelOp } from '../../src/devices/model.js';
import { KvModel, type KvParams } from '../../src/devices/models/kv-model.js';
import { createModel, KV_PRESETS, resolveEmulation } from '../../src/devices/presets.js';

const proto = (): KvParams => ({ ...KV_PRESETS['kv-prototype']!.params });
const model = (o: Partial<KvParams> = {}): KvModel => new KvModel({ ...proto(), ...o }, 512, 1 << 30);
const MiB = 2 ** 20;

describe('KvModel', () => {
  it('the ModelOp codes are fixed: KvStore 8 .. KvList 12', () => {
    expect([ModelOp.KvStore, ModelOp.KvRetrieve, ModelOp.KvDelete, ModelOp.KvExist, ModelOp.KvList]).toEqual([8, 9, 10, 11, 12]);
  });

  it('times every KV command; delete and exist are index operations, not free (NVMeVirt: 0)', () => {
    const m = model();
    expect(m.submit(ModelOp.KvDelete, 100, 16, false, 1000)).toBe(1000 + 4000);
    expect(m.submit(ModelOp.KvExist, 0, 16, false, 1000)).toBe(1000 + 4000);
    expect(m.submit(ModelOp.KvList, 0, 10, false, 0)).toBeGreaterThanOrEqual(4000 + 10 * 100);
  });

  it('store: firmware base + per 4 KiB + index + PCIe, completing early into the write buffer', () => {
    const m = model();
    const pcie = (b: number): number => (b * 1e9) / (3360 * MiB);
    expect(m.submit(ModelOp.KvStore, 36, 15, false, 0)).toBe(Math.ceil(Math.max(4000 + 460 + 4000, pcie(36))));
    const m2 = model();
    const t = m2.submit(ModelOp.KvStore, 128 * 1024, 16, false, 0);
    expect(t).toBe(Math.ceil(Math.max(4000 + 32 * 460 + 4000, pcie(128 * 1024))));
    // Below a NAND program: the value is only buffered.
    expect(t).toBeLessThan(185_000);
  });

  it('store: a full write buffer makes stores wait for NAND programs', () => {
    const m = model();
    const ends: number[] = [];
    for (let i = 0; i < 64; i++) ends.push(m.submit(ModelOp.KvStore, 128 * 1024, 16, false, 0)); // 8 MiB at once
    // Drain rate: 16 LUNs x 32 KiB per 185 µs; beyond the 1 MiB buffer, time grows with it.
    const drainNsPerByte = 185_000 / (16 * 32 * 1024);
    expect(ends[63]!).toBeGreaterThan((8 * MiB - 1 * MiB) * drainNsPerByte * 0.95);
    expect(ends[0]!).toBeLessThan(50_000);
    // Flush waits for the buffer to drain.
    expect(m.submit(ModelOp.Flush, 0, 0, false, 0)).toBeGreaterThanOrEqual(Math.floor(8 * MiB * drainNsPerByte));
  });

  it('retrieve grows with the size: firmware + index + NAND reads over the LUNs + channel + PCIe; a miss costs no NAND', () => {
    const m = model();
    const miss = m.submit(ModelOp.KvRetrieve, 0, 16, false, 0);
    expect(miss).toBe(21_500 + 4000);
    const small = model().submit(ModelOp.KvRetrieve, 36, 16, false, 0);
    expect(small).toBeGreaterThanOrEqual(21_500 + 4000 + 29_760);
    const big = model().submit(ModelOp.KvRetrieve, 1 * MiB, 16, false, 0); // 32 pages over 16 LUNs: 2 reads
    expect(big).toBeGreaterThanOrEqual(21_500 + 4000 + 2 * 29_760 + (MiB * 1e9) / (3360 * MiB));
    expect(big).toBeGreaterThan(small);
    expect(m.counters().hostReadBytes).toBe(0);
  });

  it('counters: stored, retrieved and deleted bytes', () => {
    const m = model();
    m.submit(ModelOp.KvStore, 1000, 4, false, 0);
    m.submit(ModelOp.KvRetrieve, 600, 4, false, 0);
    m.submit(ModelOp.KvDelete, 1000, 4, false, 0);
    expect(m.counters()).toMatchObject({ hostWrittenBytes: 1000, hostReadBytes: 600, trimmedBytes: 1000 });
  });

  it('timing knobs change at run time; unknown keys and bad values throw', () => {
    const m = model();
    m.setTiming({ index_ns: 0 });
    expect(m.submit(ModelOp.KvExist, 0, 4, false, 500)).toBe(500);
    expect(m.timing()).toMatchObject({ index_ns: 0, nand_read_ns: 29_760 });
    expect(() => m.setTiming({ read_latency_ns: 1 })).toThrow(/unknown timing parameter/);
    expect(() => m.setTiming({ channels: 0 })).toThrow(/channels/);
  });

  it('createModel builds it from a kv emulation block (preset default kv-prototype, overrides applied)', () => {
    const e = { type: 'kv' as const, capacity: 1 << 30, lba_size: 512 as const, command_set: 'nvmevirt' as const, vendor_key_length: 'bytes' as const, index_ns: 100 };
    const r = resolveEmulation(e);
    expect(r).toMatchObject({ type: 'kv', command_set: 'nvmevirt', mdts: 5, params: { index_ns: 100, nand_read_ns: 29_760 } });
    const m = createModel(e);
    expect(m.kind).toBe('kv');
    expect(m.submit(ModelOp.KvExist, 0, 4, false, 0)).toBe(100);
  });
});
