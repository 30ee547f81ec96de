// Device presets (facts from NVMeVirt's ssd_config.h and spec sheets, see
// ../shared/reference/device-models.md), resolution of a namespace's `emulation` block into full
// model parameters (preset < the block's own keys), and the model factory.
//
// The resolved parameters are plain JSON, so they can be posted to a worker thread and the model
// built there with createModel().
import { ConfigError, type ConfigIssue } from '../config/errors.js';
import type { Emulation, EmulationType, KvEmulation, LbaSize, NvmEmulation, ZnsEmulation } from '../config/topology.js';
import type { KvCommandSet } from '../protocol/kv.js';
import type { DeviceModel } from './model.js';
import { ConvModel } from './models/conv-model.js';
import { CELL_BITS, DEFAULT_MIN_LINES, convParamProblems, type ConvParams, type NandParams } from './models/conv-params.js';
import { KV_TIMING_KEYS, KvModel, kvParamProblems, type KvParams } from './models/kv-model.js';
import { NvmModel, type NvmParams } from './models/nvm-model.js';
import { ZnsModel } from './models/zns-model.js';
import { znsParamProblems, type ZnsParams } from './models/zns-params.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

interface PresetBase {
  /** One line: what it emulates and where the figures come from. */
  description: string;
  /** Maximum data transfer size, as the controller's Identify MDTS (2^mdts x 4 KiB pages). */
  mdts: number;
  lba_size: LbaSize;
}
export interface NvmPreset extends PresetBase {
  params: NvmParams;
}
export interface ConvPreset extends PresetBase {
  params: ConvParams;
}

/** ZNS device figures: NAND, firmware and bus under the conv model's names, plus the zone layout. */
export type ZnsPresetParams = ZnsParams;
export interface ZnsPreset extends PresetBase {
  params: ZnsPresetParams;
}
/** KV device figures: the kv model's parameters (src/devices/models/kv-model.ts). */
export interface KvPreset extends PresetBase {
  cell_type: 'mlc';
  params: KvParams;
}

// Erase latency: NVMeVirt's is 0. Ours is a typical block erase time (tBERS) of NAND datasheets,
// 3-5 ms; FEMU's black-box SSD uses 2 ms and its TLC ZNS model 5 ms. MLC 3.5 ms, TLC 5 ms.
const ERASE_MLC_NS = 3_500_000;
const ERASE_TLC_NS = 5_000_000;

export const NVM_PRESETS: Record<string, NvmPreset> = {
  'intel-optane': {
    description:
      'Intel Optane SSD DC P4800X (375 GB): NVMeVirt eval minimum latencies (read 6.61 µs, write 9.87 µs); ' +
      '4 I/O units give 4 x 4 KiB / 6.61 µs = 2.48 GB/s read (spec sheet: 2,400 MB/s sequential read, ' +
      '550K IOPS 4 KiB random read); write bandwidth set to the spec sheet 2,000 MB/s',
    mdts: 5,
    lba_size: 512,
    params: { read_latency_ns: 6610, write_latency_ns: 9870, io_units: 4, read_bw_mibps: 0, write_bw_mibps: 1907 },
  },
};

export const CONV_PRESETS: Record<string, ConvPreset> = {
  'samsung-970pro': {
    description:
      "Samsung 970 PRO: NVMeVirt's SAMSUNG_970PRO figures (8 ch x 2 LUN MLC, 32 KiB pages, 1 MiB buffer, 7% OP), " +
      'plus a real erase latency (3.5 ms; NVMeVirt: 0)',
    mdts: 6,
    lba_size: 512,
    params: {
      cell_type: 'mlc',
      channels: 8,
      luns_per_channel: 2,
      planes_per_lun: 1,
      // NVMeVirt: 8192 blocks per plane, block size from the capacity (8.5 MiB at 1 TB).
      // Here: 8 MiB blocks, block count from the capacity (see convGeometry).
      pages_per_block: 256,
      min_lines: DEFAULT_MIN_LINES,
      flash_page_size: 32 * KiB,
      oneshot_page_size: 32 * KiB,
      read_4k_latency_ns: [29_760, 41_760],
      read_latency_ns: [30_013, 42_013],
      program_latency_ns: 185_000,
      erase_latency_ns: ERASE_MLC_NS,
      firmware_4k_read_ns: 21_500,
      firmware_read_ns: 30_490,
      firmware_wbuf_base_ns: 4_000,
      firmware_wbuf_per_4k_ns: 460,
      firmware_trim_ns: 4_000,
      channel_bw_mibps: 800,
      pcie_bw_mibps: 3_360,
      write_buffer_size: 1 * MiB,
      over_provisioning: 0.07,
      gc_threshold_lines: 2,
      gc_policy: 'greedy',
      pe_cycles: 3000,
    },
  },
};

