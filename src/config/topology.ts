// Namespace/subsystem topology: the JSON file in the shape of Linux nvmetcli's
// save file (/etc/nvmet/config.json) plus our per-namespace `emulation` block.
//
// Validation is two-phase so that every problem is reported at once:
//  1. ajv (allErrors) checks structure: object shapes, unknown keys, required
//     keys, and leaf values via the custom `leaf` keyword (see LEAVES).
//  2. Our own code checks cross-references (NQNs, duplicates, address/family).
//     It runs even when phase 1 failed, reading the raw input defensively.
// Only when both are clean is the input normalised into the typed Topology; then
//  3. each emulation block is resolved against its preset (src/devices/presets.ts),
//     which reports keys that are fine alone but not together (e.g. a one-shot
//     page that is not a multiple of the flash page).
import { isIPv4, isIPv6 } from 'node:net';
import { Ajv, type ErrorObject, type SchemaValidateFunction } from 'ajv';
import { ConfigError, joinPath, pointerToPath, type ConfigIssue } from './errors.js';
import { parseSize } from './size.js';
import { PRESET_NAMES, resolveEmulation } from '../devices/presets.js';
import { CELL_TYPES, GC_POLICIES, MAP_UNIT, type ConvParams } from '../devices/models/conv-params.js';
import type { KvParams } from '../devices/models/kv-model.js';
import { KV_COMMAND_SETS, type KvCommandSet } from '../protocol/kv.js';
import { ZNS_SIZE_KEYS, type ZnsParams } from '../devices/models/zns-params.js';
import { DH_GROUPS, HASHES, parseDhchapKey } from '../protocol/auth.js';

export { ConfigError, type ConfigIssue } from './errors.js';

// ---------------------------------------------------------------------------
// Normalised types (what validateTopology returns)

export const EMULATION_TYPES = ['nvm', 'conv', 'zns', 'kv'] as const;
export type EmulationType = (typeof EMULATION_TYPES)[number];
export const LBA_SIZES = [512, 4096] as const;
export type LbaSize = (typeof LBA_SIZES)[number];
export const TREQ_VALUES = ['not specified', 'required', 'not required'] as const;
export type Treq = (typeof TREQ_VALUES)[number];
export type Adrfam = 'ipv4' | 'ipv6';

export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
export const NQN_MAX_BYTES = 223;
/** In-capsule data size used when the file does not set one (or nvmetcli's "-1"). */
export const DEFAULT_INLINE_DATA_SIZE = 8192;
export const MAX_INLINE_DATA_SIZE = 1048576;
/** Kernel nvmet defaults, so nvmetcli files behave the same here. */
export const DEFAULT_CNTLID_MIN = 1;
export const DEFAULT_CNTLID_MAX = 0xffef;
export const DEFAULT_QID_MAX = 128;
export const DEFAULT_MODEL = 'nvmf-emu';

export interface HostConfig {
  nqn: string;
  /**
   * DH-HMAC-CHAP host secret (`DHHC-1:..`, nvme-cli's format). Set: the host must authenticate on
   * every queue to subsystems that list it in allowed_hosts (as nvmet: not for discovery or
   * allow_any_host subsystems).
   */
  dhchap_key?: string;
  /** Controller secret: the host may then also authenticate the controller (bidirectional). */
  dhchap_ctrl_key?: string;
  /** Hashes the target accepts, in the order it prefers them (nvmet names, e.g. "hmac(sha256)"). */
  dhchap_hash?: string[];
  /** DH groups the target accepts, in the order it prefers them ("null", "ffdhe2048".."ffdhe8192"). */
  dhchap_dhgroup?: string[];
}

export interface PortAddr {
  trtype: 'tcp';
  adrfam: Adrfam;
  /** As written in the file (not canonicalised); wildcard "0.0.0.0" / "::" means listen on all. */
  traddr: string;
  trsvcid: number;
  treq: Treq;
}

export interface PortParam {
  /** Max in-capsule data bytes for I/O queues (admin queue is fixed by the spec). */
  inline_data_size: number;
  /** undefined = transport default (nvmetcli writes "-1" for that). */
  max_queue_size?: number;
  pi_enable: boolean;
}

export interface PortConfig {
  portid: number;
  addr: PortAddr;
  param: PortParam;
  /** Subsystem NQNs exported on this port; each is one of Topology.subsystems. */
  subsystems: string[];
}

export interface SubsystemAttr {
  allow_any_host: boolean;
  /** undefined = derive one (left to the controller layer). */
  serial?: string;
  model: string;
  /** NVMe version string such as "1.3" or "2.0.1"; undefined = controller default. */
  version?: string;
  cntlid_min: number;
  cntlid_max: number;
  qid_max: number;
  firmware?: string;
  /** 24-bit IEEE OUI. */
  ieee_oui?: number;
  pi_enable: boolean;
  offload: boolean;
}

export interface SubsystemConfig {
  nqn: string;
  attr: SubsystemAttr;
  /** Host NQNs allowed when attr.allow_any_host is false; each is declared in Topology.hosts. */
  allowed_hosts: string[];
  namespaces: NamespaceConfig[];
}

export interface NamespaceDevice {
  path?: string;
  /** Lower-case RFC 4122 form; a nil UUID in the file normalises to undefined. */
  uuid?: string;
  /** 32 lower-case hex digits, no dashes; all-zero (nvmetcli's "unset") normalises to undefined. */
  nguid?: string;
  /** 16 lower-case hex digits; all-zero normalises to undefined. */
  eui64?: string;
}

