// Daemon scalar settings, layered with convict:
//   defaults < topology file `settings` object < environment < command-line flags.
//
// Convict traps handled here:
//  - it reads process.argv / process.env unless given explicit ones: we always
//    pass both (omitted = none), so tests and embedding are hermetic;
//  - its built-in boolean coercion makes every env value except "false" true,
//    and its int/port coercion is parseInt ("80abc" -> 80): we register strict
//    formats that only convert unambiguous strings and otherwise fail validation;
//  - a file value of the wrong shape (object where a scalar is expected, or the
//    reverse) confuses its overlay, so the file layer is shape-checked first;
//  - empty env vars (`FOO= cmd`, compose `${FOO}`) would be imported as "":
//    we treat them as unset.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import convict from 'convict';
import { DEFAULT_TOPOLOGY } from './default-topology.js';
import { ConfigError, joinPath, type ConfigIssue } from './errors.js';
import { parseSize } from './size.js';
import { validateTopology, type Topology } from './topology.js';

export { ConfigError, type ConfigIssue } from './errors.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Settings {
  /** Path of the topology JSON file; "" = built-in DEFAULT_TOPOLOGY. */
  config: string;
  log_level: LogLevel;
  /** `token`: bearer token the admin API requires for changes ("" = none). */
  http: { address: string; port: number; enabled: boolean; token: string };
  /** Prometheus metrics on /metrics, and the per-command latency accounting behind them. */
  metrics: { enabled: boolean };
  /** Resource limits; max_memory is bytes or a size string ("16GiB"), 0 = unlimited. */
  limits: { max_connections: number; max_controllers: number; max_queue_size: number; max_memory: number | string };
  /** Worker count; 0 = automatic. */
  workers: number;
  /** Address put in discovery log entries instead of the listener address; "" = use the listener's. */
  advertise_address: string;
}

// --- strict formats (registered globally in convict; names are prefixed to avoid clashes)

const fail = (reason: string): never => {
  throw new Error(reason);
};
const FORMATS: convict.Format[] = [
  {
    name: 'nvmf-emu-string',
    validate: (v: unknown) => void (typeof v !== 'string' && fail('must be string')),
  },
  {
    name: 'nvmf-emu-host',
    validate: (v: unknown) => void ((typeof v !== 'string' || !/^\S+$/.test(v)) && fail('must be a host name or IP address')),
  },
  {
    name: 'nvmf-emu-ip-or-empty',
    validate: (v: unknown) =>
      void ((typeof v !== 'string' || (v !== '' && isIP(v) === 0)) && fail('must be an IP address, or "" to use the listener address')),
  },
  {
    name: 'nvmf-emu-port',
    validate: (v: unknown) => void (!(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535) && fail('must be a port number 0..65535 (0 = ephemeral)')),
    coerce: (v: string) => (/^\s*\d+\s*$/.test(v) ? Number(v) : v),
  },
  {
    name: 'nvmf-emu-nat',
    validate: (v: unknown) => void (!(Number.isSafeInteger(v) && (v as number) >= 0) && fail('must be a non-negative integer')),
    coerce: (v: string) => (/^\s*\d+\s*$/.test(v) ? Number(v) : v),
  },
  {
    name: 'nvmf-emu-positive',
    validate: (v: unknown) => void (!(Number.isSafeInteger(v) && (v as number) >= 1) && fail('must be a positive integer')),
    coerce: (v: string) => (/^\s*\d+\s*$/.test(v) ? Number(v) : v),
  },
  {
    name: 'nvmf-emu-queue-size',
    validate: (v: unknown) => void (!(Number.isSafeInteger(v) && (v as number) >= 2 && (v as number) <= 65536) && fail('must be an integer from 2 to 65536')),
    coerce: (v: string) => (/^\s*\d+\s*$/.test(v) ? Number(v) : v),
  },
  {
    name: 'nvmf-emu-size',
    validate: (v: unknown) => {
      if (typeof v !== 'number' && typeof v !== 'string') fail('must be a byte count or a size such as "16GiB"');
      try {
        parseSize(v as number | string);
      } catch (err) {
        fail((err as Error).message);
      }
    },
  },
  {
    name: 'nvmf-emu-bool',
    validate: (v: unknown) => void (typeof v !== 'boolean' && fail('must be a boolean (true/false, 1/0, yes/no, on/off)')),
    coerce: (v: string) => {
      const s = v.trim().toLowerCase();
      return ['true', '1', 'yes', 'on'].includes(s) ? true : ['false', '0', 'no', 'off'].includes(s) ? false : v;
    },
  },
  {
    name: 'nvmf-emu-log-level',
    validate: (v: unknown) =>
      void (!(LOG_LEVELS as readonly unknown[]).includes(v) && fail(`must be one of ${LOG_LEVELS.join(', ')}`)),
  },
];
convict.addFormats(Object.fromEntries(FORMATS.map((f) => [f.name, f])));