export const ZNS_PRESETS: Record<string, ZnsPreset> = {
  'wd-zn540': {
    description:
      "Western Digital Ultrastar DC ZN540: NVMeVirt's WD_ZN540 NAND figures (8 ch x 4 LUN TLC, 2 GiB zones striped over all 32 dies), " +
      'with the drive\'s published zone layout NVMeVirt leaves out: 1077 MiB zone capacity, 14 open / 14 active zones, ' +
      'a real erase latency on zone reset (5 ms; NVMeVirt: 0) and a zone append limit of MDTS (NVMeVirt: 0)',
    mdts: 6,
    lba_size: 512,
    params: {
      cell_type: 'tlc',
      channels: 8,
      luns_per_channel: 4,
      planes_per_lun: 1,
      flash_page_size: 32 * KiB,
      oneshot_page_size: 96 * KiB,
      zone_dies: 32,
      read_4k_latency_ns: [50_000, 50_000, 50_000],
      read_latency_ns: [58_000, 58_000, 58_000],
      program_latency_ns: 561_000,
      erase_latency_ns: ERASE_TLC_NS,
      firmware_4k_read_ns: 20_000,
      firmware_read_ns: 13_000,
      firmware_wbuf_base_ns: 5_600,
      firmware_wbuf_per_4k_ns: 600,
      firmware_ch_xfer_ns: 0,
      channel_bw_mibps: 450,
      pcie_bw_mibps: 3_050,
      max_channel_xfer_size: 32 * KiB,
      write_unit_size: 512,
      zone_write_buffer_oneshots: 10,
      write_buffer_size: 0,
      write_early_completion: true,
      over_provisioning: 0,
      zone_size: 2 * GiB,
      zone_capacity: 1077 * MiB,
      max_open_zones: 14,
      max_active_zones: 14,
      zone_append_size_limit: 0,
      zone_descriptor_extension_size: 0,
      pe_cycles: 1000,
    },
  },
  'zns-prototype': {
    description:
      "NVMeVirt's ZNS prototype figures (8 ch x 16 LUN TLC, 64 KiB pages, 32 MiB zones each on one die, no early completion), " +
      'plus a real erase latency on zone reset (5 ms; NVMeVirt: 0); open and active zones unlimited as in NVMeVirt',
    mdts: 6,
    lba_size: 512,
    params: {
      cell_type: 'tlc',
      channels: 8,
      luns_per_channel: 16,
      planes_per_lun: 1,
      flash_page_size: 64 * KiB,
      oneshot_page_size: 128 * KiB,
      zone_dies: 1,
      read_4k_latency_ns: [25_485, 25_485, 25_485],
      read_latency_ns: [40_950, 40_950, 40_950],
      program_latency_ns: 1_913_640,
      erase_latency_ns: ERASE_TLC_NS,
      firmware_4k_read_ns: 32_150,
      firmware_read_ns: 32_150,
      firmware_wbuf_base_ns: 0,
      firmware_wbuf_per_4k_ns: 0,
      firmware_ch_xfer_ns: 413,
      channel_bw_mibps: 800,
      pcie_bw_mibps: 3_200,
      max_channel_xfer_size: 64 * KiB,
      write_unit_size: 128 * KiB,
      zone_write_buffer_oneshots: 0,
      write_buffer_size: 2 * 8 * 16 * 128 * KiB,
      write_early_completion: false,
      over_provisioning: 0,
      zone_size: 32 * MiB,
      zone_capacity: 0,
      max_open_zones: 0,
      max_active_zones: 0,
      zone_append_size_limit: 0,
      zone_descriptor_extension_size: 0,
      pe_cycles: 1000,
    },
  },
};