interface EmulationCommon {
  /** One of PRESET_NAMES[type]; the block's other keys override the preset's figures. */
  preset?: string;
  /** Bytes; a positive multiple of lba_size. */
  capacity: number;
  lba_size: LbaSize;
}
export interface NvmEmulation extends EmulationCommon {
  type: 'nvm';
  /** Default 0 without a preset; absent = the preset's figure. */
  read_latency_ns?: number;
  write_latency_ns?: number;
  /** Parallel I/O units (NVMeVirt's `slot`), 0 = unlimited. */
  io_units?: number;
  /** MiB/s, 0 = derived from io_units x 4 KiB / latency. */
  read_bw_mibps?: number;
  write_bw_mibps?: number;
}
/**
 * conv: overrides of the preset's ConvParams (see src/devices/models/conv-params.ts); sizes in
 * bytes; a read latency given as one number applies to every page type.
 */
export type ConvEmulation = EmulationCommon & { type: 'conv' } & Partial<
    Omit<ConvParams, 'read_4k_latency_ns' | 'read_latency_ns'> & { read_4k_latency_ns: number | number[]; read_latency_ns: number | number[] }
  >;
/**
 * kv: a key-value SSD. `command_set` picks how hosts drive it: "nvmevirt" (default: NVMeVirt /
 * Samsung KV-SSD vendor opcodes on a namespace that identifies as NVM, CSI 0) or "nvme-kv" (the
 * NVMe Key Value Command Set, CSI 01h). Other keys override the preset's KvParams.
 */
export type KvEmulation = EmulationCommon & { type: 'kv'; command_set: KvCommandSet; vendor_key_length: KvVendorKeyLength } & Partial<KvParams>;
export const DEFAULT_KV_COMMAND_SET: KvCommandSet = 'nvmevirt';
/**
 * How the vendor layout reads CDW11[7:0]: "bytes" (default: the key length, as NVMeVirt users'
 * scripts pass it) or "zero-based" (length - 1, as NVMeVirt's code and Samsung's KV SDK use it).
 */
export const KV_VENDOR_KEY_LENGTHS = ['bytes', 'zero-based'] as const;
export type KvVendorKeyLength = (typeof KV_VENDOR_KEY_LENGTHS)[number];
/**
 * zns: overrides of the preset's ZnsParams (see src/devices/models/zns-params.ts): zone layout
 * (zone_size, zone_capacity, max_open_zones, max_active_zones, zone_append_size_limit,
 * zone_descriptor_extension_size) and NAND timing; sizes in bytes.
 */
export type ZnsEmulation = EmulationCommon & { type: 'zns' } & Partial<
    Omit<ZnsParams, 'read_4k_latency_ns' | 'read_latency_ns'> & { read_4k_latency_ns: number | number[]; read_latency_ns: number | number[] }
  >;
export type Emulation = NvmEmulation | ConvEmulation | ZnsEmulation | KvEmulation;

export interface NamespaceConfig {
  nsid: number;
  enable: boolean;
  device: NamespaceDevice;
  ana_grpid?: number;
  emulation: Emulation;
}

export interface Topology {
  hosts: HostConfig[];
  ports: PortConfig[];
  subsystems: SubsystemConfig[];
  /** Daemon settings file layer, passed through unvalidated (settings.ts validates it). */
  settings?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------
// Input types (what the JSON file may contain; nvmetcli writes most scalars as strings)

type Boolish = boolean | 0 | 1 | '0' | '1';
type Intish = number | string;

export interface TopologyInput {
  hosts?: { nqn: string; dhchap_key?: string; dhchap_ctrl_key?: string; dhchap_hash?: string | string[]; dhchap_dhgroup?: string | string[] }[];
  ports?: {
    portid: number;
    addr: { trtype: 'tcp'; adrfam: Adrfam; traddr: string; trsvcid: Intish; treq?: Treq; tsas?: 'none' | 'not required' };
    param?: { inline_data_size?: Intish; max_queue_size?: Intish; pi_enable?: Boolish };
    subsystems?: string[];
    referrals?: [];
    ana_groups?: unknown[];
  }[];
  subsystems?: {
    nqn: string;
    attr?: {
      allow_any_host?: Boolish;
      serial?: string;
      model?: string;
      version?: string;
      cntlid_min?: Intish;
      cntlid_max?: Intish;
      qid_max?: Intish;
      firmware?: string;
      ieee_oui?: Intish;
      pi_enable?: Boolish;
      offload?: Boolish;
    };
    allowed_hosts?: string[];
    namespaces?: {
      nsid: number;
      enable?: Boolish;
      device?: { path?: string; uuid?: string; nguid?: string; eui64?: string };
      ana_grpid?: number;
      ana?: { grpid?: Intish };
      resv?: { enable?: Boolish };
      emulation: {
        type: EmulationType;
        preset?: string;
        capacity: number | string;
        lba_size?: LbaSize;
        read_latency_ns?: number;
        write_latency_ns?: number;
        params?: Record<string, unknown>;
        /** Type-specific keys: see EMULATION_TYPE_KEYS. */
        [key: string]: unknown;
      };
    }[];
  }[];
  settings?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------
// Leaf value parsers: used both by the ajv `leaf` keyword (for the error
// reason) and by normalisation (for the value), so they cannot disagree.

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };
type Leaf<T> = (v: unknown) => Parsed<T>;
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T = never>(reason: string): Parsed<T> => ({ ok: false, reason });

const bool: Leaf<boolean> = (v) =>
  v === true || v === 1 || v === '1'
    ? ok(true)
    : v === false || v === 0 || v === '0'
      ? ok(false)
      : bad('must be a boolean (true/false, 1/0 or "1"/"0")');

/** Integer given as a number or a decimal string (nvmetcli writes configfs values as strings). */
const uint =
  (min: number, max: number, what = 'an integer'): Leaf<number> =>
  (v) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
    return Number.isInteger(n) && n >= min && n <= max ? ok(n) : bad(`must be ${what} in ${min}..${max}`);
  };

