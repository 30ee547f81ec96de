// Parameters of the conventional SSD model and the geometry derived from them and a capacity.
// Names are the namespace `emulation` block's keys (snake_case, units in the name).

export const CELL_TYPES = ['slc', 'mlc', 'tlc', 'qlc'] as const;
export type CellType = (typeof CELL_TYPES)[number];
export const GC_POLICIES = ['greedy', 'cost-benefit'] as const;
export type GcPolicy = (typeof GC_POLICIES)[number];

/** Bits per cell = page types per word line (LSB, CSB, MSB, TSB). */
export const CELL_BITS: Record<CellType, number> = { slc: 1, mlc: 2, tlc: 3, qlc: 4 };
/** Page type names in the order read latency arrays list them. */
export const PAGE_TYPES = ['lsb', 'csb', 'msb', 'tsb'] as const;
export function pageTypeNames(cell: CellType): string[] {
  const n = CELL_BITS[cell];
  return n === 1 ? ['lsb'] : n === 2 ? ['lsb', 'msb'] : PAGE_TYPES.slice(0, n);
}

/** The mapping unit (and the unit of the write buffer). */
export const MAP_UNIT = 4096;

/** The NAND, firmware and bus figures every flash model (conv, zns) has. */
export interface NandParams {
  cell_type: CellType;
  channels: number;
  luns_per_channel: number;
  planes_per_lun: number;
  /** Bytes; a multiple of 4 KiB. */
  flash_page_size: number;
  /** Program unit in bytes; a multiple of flash_page_size. */
  oneshot_page_size: number;
  /** NAND read of a single 4 KiB unit, per page type (LSB first), ns. */
  read_4k_latency_ns: number[];
  /** NAND read of more than 4 KiB of one flash page, per page type, ns. */
  read_latency_ns: number[];
  program_latency_ns: number;
  erase_latency_ns: number;
  /** Controller time before the NAND read of a command of <= 4 KiB / of more. */
  firmware_4k_read_ns: number;
  firmware_read_ns: number;
  /** Controller time to accept a write into the buffer: base + per 4 KiB. */
  firmware_wbuf_base_ns: number;
  firmware_wbuf_per_4k_ns: number;
  channel_bw_mibps: number;
  pcie_bw_mibps: number;
  /** Bytes of write buffer (conv: at least one one-shot page). */
  write_buffer_size: number;
  /** Physical = logical x (1 + over_provisioning). */
  over_provisioning: number;
  /** Rated program/erase cycles per block (SMART percentage used = avg erases / this). */
  pe_cycles: number;
}

export interface ConvParams extends NandParams {
  /** Flash pages per block (a multiple of the flash pages per one-shot page); see convGeometry. */
  pages_per_block: number;
  /** Fewest lines a namespace gets: smaller capacities get smaller blocks (0 = never shrink). */
  min_lines: number;
  /** Controller time of a deallocate (map update only). */
  firmware_trim_ns: number;
  /** GC runs when free lines <= this. */
  gc_threshold_lines: number;
  gc_policy: GcPolicy;
}

/** Runtime-adjustable knobs (per-page-type latencies appear as read_latency_<type>_ns etc.). */
export const CONV_SCALAR_TIMING_KEYS = [
  'program_latency_ns',
  'erase_latency_ns',
  'firmware_4k_read_ns',
  'firmware_read_ns',
  'firmware_wbuf_base_ns',
  'firmware_wbuf_per_4k_ns',
  'firmware_trim_ns',
  'channel_bw_mibps',
  'pcie_bw_mibps',
] as const;

export interface ConvGeometry {
  logicalPages: number;
  /** 4 KiB units per flash page / per one-shot page / per block. */
  unitsPerFlashPage: number;
  unitsPerOneshot: number;
  unitsPerBlock: number;
  flashPagesPerBlock: number;
  /** Parallel units (channel x LUN x plane), i.e. blocks per line; and LUNs. */
  pus: number;
  luns: number;
  lines: number;
  unitsPerLine: number;
  physicalPages: number;
  blocks: number;
  bitsPerCell: number;
  /** Over-provisioning actually obtained after rounding to whole lines. */
  effectiveOp: number;
  /** Bytes of model state with every unit mapped (maps and per-line/per-block arrays); the maps are sparse, so unwritten space costs nothing. */
  memoryBytes: number;
}

/** Lines beyond the logical capacity that GC needs to always find a victim with an invalid page. */
export function minSpareLines(p: Pick<ConvParams, 'gc_threshold_lines'>): number {
  return p.gc_threshold_lines + 3;
}

/**
 * samsung-970pro's min_lines. Small namespaces get smaller blocks so that they still have this many
 * lines: the free lines GC keeps (gc_threshold_lines) and the two open lines come out of the
 * over-provisioning, so with few lines little of it is left to GC and WAF rises (137 lines of
 * 128 MiB at 16 GiB leave ~4% of 7%). Smaller blocks make erases weigh more per page written
 * instead; 512 lines is the compromise (samsung-970pro keeps its 8 MiB blocks from 64 GiB up).
 */