export const KV_PRESETS: Record<string, KvPreset> = {
  'kv-prototype': {
    description:
      "NVMeVirt's KV SSD prototype (MLC, MDTS 5, 512 B LBA); NVMeVirt gives no NAND figures for it, so the " +
      "MLC NAND, firmware and bus figures are the samsung-970pro's (8 ch x 2 LUN, 32 KiB pages, 4K read " +
      '29.76 µs, program 185 µs, wbuf 4 µs + 0.46 µs/4K, 4K read firmware 21.5 µs, 800 / 3,360 MiB/s, 1 MiB ' +
      'buffer); a hash-index operation costs 4 µs (NVMeVirt: delete, exist, iterate take 0)',
    mdts: 5,
    lba_size: 512,
    cell_type: 'mlc',
    params: {
      channels: 8,
      luns_per_channel: 2,
      flash_page_size: 32 * KiB,
      nand_read_ns: 29_760,
      program_latency_ns: 185_000,
      firmware_store_ns: 4_000,
      firmware_store_per_4k_ns: 460,
      firmware_retrieve_ns: 21_500,
      index_ns: 4_000,
      list_per_key_ns: 100,
      channel_bw_mibps: 800,
      pcie_bw_mibps: 3_360,
      write_buffer_size: 1 * MiB,
    },
  },
};

const PRESETS: Record<EmulationType, Record<string, PresetBase>> = {
  nvm: NVM_PRESETS,
  conv: CONV_PRESETS,
  zns: ZNS_PRESETS,
  kv: KV_PRESETS,
};

/** Known preset names per emulation type (the config schema validates `preset` against these). */
export const PRESET_NAMES: Record<EmulationType, readonly string[]> = {
  nvm: Object.keys(NVM_PRESETS),
  conv: Object.keys(CONV_PRESETS),
  zns: Object.keys(ZNS_PRESETS),
  kv: Object.keys(KV_PRESETS),
};

/** nvm without a preset: zero latency, unlimited parallelism (a RAM disk). */
export const DEFAULT_NVM_PARAMS: NvmParams = { read_latency_ns: 0, write_latency_ns: 0, io_units: 0, read_bw_mibps: 0, write_bw_mibps: 0 };
/** conv without a preset uses the samsung-970pro figures. */
export const DEFAULT_CONV_PRESET = 'samsung-970pro';
/** kv without a preset uses the kv-prototype figures. */
export const DEFAULT_KV_PRESET = 'kv-prototype';

interface ResolvedCommon {
  /** Marks the output of resolveEmulation (createModel accepts both forms). */
  resolved: true;
  preset?: string;
  capacity: number;
  lba_size: LbaSize;
  /** Undefined = the controller's default. */
  mdts?: number;
}
export interface ResolvedNvm extends ResolvedCommon {
  type: 'nvm';
  params: NvmParams;
}
export interface ResolvedConv extends ResolvedCommon {
  type: 'conv';
  params: ConvParams;
}
export interface ResolvedKv extends ResolvedCommon {
  type: 'kv';
  command_set: KvCommandSet;
  params: KvParams;
}
export interface ResolvedZns extends ResolvedCommon {
  type: 'zns';
  params: ZnsParams;
  mdts: number;
}
export type ResolvedEmulation = ResolvedNvm | ResolvedConv | ResolvedZns | ResolvedKv;
/** zns without a preset uses the zns-prototype figures. */
export const DEFAULT_ZNS_PRESET = 'zns-prototype';

/** The block's own keys that override preset parameters, per type. */
const NVM_KEYS = ['read_latency_ns', 'write_latency_ns', 'io_units', 'read_bw_mibps', 'write_bw_mibps'] as const;

/**
 * Resolve a (validated, normalised) emulation block: preset figures, overridden by the block's own
 * keys. Throws ConfigError for combinations that are invalid together (paths relative to the block,
 * e.g. `oneshot_page_size`).
 */