/** nvmetcli saves "-1" for port params the kernel leaves to the transport default. */
const orDefault =
  <T>(inner: Leaf<number>, dflt: T): Leaf<number | T> =>
  (v) => {
    if (v === -1 || v === '-1') return ok(dflt);
    const r = inner(v);
    return r.ok ? r : bad(`${r.reason} (or -1 for the default)`);
  };

const nqn =
  (subsystem: boolean): Leaf<string> =>
  (v) => {
    if (typeof v !== 'string') return bad('must be string');
    if (!v.startsWith('nqn.') || v.length === 4) return bad('must be an NQN starting with "nqn."');
    const bytes = Buffer.byteLength(v, 'utf8');
    if (bytes > NQN_MAX_BYTES) return bad(`NQN must be at most ${NQN_MAX_BYTES} bytes (is ${bytes})`);
    // eslint-disable-next-line no-control-regex
    if (/[\s\x00-\x1f\x7f]/.test(v)) return bad('NQN must not contain whitespace or control characters');
    if (subsystem && v === DISCOVERY_NQN) return bad('must not be the discovery NQN');
    return ok(v);
  };

/** Identify-data strings (SN, MN, FR) are space-padded printable ASCII fields. */
const ascii =
  (max: number): Leaf<string> =>
  (v) =>
    typeof v !== 'string'
      ? bad('must be string')
      : !/^[\x20-\x7e]*$/.test(v)
        ? bad('must contain only printable ASCII characters')
        : v.length < 1 || v.length > max
          ? bad(`must be 1..${max} characters`)
          : ok(v);

const version: Leaf<string> = (v) => {
  const m = typeof v === 'string' ? /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(v) : null;
  // VS register layout: MJR 16 bits, MNR 8 bits, TER 8 bits.
  if (!m || Number(m[1]) > 0xffff || Number(m[2]) > 0xff || Number(m[3] ?? 0) > 0xff) {
    return bad('must be an NVMe version string such as "1.3" or "2.0.1"');
  }
  return ok(v as string);
};

const ieeeOui: Leaf<number> = (v) => {
  const n =
    typeof v === 'number'
      ? v
      : typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v)
        ? Number(v) // Number() understands both "0x.." and decimal, like the kernel's kstrtou32(.., 0, ..)
        : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 0xffffff ? ok(n) : bad('must be a 24-bit IEEE OUI (e.g. "0x0050c2")');
};

/** Hex identifier with optional separators; all-zero means "not set" in NVMe. */
const hexId =
  (digits: number, seps: RegExp, what: string): Leaf<string | undefined> =>
  (v) => {
    const hex = typeof v === 'string' ? v.replace(seps, '').toLowerCase() : '';
    if (!new RegExp(`^[0-9a-f]{${digits}}$`).test(hex)) return bad(`must be ${what}`);
    return ok(/^0+$/.test(hex) ? undefined : hex);
  };

const uuid: Leaf<string | undefined> = (v) => {
  if (typeof v !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v)) {
    return bad('must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)');
  }
  return ok(/^[0-]+$/.test(v) ? undefined : v.toLowerCase());
};

const capacity: Leaf<number> = (v) => {
  if (typeof v !== 'number' && typeof v !== 'string') return bad('must be a size (bytes, or a string such as "64MiB")');
  try {
    const n = parseSize(v);
    return n > 0 ? ok(n) : bad('must be greater than 0');
  } catch (e) {
    return bad((e as Error).message);
  }
};

/** A size in bytes that is a positive multiple of the 4 KiB mapping unit. */
const pageSize: Leaf<number> = (v) => {
  const r = capacity(v);
  return !r.ok ? r : r.value % MAP_UNIT === 0 ? r : bad(`must be a multiple of 4 KiB (${MAP_UNIT} bytes)`);
};

/** A size in bytes, or 0 (meaning "none" or "the default", as the key says). */
const sizeOrZero: Leaf<number> = (v) => (v === 0 || v === '0' ? ok(0) : capacity(v));

/** Nanoseconds for every page type, or one per page type (LSB first). */
const latencyList: Leaf<number | number[]> = (v) => {
  const isNs = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  if (isNs(v)) return ok(v);
  if (Array.isArray(v) && v.length >= 1 && v.length <= 4 && v.every(isNs)) return ok([...v]);
  return bad('must be a latency in ns (>= 0), or an array of 1..4 of them, one per page type (LSB, CSB, MSB, TSB)');
};

/** A DHHC-1 secret as nvme-cli's gen-dhchap-key prints it (checked: format, length, CRC). */
const dhchapKey: Leaf<string> = (v) => {
  if (typeof v !== 'string') return bad('must be string');
  try {
    parseDhchapKey(v);
    return ok(v);
  } catch (e) {
    return bad((e as Error).message);
  }
};

/** One name or a non-empty list of distinct names out of `names` (nvmetcli writes one string). */
const nameList =
  (names: readonly string[], what: string): Leaf<string[]> =>
  (v) => {
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && names.includes(x))) {
      return bad(`must be a ${what} or a non-empty list of them: ${names.join(', ')}`);
    }
    if (new Set(list).size !== list.length) return bad('must not repeat a name');
    return ok([...(list as string[])]);
  };

