import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { validateEmulation, type Emulation } from '../../src/config/topology.js';
import { ConvModel } from '../../src/devices/models/conv-model.js';
import { NvmModel } from '../../src/devices/models/nvm-model.js';
import { CONV_PRESETS, KV_PRESETS, PRESET_NAMES, ZNS_PRESETS, createModel, resolveEmulation } from '../../src/devices/presets.js';

const GiB = 1024 ** 3;

describe('presets', () => {
  it('names the presets per type', () => {
    expect(PRESET_NAMES).toEqual({ nvm: ['intel-optane'], conv: ['samsung-970pro'], zns: ['wd-zn540', 'zns-prototype'], kv: ['kv-prototype'] });
  });

  it('samsung-970pro carries the device-models.md figures', () => {
    const p = CONV_PRESETS['samsung-970pro']!;
    expect(p).toMatchObject({ mdts: 6, lba_size: 512 });
    expect(p.params).toMatchObject({
      cell_type: 'mlc',
      channels: 8,
      luns_per_channel: 2,
      planes_per_lun: 1,
      flash_page_size: 32768,
      oneshot_page_size: 32768,
      read_4k_latency_ns: [29_760, 41_760],
      read_latency_ns: [30_013, 42_013],
      program_latency_ns: 185_000,
      firmware_4k_read_ns: 21_500,
      firmware_read_ns: 30_490,
      firmware_wbuf_base_ns: 4_000,
      firmware_wbuf_per_4k_ns: 460,
      channel_bw_mibps: 800,
      pcie_bw_mibps: 3_360,
      write_buffer_size: 1024 * 1024,
      over_provisioning: 0.07,
      gc_threshold_lines: 2,
      pe_cycles: 3000,
    });
    expect(p.params.erase_latency_ns).toBe(3_500_000); // NVMeVirt: 0
  });

  it('zns presets resolve into a zns model; the kv preset feeds the kv model', () => {
    expect(ZNS_PRESETS['wd-zn540']!.params).toMatchObject({
      channels: 8, luns_per_channel: 4, oneshot_page_size: 96 * 1024, zone_size: 2 * GiB, program_latency_ns: 561_000,
      zone_capacity: 1077 * 1024 ** 2, max_open_zones: 14, max_active_zones: 14, erase_latency_ns: 5_000_000,
    });
    expect(ZNS_PRESETS['zns-prototype']!.params).toMatchObject({ luns_per_channel: 16, zone_size: 32 * 1024 ** 2, write_early_completion: false });
    expect(KV_PRESETS['kv-prototype']).toMatchObject({ mdts: 5, lba_size: 512, cell_type: 'mlc', params: { channels: 8, nand_read_ns: 29_760, program_latency_ns: 185_000 } });
    const r = resolveEmulation(validateEmulation({ type: 'zns', preset: 'wd-zn540', capacity: '64MiB', zone_size: '4MiB', read_latency_ns: 60_000 }));
    expect(r).toMatchObject({ type: 'zns', mdts: 6, params: { zone_size: 4 * 1024 ** 2, channels: 8, read_latency_ns: [60_000, 60_000, 60_000] } });
    expect(createModel(r).kind).toBe('zns');
    // zone_size alone keeps the preset's capacity / size ratio (1077/2048), rounded down to 4 KiB.
    if (r.type !== 'zns') throw new Error('type');
    expect(r.params.zone_capacity).toBe(Math.floor((4 * 1024 ** 2 * 1077) / 2048 / 4096) * 4096);
    expect(() => resolveEmulation(validateEmulation({ type: 'kv', capacity: '4GiB' }))).not.toThrow();
  });
});