export function resolveEmulation(e: Emulation): ResolvedEmulation {
  const common = (preset: PresetBase | undefined): ResolvedCommon => {
    const c: ResolvedCommon = { resolved: true, capacity: e.capacity, lba_size: e.lba_size };
    if (e.preset !== undefined) c.preset = e.preset;
    if (preset) c.mdts = preset.mdts;
    return c;
  };
  const preset = e.preset === undefined ? undefined : PRESETS[e.type][e.preset];
  if (e.preset !== undefined && !preset) {
    throw new ConfigError([{ path: 'preset', message: `must be one of ${PRESET_NAMES[e.type].join(', ')}` }]);
  }
  switch (e.type) {
    case 'nvm': {
      const params: NvmParams = { ...(preset ? (preset as NvmPreset).params : DEFAULT_NVM_PARAMS) };
      for (const k of NVM_KEYS) {
        const v = (e as NvmEmulation)[k];
        if (v !== undefined) params[k] = v;
      }
      return { ...common(preset), type: 'nvm', params };
    }
    case 'conv': {
      const base = CONV_PRESETS[e.preset ?? DEFAULT_CONV_PRESET]!;
      const params = resolveNandParams(base.params, e);
      const issues: ConfigIssue[] = convParamProblems(params, e.capacity).map(([path, message]) => ({ path, message }));
      if (issues.length) throw new ConfigError(issues);
      return { ...common(base), type: 'conv', params };
    }
    case 'zns': {
      const base = ZNS_PRESETS[e.preset ?? DEFAULT_ZNS_PRESET]!;
      const params = resolveZnsParams(base.params, e);
      const issues: ConfigIssue[] = znsParamProblems(params, e.capacity, e.lba_size).map(([path, message]) => ({ path, message }));
      if (issues.length) throw new ConfigError(issues);
      return { ...common(base), type: 'zns', params, mdts: base.mdts };
    }
    case 'kv': {
      const base = KV_PRESETS[e.preset ?? DEFAULT_KV_PRESET]!;
      const params: KvParams = { ...base.params };
      for (const k of KV_TIMING_KEYS) {
        const v = (e as KvEmulation)[k];
        if (v !== undefined) params[k] = v;
      }
      const issues: ConfigIssue[] = kvParamProblems(params).map(([path, message]) => ({ path, message }));
      if (issues.length) throw new ConfigError(issues);
      return { ...common(base), type: 'kv', command_set: (e as KvEmulation).command_set, params };
    }
  }
}

/**
 * A NAND model's parameters: the preset's, overridden by the block's own keys; a single read
 * latency applies to every page type of the (possibly overridden) cell type.
 */
function resolveNandParams<P extends NandParams>(base: P, e: object): P {
  const p: P = { ...base, read_4k_latency_ns: [...base.read_4k_latency_ns], read_latency_ns: [...base.read_latency_ns] };
  const over = p as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(e)) {
    if (v === undefined || !(k in p)) continue;
    over[k] = Array.isArray(v) ? [...(v as number[])] : v;
  }
  const bits = CELL_BITS[p.cell_type];
  for (const k of ['read_4k_latency_ns', 'read_latency_ns'] as const) {
    const v = over[k] as number | number[];
    if (typeof v === 'number') p[k] = new Array<number>(bits).fill(v);
  }
  return p;
}

function resolveZnsParams(base: ZnsParams, e: ZnsEmulation): ZnsParams {
  const p = resolveNandParams(base, e);
  // A zone size of one's own without a zone capacity keeps the preset's capacity / size ratio
  // (wd-zn540: 1077 MiB of 2 GiB), rounded down to 4 KiB.
  if (e.zone_size !== undefined && e.zone_capacity === undefined && base.zone_capacity > 0 && e.zone_size !== base.zone_size) {
    p.zone_capacity = Math.max(4096, Math.floor((e.zone_size * (base.zone_capacity / base.zone_size)) / 4096) * 4096);
    if (p.zone_capacity >= p.zone_size) p.zone_capacity = 0;
  }
  return p;
}

/**
 * Build the device model for a namespace. `emulation` is the normalised block from the topology
 * (or the output of resolveEmulation); lbaSize and capacityBytes default to its own.
 */
export function createModel(
  emulation: Emulation | ResolvedEmulation,
  lbaSize: number = emulation.lba_size,
  capacityBytes: number = emulation.capacity,
): DeviceModel {
  const r = 'resolved' in emulation ? emulation : resolveEmulation(emulation);
  switch (r.type) {
    case 'nvm':
      return new NvmModel(r.params, lbaSize, capacityBytes);
    case 'conv':
      return new ConvModel(r.params, lbaSize, capacityBytes);
    case 'zns':
      return new ZnsModel(r.params, lbaSize, capacityBytes);
    case 'kv':
      return new KvModel(r.params, lbaSize, capacityBytes);
  }
}