const LEAVES = {
  bool,
  dhchapKey,
  dhchapHash: nameList(HASHES.map((h) => h.name), 'hash name'),
  dhchapDhgroup: nameList(DH_GROUPS.map((g) => g.name), 'DH group name'),
  portid: uint(1, 65535),
  tcpPort: uint(1, 65535, 'a TCP port number'),
  inlineDataSize: orDefault(uint(0, MAX_INLINE_DATA_SIZE), DEFAULT_INLINE_DATA_SIZE),
  maxQueueSize: orDefault(uint(2, 65536), undefined),
  cntlid: uint(1, DEFAULT_CNTLID_MAX),
  qidMax: uint(1, 65535),
  anaGrpid: uint(0, 0xffffffff),
  hostNqn: nqn(false),
  subsysNqn: nqn(true),
  serial: ascii(20),
  model: ascii(40),
  firmware: ascii(8),
  version,
  ieeeOui,
  uuid,
  nguid: hexId(32, /-/g, '32 hex digits (NGUID, dashes allowed)'),
  eui64: hexId(16, /[-:]/g, '16 hex digits (EUI-64, dashes or colons allowed)'),
  capacity,
  pageSize,
  sizeOrZero,
  latencyList,
  noReferrals: ((v) =>
    !Array.isArray(v) ? bad('must be array') : v.length ? bad('referrals are not supported (must be empty)') : ok(v)) as Leaf<unknown>,
  // Asked for by name so the refusal can say why (and what to do) rather than "unknown key".
  noConventionalZones: ((v) =>
    v === 0 || v === '0'
      ? ok(0)
      : bad('conventional zones are not offered: NVMe ZNS defines only sequential-write-required zones and Linux rejects any other zone type; put an nvm or conv namespace in the same subsystem instead (README, Zoned namespaces)')) as Leaf<unknown>,
} satisfies Record<string, Leaf<unknown>>;
type LeafName = keyof typeof LEAVES;

function get<K extends LeafName>(name: K, v: unknown): ReturnType<(typeof LEAVES)[K]> extends Parsed<infer T> ? T | undefined : never;
function get(name: LeafName, v: unknown): unknown {
  const r = (LEAVES[name] as Leaf<unknown>)(v);
  return r.ok ? r.value : undefined;
}

// ---------------------------------------------------------------------------
// JSON schema (structure)

type Schema = Record<string, unknown>;
const leaf = (name: LeafName): Schema => ({ leaf: name });
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  properties,
  ...(required.length ? { required } : {}),
  additionalProperties: false,
});
const arr = (items: Schema): Schema => ({ type: 'array', items });

const ns: Schema = { type: 'number', minimum: 0 };
const mibps: Schema = { type: 'number', exclusiveMinimum: 0 };
const int = (minimum: number, maximum: number): Schema => ({ type: 'integer', minimum, maximum });

const EMULATION_COMMON: Record<string, Schema> = {
  capacity: leaf('capacity'),
  lba_size: { enum: [...LBA_SIZES] },
};
/** The NAND, firmware and bus keys of every flash device (conv, zns): NandParams. */
const NAND_KEYS: Record<string, Schema> = {
  cell_type: { enum: [...CELL_TYPES] },
  channels: int(1, 256),
  luns_per_channel: int(1, 256),
  planes_per_lun: int(1, 16),
  flash_page_size: leaf('pageSize'),
  oneshot_page_size: leaf('pageSize'),
  read_4k_latency_ns: leaf('latencyList'),
  read_latency_ns: leaf('latencyList'),
  program_latency_ns: ns,
  erase_latency_ns: ns,
  firmware_4k_read_ns: ns,
  firmware_read_ns: ns,
  firmware_wbuf_base_ns: ns,
  firmware_wbuf_per_4k_ns: ns,
  channel_bw_mibps: mibps,
  pcie_bw_mibps: mibps,
  pe_cycles: int(1, 1e7),
};

/**
 * Keys allowed in addition to EMULATION_COMMON, per emulation type. Each type
 * is a closed object, so typos are caught; type-specific work adds its keys here.
 * Units are in the names; sizes take a byte count or a string such as "1MiB".
 */
const EMULATION_TYPE_KEYS: Record<EmulationType, Record<string, Schema>> = {
  nvm: {
    preset: { enum: [...PRESET_NAMES.nvm] },
    read_latency_ns: ns,
    write_latency_ns: ns,
    io_units: int(0, 1 << 20),
    read_bw_mibps: { type: 'number', minimum: 0 },
    write_bw_mibps: { type: 'number', minimum: 0 },
  },
  conv: {
    preset: { enum: [...PRESET_NAMES.conv] },
    ...NAND_KEYS,
    pages_per_block: int(1, 1 << 16),
    min_lines: int(0, 1 << 20),
    firmware_trim_ns: ns,
    write_buffer_size: leaf('pageSize'),
    over_provisioning: { type: 'number', minimum: 0, maximum: 1 },
    gc_threshold_lines: int(1, 1 << 16),
    gc_policy: { enum: [...GC_POLICIES] },
  },
  zns: {
    preset: { enum: [...PRESET_NAMES.zns] },
    ...NAND_KEYS,
    zone_size: leaf('capacity'),
    zone_capacity: leaf('sizeOrZero'),
    max_open_zones: int(0, 0xfffffffe),
    max_active_zones: int(0, 0xfffffffe),
    zone_append_size_limit: leaf('sizeOrZero'),
    zone_descriptor_extension_size: int(0, 255 * 64),
    zone_dies: int(1, 65536),
    conventional_zones: leaf('noConventionalZones'),
    firmware_ch_xfer_ns: ns,
    max_channel_xfer_size: leaf('pageSize'),
    write_unit_size: leaf('capacity'),
    zone_write_buffer_oneshots: int(0, 4096),
    write_buffer_size: leaf('sizeOrZero'),
    write_early_completion: { type: 'boolean' },
  },
  kv: {
    preset: { enum: [...PRESET_NAMES.kv] },
    command_set: { enum: [...KV_COMMAND_SETS] },
    vendor_key_length: { enum: [...KV_VENDOR_KEY_LENGTHS] },
    channels: int(1, 256),
    luns_per_channel: int(1, 256),
    flash_page_size: leaf('pageSize'),
    nand_read_ns: ns,
    program_latency_ns: ns,
    firmware_store_ns: ns,
    firmware_store_per_4k_ns: ns,
    firmware_retrieve_ns: ns,
    index_ns: ns,
    list_per_key_ns: ns,
    channel_bw_mibps: mibps,
    pcie_bw_mibps: mibps,
    write_buffer_size: leaf('pageSize'),
  },
};