describe('resolveEmulation / createModel', () => {
  it('overrides preset figures with the block keys; a single read latency covers every page type', () => {
    const r = resolveEmulation(
      validateEmulation({ type: 'conv', preset: 'samsung-970pro', capacity: '2GiB', read_latency_ns: 50_000, gc_policy: 'cost-benefit', write_buffer_size: '4MiB' }),
    );
    expect(r).toMatchObject({ type: 'conv', preset: 'samsung-970pro', capacity: 2 * GiB, lba_size: 512, mdts: 6, resolved: true });
    if (r.type !== 'conv') throw new Error('type');
    expect(r.params.read_latency_ns).toEqual([50_000, 50_000]);
    expect(r.params.read_4k_latency_ns).toEqual([29_760, 41_760]);
    expect(r.params.gc_policy).toBe('cost-benefit');
    expect(r.params.write_buffer_size).toBe(4 * 1024 * 1024);
    expect(CONV_PRESETS['samsung-970pro']!.params.read_latency_ns).toEqual([30_013, 42_013]); // preset untouched
    // A conv block without a preset gets the samsung-970pro figures.
    const plain = resolveEmulation(validateEmulation({ type: 'conv', capacity: '1GiB' }));
    expect(plain.params).toEqual(CONV_PRESETS['samsung-970pro']!.params);
    expect(plain.preset).toBeUndefined();
  });

  it('nvm: zero latency without a preset; the preset with overrides', () => {
    expect(resolveEmulation(validateEmulation({ type: 'nvm', capacity: '1GiB' })).params).toEqual({
      read_latency_ns: 0,
      write_latency_ns: 0,
      io_units: 0,
      read_bw_mibps: 0,
      write_bw_mibps: 0,
    });
    const r = resolveEmulation(validateEmulation({ type: 'nvm', preset: 'intel-optane', capacity: '1GiB', io_units: 8 }));
    expect(r.params).toEqual({ read_latency_ns: 6610, write_latency_ns: 9870, io_units: 8, read_bw_mibps: 0, write_bw_mibps: 1907 });
    expect(r.mdts).toBe(5);
  });

  it('reports combinations that do not fit, with paths under the block', () => {
    const e = { type: 'conv', capacity: GiB, lba_size: 512, oneshot_page_size: 40960 } as Emulation;
    let err: unknown;
    try {
      resolveEmulation(e);
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).errors).toEqual([{ path: 'oneshot_page_size', message: 'must be a positive multiple of flash_page_size (32768), got 40960' }]);
    expect(() => validateEmulation({ type: 'conv', capacity: GiB, write_buffer_size: '16KiB' })).toThrow(/emulation.write_buffer_size: must hold at least one one-shot page/);
  });

  it('builds the models; resolved parameters are plain JSON (for a worker thread)', () => {
    const e = validateEmulation({ type: 'conv', preset: 'samsung-970pro', capacity: '1GiB', lba_size: 4096 });
    const r = JSON.parse(JSON.stringify(resolveEmulation(e)));
    const m = createModel(r);
    expect(m).toBeInstanceOf(ConvModel);
    expect(m).toMatchObject({ kind: 'conv', lbaSize: 4096, nlb: GiB / 4096 });
    const n = createModel(validateEmulation({ type: 'nvm', preset: 'intel-optane', capacity: '1GiB' }), 512, 2 * GiB);
    expect(n).toBeInstanceOf(NvmModel);
    expect(n.nlb).toBe((2 * GiB) / 512);
  });

  it('geometry follows the capacity: 8 MiB blocks from 64 GiB, smaller below (>= min_lines lines); memory ~2.1 MiB per GiB', () => {
    const geo = (capacity: string, over: Record<string, unknown> = {}) =>
      (createModel(validateEmulation({ type: 'conv', preset: 'samsung-970pro', capacity, ...over })) as ConvModel).geometry;
    const g64 = geo('64GiB');
    expect(g64.unitsPerBlock * 4096).toBe(8 * 1024 ** 2);
    expect(g64.lines).toBeGreaterThanOrEqual(512);
    expect(g64.effectiveOp).toBeCloseTo(0.07, 2);
    expect(g64.memoryBytes / 64 / 1024 ** 2).toBeCloseTo(2.07, 1);
    const g1 = geo('1GiB');
    expect(g1.lines).toBeGreaterThanOrEqual(512);
    expect(g1.unitsPerBlock * 4096).toBe(128 * 1024);
    expect(geo('1GiB', { min_lines: 0 }).unitsPerBlock * 4096).toBe(8 * 1024 ** 2);
    // Tiny namespaces still get enough spare lines for GC.
    const tiny = geo('1MiB');
    expect(tiny.lines * tiny.unitsPerLine).toBeGreaterThan(tiny.logicalPages);
  });
});
