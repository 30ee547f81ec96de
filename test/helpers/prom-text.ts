// A strict reader of the Prometheus text exposition format (0.0.4) for tests: every sample line
// must parse, and every sample must belong to a family announced by # HELP and # TYPE.

export interface Scrape {
  /** Value by series key, e.g. `nvmf_emu_connections` or `nvmf_emu_x_total{nqn="a",nsid="1"}` (labels sorted). */
  samples: Map<string, number>;
  types: Map<string, string>;
  /** Sum of every series of `name` whose labels include `match`. */
  sum(name: string, match?: Record<string, string | number>): number;
  /** Series of `name` whose labels include `match`, as [labels, value]. */
  series(name: string, match?: Record<string, string | number>): [Record<string, string>, number][];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/i;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Scrape {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const parsed: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      helps.add(line.split(' ')[2]!);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`unparsable sample line: ${line}`);
    const name = m[1]!;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(family) || !helps.has(family)) throw new Error(`sample ${name} has no # HELP/# TYPE`);
    const value = Number(m[4]);
    parsed.push({ name, labels, value });
    samples.set(key(name, labels), value);
  }
  const matches = (labels: Record<string, string>, match: Record<string, string | number>): boolean =>
    Object.entries(match).every(([k, v]) => labels[k] === String(v));
  const series = (name: string, match: Record<string, string | number> = {}): [Record<string, string>, number][] =>
    parsed.filter((p) => p.name === name && matches(p.labels, match)).map((p) => [p.labels, p.value]);
  return { samples, types, series, sum: (name, match = {}) => series(name, match).reduce((a, [, v]) => a + v, 0) };
}

function key(name: string, labels: Record<string, string>): string {
  const ks = Object.keys(labels).sort();
  return ks.length === 0 ? name : `${name}{${ks.map((k) => `${k}="${labels[k]}"`).join(',')}}`;
}