/** Conv and kv keys whose values are sizes (normalised to bytes). */
const CONV_SIZE_KEYS = new Set(['flash_page_size', 'oneshot_page_size', 'write_buffer_size']);

const EMULATION_SCHEMA: Schema = {
  type: 'object',
  required: ['type', 'capacity'],
  discriminator: { propertyName: 'type' },
  oneOf: EMULATION_TYPES.map((t) => obj({ type: { const: t }, ...EMULATION_COMMON, ...EMULATION_TYPE_KEYS[t] })),
};

const SCHEMA: Schema = obj({
  hosts: arr(
    obj(
      {
        nqn: leaf('hostNqn'),
        dhchap_key: leaf('dhchapKey'),
        dhchap_ctrl_key: leaf('dhchapKey'),
        dhchap_hash: leaf('dhchapHash'),
        dhchap_dhgroup: leaf('dhchapDhgroup'),
      },
      ['nqn'],
    ),
  ),
  ports: arr(
    obj(
      {
        portid: { type: 'integer', minimum: 1, maximum: 65535 },
        addr: obj(
          {
            trtype: { const: 'tcp' },
            adrfam: { enum: ['ipv4', 'ipv6'] },
            traddr: { type: 'string' },
            trsvcid: leaf('tcpPort'),
            treq: { enum: [...TREQ_VALUES] },
            // Newer kernels dump addr_tsas; only the non-TLS values make sense here.
            tsas: { enum: ['none', 'not required'] },
          },
          ['trtype', 'adrfam', 'traddr', 'trsvcid'],
        ),
        param: obj({ inline_data_size: leaf('inlineDataSize'), max_queue_size: leaf('maxQueueSize'), pi_enable: leaf('bool') }),
        subsystems: arr({ type: 'string' }),
        referrals: leaf('noReferrals'),
        ana_groups: { type: 'array' }, // accepted and ignored
      },
      ['portid', 'addr'],
    ),
  ),
  subsystems: arr(
    obj(
      {
        nqn: leaf('subsysNqn'),
        attr: obj({
          allow_any_host: leaf('bool'),
          serial: leaf('serial'),
          model: leaf('model'),
          version: leaf('version'),
          cntlid_min: leaf('cntlid'),
          cntlid_max: leaf('cntlid'),
          qid_max: leaf('qidMax'),
          firmware: leaf('firmware'),
          ieee_oui: leaf('ieeeOui'),
          pi_enable: leaf('bool'),
          offload: leaf('bool'),
        }),
        allowed_hosts: arr({ type: 'string' }),
        namespaces: arr(
          obj(
            {
              nsid: { type: 'integer', minimum: 1, maximum: 0xfffffffe },
              enable: leaf('bool'),
              device: obj({ path: { type: 'string' }, uuid: leaf('uuid'), nguid: leaf('nguid'), eui64: leaf('eui64') }),
              // ANA and reservation groups are written by newer nvmetcli; accepted and ignored.
              ana_grpid: { type: 'integer', minimum: 0 },
              ana: obj({ grpid: leaf('anaGrpid') }),
              resv: obj({ enable: leaf('bool') }),
              emulation: EMULATION_SCHEMA,
            },
            ['nsid', 'emulation'],
          ),
        ),
      },
      ['nqn'],
    ),
  ),
  settings: { type: 'object' },
});

const leafKeyword: SchemaValidateFunction = (name: LeafName, data: unknown): boolean => {
  const r = (LEAVES[name] as Leaf<unknown>)(data);
  leafKeyword.errors = r.ok ? [] : [{ keyword: 'leaf', message: r.reason, params: { leaf: name } }];
  return r.ok;
};

type Validator = ReturnType<Ajv['compile']>;
let compiled: { topology: Validator; emulation: Validator } | undefined;
function validators(): { topology: Validator; emulation: Validator } {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, discriminator: true, strictTypes: true });
    ajv.addKeyword({ keyword: 'leaf', schemaType: 'string', validate: leafKeyword });
    compiled = { topology: ajv.compile(SCHEMA), emulation: ajv.compile(EMULATION_SCHEMA) };
  }
  return compiled;
}

