// Error type shared by every configuration layer (topology file, settings,
// env, flags) so the CLI can print one uniform list of problems.

export interface ConfigIssue {
  /** Location of the problem, e.g. `subsystems[0].namespaces[1].nsid`, `settings.http.port`, or a file path. */
  path: string;
  /** Human-readable reason, e.g. `unknown key`, `must be integer`. */
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly errors: ConfigIssue[];
  /** The topology file the errors relate to, when there was one. Not part of `message`. */
  readonly source?: string;

  constructor(errors: ConfigIssue[], options: { source?: string } = {}) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
    this.errors = errors;
    if (options.source !== undefined) this.source = options.source;
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Append a key to a path: `a` + `b` -> `a.b`, numbers become `[n]`, odd keys `["x.y"]`. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (!IDENT.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base === '' ? key : `${base}.${key}`;
}

/** JSON pointer (ajv instancePath, e.g. `/subsystems/0/nqn`) -> `subsystems[0].nqn`. */
export function pointerToPath(pointer: string): string {
  if (pointer === '') return '';
  return pointer
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<string>((acc, seg) => joinPath(acc, /^(0|[1-9]\d*)$/.test(seg) ? Number(seg) : seg), '');
}

/** A runtime configuration change that names something missing (404) or already there (409). */
export class ConfigConflict extends Error {
  override readonly name = 'ConfigConflict';
  constructor(
    readonly status: 404 | 409,
    /** The field of the request that names it, e.g. `nqn`, `nsid`, `portid`. */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Issues of a whole-topology validation, re-rooted at `prefix` (e.g. `subsystems[2].namespaces[0]`)
 * so an admin API caller sees paths relative to what it sent; issues elsewhere keep their path.
 */
export function relativeIssues(err: ConfigError, prefix: string): ConfigError {
  return new ConfigError(
    err.errors.map((e) => {
      if (e.path === prefix) return { ...e, path: '' };
      if (e.path.startsWith(`${prefix}.`)) return { ...e, path: e.path.slice(prefix.length + 1) };
      if (e.path.startsWith(`${prefix}[`)) return { ...e, path: e.path.slice(prefix.length) };
      return e;
    }),
  );
}