const SCHEMA = {
  config: {
    doc: 'Path of the topology JSON file ("" = built-in default topology)',
    format: 'nvmf-emu-string',
    default: '',
    env: 'NVMF_EMU_CONFIG',
    arg: 'config',
  },
  log_level: {
    doc: 'Log level',
    format: 'nvmf-emu-log-level',
    default: 'info',
    env: 'NVMF_EMU_LOG_LEVEL',
    arg: 'log-level',
  },
  http: {
    address: {
      doc: 'Bind address of the HTTP (metrics/management) server',
      format: 'nvmf-emu-host',
      default: '127.0.0.1',
      env: 'NVMF_EMU_HTTP_ADDRESS',
      arg: 'http-address',
    },
    port: {
      doc: 'Port of the HTTP server (0 = ephemeral)',
      format: 'nvmf-emu-port',
      default: 9464,
      env: 'NVMF_EMU_HTTP_PORT',
      arg: 'http-port',
    },
    enabled: {
      doc: 'Run the HTTP server',
      format: 'nvmf-emu-bool',
      default: true,
      env: 'NVMF_EMU_HTTP_ENABLED',
      arg: 'http-enabled',
    },
    token: {
      doc: 'Bearer token the admin API requires for every request but health and metrics ("" = no token)',
      format: 'nvmf-emu-string',
      default: '',
      env: 'NVMF_EMU_HTTP_TOKEN',
      arg: 'http-token',
      sensitive: true,
    },
  },
  metrics: {
    enabled: {
      doc: 'Export Prometheus metrics on /metrics (and measure per-command latency for them)',
      format: 'nvmf-emu-bool',
      default: true,
      env: 'NVMF_EMU_METRICS_ENABLED',
      arg: 'metrics-enabled',
    },
  },
  limits: {
    max_connections: {
      doc: 'Open NVMe/TCP connections (one per queue); more are refused at accept',
      format: 'nvmf-emu-positive',
      default: 4096,
      env: 'NVMF_EMU_MAX_CONNECTIONS',
      arg: 'max-connections',
    },
    max_controllers: {
      doc: 'Live controllers across subsystems; more get Connect Controller Busy',
      format: 'nvmf-emu-positive',
      default: 1024,
      env: 'NVMF_EMU_MAX_CONTROLLERS',
      arg: 'max-controllers',
    },
    max_queue_size: {
      doc: 'Largest I/O queue a host may create (CAP.MQES + 1)',
      format: 'nvmf-emu-queue-size',
      default: 1024,
      env: 'NVMF_EMU_MAX_QUEUE_SIZE',
      arg: 'max-queue-size',
    },
    max_memory: {
      doc: 'Namespace data held in memory, all namespaces (bytes or e.g. "16GiB"; 0 = unlimited); writes beyond fail with Capacity Exceeded',
      format: 'nvmf-emu-size',
      default: 0,
      env: 'NVMF_EMU_MAX_MEMORY',
      arg: 'max-memory',
    },
  },
  workers: {
    doc: 'Number of worker threads (0 = automatic)',
    format: 'nvmf-emu-nat',
    default: 0,
    env: 'NVMF_EMU_WORKERS',
    arg: 'workers',
  },
  advertise_address: {
    doc: 'Address put in discovery log entries instead of the listener address',
    format: 'nvmf-emu-ip-or-empty',
    default: '',
    env: 'NVMF_EMU_ADVERTISE_ADDRESS',
    arg: 'advertise-address',
  },
} satisfies convict.Schema<Settings>;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isLeafSpec = (n: unknown): n is { env?: string; arg?: string } => isObj(n) && 'default' in n;

/** Flattened leaves: `http.port` -> {env, arg}. */
const LEAVES = new Map<string, { env?: string; arg?: string }>();
(function flatten(node: Obj, prefix: string): void {
  for (const [k, v] of Object.entries(node)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isLeafSpec(v)) LEAVES.set(key, v);
    else flatten(v as Obj, key);
  }
})(SCHEMA, '');
const ENV_NAMES = new Set([...LEAVES.values()].flatMap((l) => (l.env ? [l.env] : [])));

export interface LoadSettingsOptions {
  /** Command-line arguments (e.g. process.argv.slice(2)); omitted = none. */
  argv?: string[];
  /** Environment (e.g. process.env); omitted = none. */
  env?: NodeJS.ProcessEnv;
  /** The topology file's `settings` object. */
  fileSettings?: Record<string, unknown>;
}

function makeConfig(argv: string[] = [], env: NodeJS.ProcessEnv = {}): convict.Config<Settings> {
  const ourEnv = Object.fromEntries(
    Object.entries(env).filter(([k, v]) => ENV_NAMES.has(k) && v !== undefined && v !== ''),
  );
  return convict<Settings>(SCHEMA, { args: [...argv], env: ourEnv });
}

/** Was `--name` given (as `--name v`, `--name=v` or yargs' `--no-name`)? Mirrors how convict reads argv. */
function argGiven(argv: string[], name: string): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some(
    (t) => t === `--${name}` || t.startsWith(`--${name}=`) || t === `--no-${name}`,
  );
}