/** Schema errors of `raw` as issues, paths prefixed with `base`. */
function schemaIssues(validate: Validator, raw: unknown, base = ''): ConfigIssue[] {
  const errors: ConfigIssue[] = [];
  if (!validate(raw)) {
    for (const e of validate.errors ?? []) {
      const t = translate(e, base);
      if (t && !errors.some((x) => x.path === t.path && x.message === t.message)) errors.push(t);
    }
  }
  return errors;
}

/** `base` + a relative path (`a.b`, `[0].c` or ``). */
const under = (base: string, rel: string): string => (!base ? rel : !rel ? base : rel.startsWith('[') ? base + rel : `${base}.${rel}`);

/** Turn one ajv error into our `path: reason` form (undefined = redundant, drop it). */
function translate(e: ErrorObject, base = ''): ConfigIssue | undefined {
  const path = under(base, pointerToPath(e.instancePath));
  const p = e.params as Record<string, unknown>;
  const at = path || '(root)';
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: joinPath(path, String(p.additionalProperty)), message: 'unknown key' };
    case 'required':
      return { path: joinPath(path, String(p.missingProperty)), message: 'missing required key' };
    case 'type':
      return { path: at, message: `must be ${[p.type].flat().join(' or ')}` };
    case 'enum':
      return { path: at, message: `must be one of ${(p.allowedValues as unknown[]).join(', ')}` };
    case 'const':
      return { path: at, message: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'discriminator':
      // A missing `type` is already reported by `required`.
      if (p.tagValue === undefined) return undefined;
      return { path: joinPath(path, String(p.tag)), message: `must be one of ${EMULATION_TYPES.join(', ')}` };
    default:
      return { path: at, message: e.message ?? `failed ${e.keyword}` };
  }
}

// ---------------------------------------------------------------------------
// Cross-reference checks on the raw input (defensive: structure may be broken)

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const items = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const objs = (v: unknown): [Obj, number][] =>
  items(v).flatMap((x, i): [Obj, number][] => (isObj(x) ? [[x, i]] : []));
const field = (o: unknown, k: string): unknown => (isObj(o) ? o[k] : undefined);

/** Canonical address text for comparisons ("0:0::1" == "::1"); WHATWG URL canonicalises IPv6. */
function canonicalAddr(a: string): string {
  if (!isIPv6(a)) return a;
  try {
    return new URL(`tcp://[${a}]`).hostname.slice(1, -1);
  } catch {
    return a.toLowerCase(); // e.g. zone ids, which URL does not accept
  }
}

/** Checks across keys of one emulation block (read defensively: structure may be broken). */
function emulationCrossCheck(e: unknown, base: string): ConfigIssue[] {
  const cap = get('capacity', field(e, 'capacity'));
  const lba = field(e, 'lba_size') ?? 512;
  if (cap !== undefined && (lba === 512 || lba === 4096) && cap % lba !== 0) {
    return [{ path: `${base}.capacity`, message: `must be a multiple of lba_size (${lba}), got ${cap} bytes` }];
  }
  return [];
}