export const DEFAULT_MIN_LINES = 512;

/**
 * Geometry for `capacityBytes` of logical space. The channel/LUN/plane layout, page sizes and
 * block size (pages_per_block) are the preset's; the number of blocks per plane (= lines) follows
 * the capacity: physical = logical x (1 + over_provisioning), rounded up to whole lines. Blocks keep
 * their real size because erase latency is real here (NVMeVirt instead fixes 8192 blocks per plane
 * and sizes blocks from the capacity, harmless with its zero erase time, but a 16 GiB namespace
 * would get 4-page blocks whose erases weigh 64 times too much). Below min_lines lines (capacities
 * under 64 GiB for samsung-970pro) the block is halved, in one-shot page steps, until there are
 * min_lines lines, so over-provisioning and the GC threshold keep their meaning (see
 * DEFAULT_MIN_LINES). At least
 * gc_threshold_lines + 3 spare lines are always added, so that GC always finds a victim.
 */
export function convGeometry(p: ConvParams, capacityBytes: number): ConvGeometry {
  const logicalPages = Math.ceil(capacityBytes / MAP_UNIT);
  const unitsPerFlashPage = p.flash_page_size / MAP_UNIT;
  const unitsPerOneshot = p.oneshot_page_size / MAP_UNIT;
  const flashPerOneshot = p.oneshot_page_size / p.flash_page_size;
  const bitsPerCell = CELL_BITS[p.cell_type];
  const luns = p.channels * p.luns_per_channel;
  const pus = luns * p.planes_per_lun;
  const target = logicalPages * (1 + p.over_provisioning);
  const minPages = Math.ceil(bitsPerCell / flashPerOneshot) * flashPerOneshot;
  let flashPagesPerBlock = p.pages_per_block;
  while (flashPagesPerBlock > minPages && target / (pus * flashPagesPerBlock * unitsPerFlashPage) < p.min_lines) {
    flashPagesPerBlock = Math.max(minPages, Math.floor(flashPagesPerBlock / 2 / flashPerOneshot) * flashPerOneshot);
  }
  const unitsPerBlock = flashPagesPerBlock * unitsPerFlashPage;
  const unitsPerLine = pus * unitsPerBlock;
  const lines = Math.max(Math.ceil(target / unitsPerLine), Math.ceil(logicalPages / unitsPerLine) + minSpareLines(p));
  const physicalPages = lines * unitsPerLine;
  const blocks = lines * pus;
  const memoryBytes = 4 * logicalPages + 4 * physicalPages + lines * (4 + 1 + 8 + 4) + 4 * blocks;
  return {
    logicalPages,
    unitsPerFlashPage,
    unitsPerOneshot,
    unitsPerBlock,
    flashPagesPerBlock,
    pus,
    luns,
    lines,
    unitsPerLine,
    physicalPages,
    blocks,
    bitsPerCell,
    effectiveOp: physicalPages / logicalPages - 1,
    memoryBytes,
  };
}

/** Problems with a parameter set, as [key, message] (key = the emulation block key to blame). */
export function convParamProblems(p: ConvParams, capacityBytes: number): [string, string][] {
  const out: [string, string][] = [];
  const bits = CELL_BITS[p.cell_type];
  if (p.flash_page_size % MAP_UNIT !== 0 || p.flash_page_size <= 0) out.push(['flash_page_size', `must be a positive multiple of 4 KiB, got ${p.flash_page_size}`]);
  const oneshotOk = p.flash_page_size > 0 && p.oneshot_page_size > 0 && p.oneshot_page_size % p.flash_page_size === 0;
  if (!oneshotOk) {
    out.push(['oneshot_page_size', `must be a positive multiple of flash_page_size (${p.flash_page_size}), got ${p.oneshot_page_size}`]);
  } else if (p.pages_per_block % (p.oneshot_page_size / p.flash_page_size) !== 0) {
    out.push(['pages_per_block', `must be a multiple of the flash pages per one-shot page (${p.oneshot_page_size / p.flash_page_size})`]);
  }
  for (const k of ['read_4k_latency_ns', 'read_latency_ns'] as const) {
    if (p[k].length !== bits) out.push([k, `must list ${bits} latencies for ${p.cell_type.toUpperCase()} (${pageTypeNames(p.cell_type).join(', ')}), got ${p[k].length}`]);
  }
  if (p.write_buffer_size < p.oneshot_page_size) {
    out.push(['write_buffer_size', `must hold at least one one-shot page (${p.oneshot_page_size} bytes), got ${p.write_buffer_size}`]);
  }
  if (out.length === 0) {
    const g = convGeometry(p, capacityBytes);
    if (g.physicalPages >= 0xffffffff) out.push(['capacity', `too large for 32-bit page maps (${g.physicalPages} physical 4 KiB pages)`]);
  }
  return out;
}