/** Check the file layer's shape against the schema; returns the structurally valid part. */
function checkFileLayer(src: Obj, schema: Obj, path: string, errs: ConfigIssue[]): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(src)) {
    const p = joinPath(path, k);
    const node = Object.hasOwn(schema, k) ? schema[k] : undefined;
    if (node === undefined) errs.push({ path: p, message: 'unknown key' });
    else if (path === 'settings' && k === 'config') {
      errs.push({ path: p, message: 'cannot be set inside the topology file (use --config or NVMF_EMU_CONFIG)' });
    } else if (isLeafSpec(node)) {
      if (isObj(v) || Array.isArray(v)) errs.push({ path: p, message: `must not be ${Array.isArray(v) ? 'an array' : 'an object'}` });
      else out[k] = v;
    } else if (!isObj(v)) errs.push({ path: p, message: 'must be object' });
    else out[k] = checkFileLayer(v, node as Obj, p, errs);
  }
  return out;
}

/**
 * Resolve daemon settings from defaults < fileSettings < env < argv. Validation
 * is strict (unknown keys are errors). Throws ConfigError with paths like
 * `settings.http.port`; when the bad value came from the environment or a flag,
 * the reason names it.
 */
export function loadSettings(opts: LoadSettingsOptions = {}): Settings {
  const { argv = [], env = {}, fileSettings } = opts;
  const errors: ConfigIssue[] = [];
  const cfg = makeConfig(argv, env);
  if (fileSettings !== undefined) cfg.load(checkFileLayer(fileSettings, SCHEMA, 'settings', errors));

  const leafErrors: ConfigIssue[] = [];
  try {
    cfg.validate({ allowed: 'strict' });
  } catch (e) {
    // convict reports one error per line: "<key>: <reason>[: value was <json>]" or
    // "configuration param '<key>' not declared in the schema | missing from config..."
    for (const line of (e as Error).message.split('\n')) {
      let m: RegExpExecArray | null;
      if ((m = /^configuration param '(.+)' not declared in the schema$/.exec(line))) {
        errors.push({ path: `settings.${m[1]}`, message: 'unknown key' });
      } else if ((m = /^configuration param '(.+)' missing from config/.exec(line))) {
        errors.push({ path: `settings.${m[1]}`, message: 'missing (a parent key was overridden?)' });
      } else if ((m = /^([\w.]+): (.*?)(?:: value was .*)?$/.exec(line)) && LEAVES.has(m[1]!)) {
        const key = m[1]!;
        const spec = LEAVES.get(key)!;
        let value: unknown;
        try {
          value = cfg.get(key as never);
        } catch {
          value = undefined;
        }
        const from =
          spec.arg && argGiven(argv, spec.arg)
            ? ` (from --${spec.arg})`
            : spec.env && env[spec.env]
              ? ` (from environment variable ${spec.env})`
              : '';
        leafErrors.push({ path: `settings.${key}`, message: `${m[2]}, got ${JSON.stringify(value) ?? 'nothing'}${from}` });
      } else if (line.trim()) {
        errors.push({ path: 'settings', message: line });
      }
    }
  }
  // convict reports breadth-first; list value errors in schema declaration order instead.
  const order = [...LEAVES.keys()].map((k) => `settings.${k}`);
  errors.push(...leafErrors.sort((a, b) => order.indexOf(a.path) - order.indexOf(b.path)));
  if (errors.length) throw new ConfigError(errors);
  return cfg.getProperties();
}

export interface LoadConfigOptions {
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Reads the topology file as text; defaults to fs.readFileSync(path, 'utf8'). */
  readFile?: (path: string) => string;
}

export interface LoadedConfig {
  settings: Settings;
  topology: Topology;
  /** 'default' when DEFAULT_TOPOLOGY was used, else the topology file path as given. */
  source: 'default' | (string & {});
}

/**
 * Full startup configuration: find the topology file from env/flags, read and
 * validate it (or use DEFAULT_TOPOLOGY), then resolve settings with the file's
 * `settings` object as the file layer. Topology and settings errors are
 * reported together in one ConfigError (whose `source` is the file path).
 */
export function loadConfig(opts: LoadConfigOptions = {}): LoadedConfig {
  const { argv = [], env = {} } = opts;
  // First pass only to locate the file; the full validation happens below.
  const path = makeConfig(argv, env).get('config');
  if (!path) {
    return { settings: loadSettings({ argv, env }), topology: validateTopology(DEFAULT_TOPOLOGY), source: 'default' };
  }

  const fileError = (message: string): ConfigError => new ConfigError([{ path, message }], { source: path });
  let text: string;
  try {
    text = (opts.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw fileError(`cannot read topology file: ${err.code === 'ENOENT' ? 'file not found' : err.message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, '')); // tolerate a UTF-8 BOM from Windows editors
  } catch (e) {
    throw fileError(`invalid JSON: ${(e as Error).message}`);
  }

  const errors: ConfigIssue[] = [];
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      errors.push(...e.errors);
      return undefined;
    }
  };
  const topology = attempt(() => validateTopology(raw));
  const fileSettings = isObj(raw) && isObj(raw.settings) ? raw.settings : undefined;
  const settings = attempt(() => loadSettings({ argv, env, fileSettings }));
  if (!topology || !settings) throw new ConfigError(errors, { source: path });
  return { settings, topology, source: path };
}