function crossCheck(raw: Obj): ConfigIssue[] {
  const errs: ConfigIssue[] = [];
  const err = (path: string, message: string): void => void errs.push({ path, message });

  const hostSeen = new Map<string, string>();
  for (const [h, i] of objs(raw.hosts)) {
    const n = get('hostNqn', h.nqn);
    if (n === undefined) continue;
    const prev = hostSeen.get(n);
    if (prev) err(`hosts[${i}].nqn`, `duplicate host NQN (also at ${prev})`);
    else hostSeen.set(n, `hosts[${i}].nqn`);
  }
  for (const [h, i] of objs(raw.hosts)) {
    // A controller secret only means something on top of a host secret (bidirectional).
    if (h.dhchap_key === undefined) {
      for (const k of ['dhchap_ctrl_key', 'dhchap_hash', 'dhchap_dhgroup']) if (h[k] !== undefined) err(`hosts[${i}].${k}`, 'needs dhchap_key (authentication is off for this host)');
    }
  }

  const subsysSeen = new Map<string, string>();
  for (const [s, si] of objs(raw.subsystems)) {
    const sp = `subsystems[${si}]`;
    const n = get('subsysNqn', s.nqn);
    if (n !== undefined) {
      const prev = subsysSeen.get(n);
      if (prev) err(`${sp}.nqn`, `duplicate subsystem NQN (also at ${prev})`);
      else subsysSeen.set(n, `${sp}.nqn`);
    }

    const allowed = new Set<string>();
    items(s.allowed_hosts).forEach((h, i) => {
      if (typeof h !== 'string') return;
      const p = `${sp}.allowed_hosts[${i}]`;
      if (allowed.has(h)) err(p, `duplicate allowed host "${h}"`);
      else if (!hostSeen.has(h)) err(p, `host NQN not declared in hosts[]: "${h}"`);
      allowed.add(h);
    });

    const min = get('cntlid', field(s.attr, 'cntlid_min')) ?? DEFAULT_CNTLID_MIN;
    const max = get('cntlid', field(s.attr, 'cntlid_max')) ?? DEFAULT_CNTLID_MAX;
    if (min > max) err(`${sp}.attr.cntlid_min`, `must be <= cntlid_max (${max})`);

    const nsidSeen = new Map<number, string>();
    for (const [ns, ni] of objs(s.namespaces)) {
      const np = `${sp}.namespaces[${ni}]`;
      if (Number.isInteger(ns.nsid)) {
        const nsid = ns.nsid as number;
        const prev = nsidSeen.get(nsid);
        if (prev) err(`${np}.nsid`, `duplicate nsid ${nsid} (also at ${prev})`);
        else nsidSeen.set(nsid, np);
      }
      errs.push(...emulationCrossCheck(ns.emulation, `${np}.emulation`));
    }
  }

  const portidSeen = new Map<number, string>();
  const listenSeen: { fam: string; addr: string; port: number; path: string; text: string }[] = [];
  for (const [port, pi] of objs(raw.ports)) {
    const pp = `ports[${pi}]`;
    if (Number.isInteger(port.portid)) {
      const id = port.portid as number;
      const prev = portidSeen.get(id);
      if (prev) err(`${pp}.portid`, `duplicate portid ${id} (also at ${prev})`);
      else portidSeen.set(id, pp);
    }

    const fam = field(port.addr, 'adrfam');
    const traddr = field(port.addr, 'traddr');
    if (typeof traddr === 'string') {
      const addrOk =
        fam === 'ipv4' ? isIPv4(traddr) : fam === 'ipv6' ? isIPv6(traddr) : isIPv4(traddr) || isIPv6(traddr);
      if (!addrOk) {
        err(`${pp}.addr.traddr`, fam === 'ipv4' || fam === 'ipv6'
          ? `must be an ${fam === 'ipv4' ? 'IPv4' : 'IPv6'} address (adrfam is ${fam}), got "${traddr}"`
          : `must be an IP address, got "${traddr}"`);
      }
      const svc = get('tcpPort', field(port.addr, 'trsvcid'));
      if (addrOk && svc !== undefined && (fam === 'ipv4' || fam === 'ipv6')) {
        // Same address, or a same-family wildcard overlapping a specific address: bind would fail (EADDRINUSE).
        const addr = canonicalAddr(traddr);
        const wild = fam === 'ipv4' ? '0.0.0.0' : '::';
        const text = fam === 'ipv6' ? `[${traddr}]:${svc}` : `${traddr}:${svc}`;
        const clash = listenSeen.find(
          (l) => l.fam === fam && l.port === svc && (l.addr === addr || l.addr === wild || addr === wild),
        );
        if (clash) err(`${pp}.addr`, `listen address ${text} conflicts with ${clash.path} (${clash.text})`);
        listenSeen.push({ fam, addr, port: svc, path: pp, text });
      }
    }

    const exported = new Set<string>();
    items(port.subsystems).forEach((n, i) => {
      if (typeof n !== 'string') return;
      const p = `${pp}.subsystems[${i}]`;
      if (exported.has(n)) err(p, `duplicate subsystem NQN "${n}"`);
      else if (!subsysSeen.has(n)) err(p, `unknown subsystem NQN "${n}" (not in subsystems[])`);
      exported.add(n);
    });
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Normalisation (input known to be valid)

function must<K extends LeafName>(name: K, v: unknown): ReturnType<(typeof LEAVES)[K]> extends Parsed<infer T> ? T : never;
function must(name: LeafName, v: unknown): unknown {
  const r = (LEAVES[name] as Leaf<unknown>)(v);
  if (!r.ok) throw new Error(`internal: ${name} leaf accepted by schema but not by normaliser: ${r.reason}`);
  return r.value;
}
/** Parse an optional leaf; absent stays undefined. */
const opt = <K extends LeafName>(name: K, v: unknown) => (v === undefined ? undefined : must(name, v));

/** Drop undefined-valued keys so optional fields are truly absent (nicer for equality and JSON). */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function normEmulation(e: Obj): Emulation {
  const common: EmulationCommon = compact({
    preset: e.preset as string | undefined,
    capacity: must('capacity', e.capacity),
    lba_size: (e.lba_size as LbaSize | undefined) ?? 512,
  });
  // Latencies default to 0 only without a preset; with one, absent keys take the preset's figures.
  const latency = (k: string): number | undefined => (e[k] as number | undefined) ?? (common.preset === undefined ? 0 : undefined);
  const type = e.type as EmulationType;
  switch (type) {
    case 'nvm':
      return compact({
        type,
        ...common,
        read_latency_ns: latency('read_latency_ns'),
        write_latency_ns: latency('write_latency_ns'),
        io_units: e.io_units as number | undefined,
        read_bw_mibps: e.read_bw_mibps as number | undefined,
        write_bw_mibps: e.write_bw_mibps as number | undefined,
      });
    case 'zns': {
      const out: Obj = { type, ...common };
      const sizes = new Set<string>(ZNS_SIZE_KEYS);
      for (const k of Object.keys(EMULATION_TYPE_KEYS.zns)) {
        const v = e[k];
        if (v === undefined || k === 'preset' || k === 'conventional_zones') continue; // only 0 passes validation
        out[k] = sizes.has(k) ? must('sizeOrZero', v) : k.startsWith('read_') ? must('latencyList', v) : v;
      }
      return out as unknown as ZnsEmulation;
    }
    case 'conv': {
      const out: Obj = { type, ...common };
      for (const k of Object.keys(EMULATION_TYPE_KEYS.conv)) {
        const v = e[k];
        if (v === undefined || k === 'preset') continue;
        out[k] = CONV_SIZE_KEYS.has(k) ? must('pageSize', v) : k.startsWith('read_') ? must('latencyList', v) : v;
      }
      return out as unknown as ConvEmulation;
    }
    case 'kv': {
      const out: Obj = {
        type,
        ...common,
        command_set: (e.command_set as KvCommandSet | undefined) ?? DEFAULT_KV_COMMAND_SET,
        vendor_key_length: (e.vendor_key_length as KvVendorKeyLength | undefined) ?? 'bytes',
      };
      for (const k of Object.keys(EMULATION_TYPE_KEYS.kv)) {
        const v = e[k];
        if (v === undefined || k === 'preset' || k === 'command_set' || k === 'vendor_key_length') continue;
        out[k] = CONV_SIZE_KEYS.has(k) ? must('pageSize', v) : v;
      }
      return out as unknown as KvEmulation;
    }
    default:
      throw new Error(`unknown emulation type ${String(type)}`); // the schema admits none
  }
}

/** Issues from resolving the block against its preset (combinations of keys), paths under `base`. */
function resolutionIssues(e: Emulation, base: string): ConfigIssue[] {
  try {
    resolveEmulation(e);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.errors.map((x) => ({ path: under(base, x.path), message: x.message }));
  }
}

/**
 * Validate and normalise one namespace `emulation` block on its own (as `nvmf-emu simulate`
 * takes it). Throws ConfigError; paths start with `base`.
 */
export function validateEmulation(raw: unknown, base = 'emulation'): Emulation {
  const errors = schemaIssues(validators().emulation, raw, base);
  errors.push(...emulationCrossCheck(raw, base));
  if (errors.length) throw new ConfigError(errors);
  const e = normEmulation(raw as Obj);
  const more = resolutionIssues(e, base);
  if (more.length) throw new ConfigError(more);
  return e;
}

function normNamespace(ns: Obj): NamespaceConfig {
  const d = (ns.device as Obj | undefined) ?? {};
  return compact({
    nsid: ns.nsid as number,
    // Default enabled: a hand-written namespace should appear without boilerplate.
    enable: ns.enable === undefined ? true : must('bool', ns.enable),
    device: compact({
      path: d.path === '' ? undefined : (d.path as string | undefined),
      uuid: opt('uuid', d.uuid),
      nguid: opt('nguid', d.nguid),
      eui64: opt('eui64', d.eui64),
    }),
    ana_grpid: ns.ana_grpid as number | undefined,
    emulation: normEmulation(ns.emulation as Obj),
  });
}

function normSubsystem(s: Obj): SubsystemConfig {
  const a = (s.attr as Obj | undefined) ?? {};
  return {
    nqn: s.nqn as string,
    attr: compact({
      allow_any_host: opt('bool', a.allow_any_host) ?? false, // nvmetcli/kernel default
      serial: opt('serial', a.serial),
      model: opt('model', a.model) ?? DEFAULT_MODEL,
      version: opt('version', a.version),
      cntlid_min: opt('cntlid', a.cntlid_min) ?? DEFAULT_CNTLID_MIN,
      cntlid_max: opt('cntlid', a.cntlid_max) ?? DEFAULT_CNTLID_MAX,
      qid_max: opt('qidMax', a.qid_max) ?? DEFAULT_QID_MAX,
      firmware: opt('firmware', a.firmware),
      ieee_oui: opt('ieeeOui', a.ieee_oui),
      pi_enable: opt('bool', a.pi_enable) ?? false,
      offload: opt('bool', a.offload) ?? false,
    }),
    allowed_hosts: [...((s.allowed_hosts as string[] | undefined) ?? [])],
    namespaces: objs(s.namespaces).map(([ns]) => normNamespace(ns)),
  };
}

function normPort(p: Obj): PortConfig {
  const addr = p.addr as Obj;
  const param = (p.param as Obj | undefined) ?? {};
  return {
    portid: p.portid as number,
    addr: {
      trtype: 'tcp',
      adrfam: addr.adrfam as Adrfam,
      traddr: addr.traddr as string,
      trsvcid: must('tcpPort', addr.trsvcid),
      treq: (addr.treq as Treq | undefined) ?? 'not specified',
    },
    param: compact({
      inline_data_size: param.inline_data_size === undefined ? DEFAULT_INLINE_DATA_SIZE : must('inlineDataSize', param.inline_data_size),
      max_queue_size: opt('maxQueueSize', param.max_queue_size),
      pi_enable: opt('bool', param.pi_enable) ?? false,
    }),
    subsystems: [...((p.subsystems as string[] | undefined) ?? [])],
  };
}

/**
 * Validate a parsed topology file and return it normalised (booleans, numbers,
 * capacities in bytes, defaults filled in). Throws ConfigError listing every
 * problem found. Does not modify `raw`.
 */
export function validateTopology(raw: unknown): Topology {
  const errors = schemaIssues(validators().topology, raw);
  if (isObj(raw)) errors.push(...crossCheck(raw));
  if (errors.length) throw new ConfigError(errors);

  const r = raw as Obj;
  const topo: Topology = {
    hosts: objs(r.hosts).map(([h]) =>
      compact({
        nqn: h.nqn as string,
        dhchap_key: opt('dhchapKey', h.dhchap_key),
        dhchap_ctrl_key: opt('dhchapKey', h.dhchap_ctrl_key),
        dhchap_hash: opt('dhchapHash', h.dhchap_hash),
        dhchap_dhgroup: opt('dhchapDhgroup', h.dhchap_dhgroup),
      }),
    ),
    ports: objs(r.ports).map(([p]) => normPort(p)),
    subsystems: objs(r.subsystems).map(([s]) => normSubsystem(s)),
  };
  // Phase 3: emulation keys that are valid one by one but not together (or with their preset).
  topo.subsystems.forEach((s, si) =>
    s.namespaces.forEach((ns, ni) => errors.push(...resolutionIssues(ns.emulation, `subsystems[${si}].namespaces[${ni}].emulation`))),
  );
  if (errors.length) throw new ConfigError(errors);
  if (r.settings !== undefined) topo.settings = structuredClone(r.settings as Obj);
  return topo;
}
