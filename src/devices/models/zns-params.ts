// Parameters of the `zns` device: the zone layout the host sees (zone size and capacity, open and
// active limits, zone append size limit, descriptor extensions) and the NAND, firmware and bus
// figures of the timing model. Names are the namespace `emulation` block's keys (snake_case,
// units in the name; sizes in bytes).
import { CELL_BITS, pageTypeNames, type NandParams } from './conv-params.js';

export interface ZnsParams extends NandParams {
  /** Dies (LUNs) a zone is striped over, one-shot page by one-shot page; block = zone / zone_dies. */
  zone_dies: number;
  /** Extra firmware time per channel transfer. */
  firmware_ch_xfer_ns: number;
  max_channel_xfer_size: number;
  write_unit_size: number;
  /** Write buffer per zone, in one-shot pages (0 = one global buffer of write_buffer_size). */
  zone_write_buffer_oneshots: number;
  /** Writes complete once buffered (else when programmed). */
  write_early_completion: boolean;
  /** Bytes; a power of two in logical blocks. */
  zone_size: number;
  /** Writable bytes per zone (0 = zone_size). */
  zone_capacity: number;
  /** 0 = no limit. */
  max_open_zones: number;
  max_active_zones: number;
  /** Bytes, a power of two >= 4 KiB (ZASL granularity); 0 = the preset's MDTS. */
  zone_append_size_limit: number;
  /** Zone descriptor extension bytes per zone, a multiple of 64 (0 = none). */
  zone_descriptor_extension_size: number;
}

/** Runtime-adjustable knobs (per-page-type read latencies appear as read_latency_<type>_ns etc.). */
export const ZNS_SCALAR_TIMING_KEYS = [
  'program_latency_ns',
  'erase_latency_ns',
  'firmware_4k_read_ns',
  'firmware_read_ns',
  'firmware_wbuf_base_ns',
  'firmware_wbuf_per_4k_ns',
  'firmware_ch_xfer_ns',
  'channel_bw_mibps',
  'pcie_bw_mibps',
] as const;

/** Size keys (normalised to bytes by the config loader). */
export const ZNS_SIZE_KEYS = [
  'flash_page_size',
  'oneshot_page_size',
  'max_channel_xfer_size',
  'write_unit_size',
  'write_buffer_size',
  'zone_size',
  'zone_capacity',
  'zone_append_size_limit',
] as const;

/** Controller-wide maximum transfer (Identify MDTS 1 MiB): a zone append cannot be larger. */
export const ZNS_MAX_APPEND_BYTES = 1024 * 1024;
// ZASL is 2^n x 4 KiB with n = 0 meaning "MDTS", so 4 KiB itself cannot be reported.
const MIN_APPEND_BYTES = 8192;
export const ZDE_UNIT = 64;

const pow2 = (n: number): boolean => n > 0 && Number.isInteger(Math.log2(n));

export interface ZnsLayout {
  zoneLbas: number;
  zoneCapLbas: number;
  zones: number;
  appendLimitLbas: number;
  /** ZASL as Identify reports it: 2^zasl x 4 KiB. */
  zasl: number;
  dies: number;
}

/** The host-visible zone layout for a capacity and LBA size (parameters assumed valid). */
export function znsLayout(p: ZnsParams, capacityBytes: number, lbaSize: number, mdts: number): ZnsLayout {
  const zoneLbas = p.zone_size / lbaSize;
  const appendBytes = p.zone_append_size_limit > 0 ? p.zone_append_size_limit : Math.min(ZNS_MAX_APPEND_BYTES, 4096 * 2 ** mdts);
  return {
    zoneLbas,
    zoneCapLbas: (p.zone_capacity > 0 ? p.zone_capacity : p.zone_size) / lbaSize,
    zones: Math.floor(capacityBytes / p.zone_size),
    appendLimitLbas: appendBytes / lbaSize,
    zasl: Math.log2(appendBytes / 4096),
    dies: p.channels * p.luns_per_channel,
  };
}

/** Problems with a parameter set, as [key, message] (key = the emulation block key to blame). */
export function znsParamProblems(p: ZnsParams, capacityBytes: number, lbaSize: number): [string, string][] {
  const out: [string, string][] = [];
  const bits = CELL_BITS[p.cell_type];
  if (!(p.zone_size > 0) || p.zone_size % lbaSize !== 0 || !pow2(p.zone_size / lbaSize)) {
    out.push(['zone_size', `must be a power of two number of logical blocks (lba_size ${lbaSize}), as Linux requires; got ${p.zone_size} bytes`]);
  } else if (capacityBytes % p.zone_size !== 0) {
    out.push(['capacity', `must be a whole number of zones (zone_size ${p.zone_size} bytes), got ${capacityBytes} bytes`]);
  }
  if (p.zone_capacity !== 0 && (p.zone_capacity % lbaSize !== 0 || p.zone_capacity > p.zone_size)) {
    out.push(['zone_capacity', `must be a multiple of lba_size (${lbaSize}) and at most zone_size (${p.zone_size}), got ${p.zone_capacity}`]);
  }
  if (p.max_open_zones > 0 && p.max_active_zones > 0 && p.max_open_zones > p.max_active_zones) {
    out.push(['max_open_zones', `must be at most max_active_zones (${p.max_active_zones}), got ${p.max_open_zones}`]);
  }
  if (p.zone_append_size_limit !== 0 && (!pow2(p.zone_append_size_limit) || p.zone_append_size_limit < MIN_APPEND_BYTES || p.zone_append_size_limit > ZNS_MAX_APPEND_BYTES)) {
    out.push(['zone_append_size_limit', `must be a power of two from 8 KiB to 1 MiB (ZASL cannot say 4 KiB: 0 means MDTS; 1 MiB is the controller's MDTS), got ${p.zone_append_size_limit}`]);
  }
  if (p.zone_descriptor_extension_size % ZDE_UNIT !== 0 || p.zone_descriptor_extension_size > 255 * ZDE_UNIT) {
    out.push(['zone_descriptor_extension_size', `must be a multiple of 64 bytes up to ${255 * ZDE_UNIT}, got ${p.zone_descriptor_extension_size}`]);
  }
  if (p.oneshot_page_size <= 0 || p.flash_page_size <= 0 || p.oneshot_page_size % p.flash_page_size !== 0) {
    out.push(['oneshot_page_size', `must be a positive multiple of flash_page_size (${p.flash_page_size}), got ${p.oneshot_page_size}`]);
  }
  if (p.zone_dies < 1 || p.zone_dies > p.channels * p.luns_per_channel) {
    out.push(['zone_dies', `must be 1..${p.channels * p.luns_per_channel} (channels x luns_per_channel), got ${p.zone_dies}`]);
  }
  for (const k of ['read_4k_latency_ns', 'read_latency_ns'] as const) {
    if (p[k].length !== bits) out.push([k, `must list ${bits} latencies for ${p.cell_type.toUpperCase()} (${pageTypeNames(p.cell_type).join(', ')}), got ${p[k].length}`]);
  }
  if (p.zone_write_buffer_oneshots === 0 && p.write_buffer_size < p.oneshot_page_size) {
    out.push(['write_buffer_size', `must hold at least one one-shot page (${p.oneshot_page_size} bytes) when zone_write_buffer_oneshots is 0, got ${p.write_buffer_size}`]);
  }
  return out;
}
