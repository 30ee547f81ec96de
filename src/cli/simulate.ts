// `nvmf-emu simulate`: a fio-like workload against a device model in virtual time (no network, no
// threads), printing IOPS, bandwidth, latency percentiles, WAF and GC counters; optionally an SVG
// with the latency CDF and WAF over time. Deterministic for a given seed, so CI can check fidelity.
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { parseSize } from '../config/size.js';
import { EMULATION_TYPES, validateEmulation, validateTopology, type Emulation } from '../config/topology.js';
import type { DeviceModel, ModelCounters } from '../devices/model.js';
import { ConvModel } from '../devices/models/conv-model.js';
import {
  PRECONDITION_MODES,
  RW_MODES,
  WorkloadError,
  precondition,
  runWorkload,
  type PreconditionMode,
  type RwMode,
  type WorkloadResult,
} from '../devices/models/workload.js';
import { PRESET_NAMES, createModel } from '../devices/presets.js';

export interface SimulateOptions {
  type?: string;
  preset?: string;
  capacity?: string;
  lbaSize?: string;
  set: string[];
  config?: string;
  nsid?: string;
  subsystem?: string;
  rw: string;
  rwmixread: string;
  bs: string;
  iodepth: string;
  numjobs: string;
  runtime?: string;
  size?: string;
  seed: string;
  precondition?: string | boolean;
  fua?: boolean;
  json?: boolean;
  plot?: string;
}

export const DEFAULT_SIM_CAPACITY = '16GiB';

export interface SimulationReport {
  device: { type: string; preset?: string; capacity: number; lba_size: number; geometry?: Record<string, number> };
  workload: { rw: RwMode; bs: number; iodepth: number; numjobs: number; rwmixread: number; runtime_s?: number; size?: number; seed: number; fua: boolean; precondition: PreconditionMode };
  precondition: { phase: string; virtual_s: number; host_written: number; waf: number | null; gc_runs: number }[];
  result: {
    virtual_s: number;
    ios: number;
    iops: number;
    bandwidth_bytes_per_s: number;
    latency_us: LatencySummary;
    read?: LatencySummary & { iops: number; bandwidth_bytes_per_s: number };
    write?: LatencySummary & { iops: number; bandwidth_bytes_per_s: number };
    waf: number | null;
    waf_lifetime: number | null;
    gc_runs: number;
    gc_pages_moved: number;
    erases: number;
    max_erase_count: number;
    percentage_used: number;
    available_spare: number;
    free_blocks: number;
  };
  wall_s: number;
}
interface LatencySummary {
  mean: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

const positiveInt = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}"`);
  return n;
};
const size = (name: string, v: string): number => {
  try {
    return parseSize(v);
  } catch (e) {
    throw new InvalidArgumentError(`${name}: ${(e as Error).message}`);
  }
};

/** `key=value`: the value as JSON when it parses (numbers, arrays), else the string. */
function parseSet(kv: string): [string, unknown] {
  const i = kv.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`--set expects key=value, got "${kv}"`);
  const raw = kv.slice(i + 1);
  try {
    return [kv.slice(0, i), JSON.parse(raw)];
  } catch {
    return [kv.slice(0, i), raw];
  }
}

/** The emulation block to simulate: from --config/--nsid, or built from --type/--preset; then --capacity/--set on top. */
export function simulationEmulation(o: Pick<SimulateOptions, 'type' | 'preset' | 'capacity' | 'lbaSize' | 'set' | 'config' | 'nsid' | 'subsystem'>): Emulation {
  const overrides: Record<string, unknown> = Object.fromEntries(o.set.map(parseSet));
  if (o.capacity !== undefined) overrides.capacity = o.capacity;
  if (o.lbaSize !== undefined) overrides.lba_size = Number(o.lbaSize);
  let base: Record<string, unknown>;
  if (o.config !== undefined) {
    if (o.type !== undefined || o.preset !== undefined) throw new InvalidArgumentError('--type/--preset cannot be combined with --config (use --set)');
    if (o.nsid === undefined) throw new InvalidArgumentError('--config needs --nsid');
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(o.config, 'utf8'));
    } catch (e) {
      throw new InvalidArgumentError(`cannot read ${o.config}: ${(e as Error).message}`);
    }
    let topo;
    try {
      topo = validateTopology(raw);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(e.errors, { source: o.config });
      throw e;
    }
    const nsid = positiveInt('--nsid', o.nsid);
    const found = topo.subsystems
      .filter((s) => o.subsystem === undefined || s.nqn === o.subsystem)
      .flatMap((s) => s.namespaces.filter((n) => n.nsid === nsid).map((n) => ({ nqn: s.nqn, e: n.emulation })));
    if (found.length === 0) throw new InvalidArgumentError(`no namespace ${nsid}${o.subsystem ? ` in ${o.subsystem}` : ''} in ${o.config}`);
    if (found.length > 1) throw new InvalidArgumentError(`nsid ${nsid} is in several subsystems (${found.map((f) => f.nqn).join(', ')}): add --subsystem`);
    base = { ...found[0]!.e };
  } else {
    let type = o.type;
    if (type === undefined && o.preset !== undefined) type = EMULATION_TYPES.find((t) => PRESET_NAMES[t].includes(o.preset!));
    base = { type: type ?? 'conv', capacity: DEFAULT_SIM_CAPACITY };
    if (o.preset !== undefined) base.preset = o.preset;
  }
  return validateEmulation({ ...base, ...overrides });
}

const us = (ns: number): number => Math.round(ns / 10) / 100;
function summary(s: WorkloadResult['all']): LatencySummary {
  return { mean: us(s.meanNs), p50: us(s.p50Ns), p99: us(s.p99Ns), p999: us(s.p999Ns), max: us(s.maxNs) };
}
const mediaWritten = (c: ModelCounters): number => c.mediaWrittenUserBytes + c.mediaWrittenGcBytes;
function waf(a: ModelCounters, b: ModelCounters): number | null {
  const host = b.hostWrittenBytes - a.hostWrittenBytes;
  return host > 0 ? (mediaWritten(b) - mediaWritten(a)) / host : null;
}
const ZERO: ModelCounters = {
  hostWrittenBytes: 0, hostReadBytes: 0, mediaWrittenUserBytes: 0, mediaWrittenGcBytes: 0, mediaReadBytes: 0, gcRuns: 0,
  gcPagesMoved: 0, erases: 0, maxEraseCount: 0, freeBlocks: 0, totalBlocks: 0, trimmedBytes: 0, percentageUsed: 0, availableSpare: 100,
};

export interface SimulationRun {
  report: SimulationReport;
  model: DeviceModel;
  phases: WorkloadResult[];
  measured: WorkloadResult;
}

/** Run a simulation (what the command does, minus printing). */
export function simulate(o: SimulateOptions): SimulationRun {
  const wallStart = process.hrtime.bigint();
  const e = simulationEmulation(o);
  if (e.type === 'kv') throw new InvalidArgumentError('simulate runs block workloads (fio-like); a kv namespace is driven by KV commands, see `nvmf-emu kv`');
  if (e.type === 'zns') throw new InvalidArgumentError('simulate does not drive zoned namespaces yet (its workloads ignore write pointers); use fio --zonemode=zbd against the daemon');
  const rw = o.rw as RwMode;
  if (!(RW_MODES as readonly string[]).includes(rw)) throw new InvalidArgumentError(`--rw must be one of ${RW_MODES.join(', ')}`);
  const pre = (o.precondition === true ? 'steady' : (o.precondition ?? 'none')) as PreconditionMode;
  if (!(PRECONDITION_MODES as readonly string[]).includes(pre)) throw new InvalidArgumentError(`--precondition must be one of ${PRECONDITION_MODES.join(', ')}`);
  const bs = size('--bs', o.bs);
  const iodepth = positiveInt('--iodepth', o.iodepth);
  const numjobs = positiveInt('--numjobs', o.numjobs);
  const seed = Number(o.seed);
  if (!Number.isInteger(seed)) throw new InvalidArgumentError(`--seed must be an integer, got "${o.seed}"`);
  const rwmixread = Number(o.rwmixread);
  if (!(rwmixread >= 0 && rwmixread <= 100)) throw new InvalidArgumentError(`--rwmixread must be 0..100, got "${o.rwmixread}"`);
  let runtimeNs: number | undefined;
  if (o.runtime !== undefined) {
    const s = Number(o.runtime);
    if (!(s > 0)) throw new InvalidArgumentError(`--runtime must be a positive number of (virtual) seconds, got "${o.runtime}"`);
    runtimeNs = s * 1e9;
  }
  const sizeBytes = o.size !== undefined ? size('--size', o.size) : undefined;
  if (runtimeNs === undefined && sizeBytes === undefined) runtimeNs = 1e9;

  const model = createModel(e);
  const capacity = model.nlb * model.lbaSize;
  const preIos = Math.max(1, Math.floor(capacity / (128 * 1024) / 100));
  const phases = precondition(model, pre, 0, seed + 1000, preIos);
  const start = phases.length ? phases[phases.length - 1]!.endNs : 0;
  const measured = runWorkload(
    model,
    {
      rw,
      bs,
      iodepth,
      numjobs,
      rwmixread,
      runtimeNs,
      sizeBytes,
      seed,
      fua: o.fua ?? false,
      sampleEveryNs: runtimeNs !== undefined ? runtimeNs / 200 : undefined,
      sampleEveryIos: runtimeNs === undefined ? Math.max(1, Math.floor(sizeBytes! / bs / 200)) : undefined,
    },
    start,
  );
  const c = measured.after;
  // Per-direction rates: the window's commands split in the proportions of all commands.
  const share = measured.all.ios ? measured.ios / measured.all.ios : 0;
  const dir = (s: WorkloadResult['read']) =>
    s.ios
      ? { ...summary(s), iops: (s.ios * share * 1e9) / measured.elapsedNs, bandwidth_bytes_per_s: (s.bytes * share * 1e9) / measured.elapsedNs }
      : undefined;
  const geometry = model instanceof ConvModel ? { ...model.geometry } : undefined;
  const report: SimulationReport = {
    device: {
      type: e.type,
      ...(e.preset !== undefined ? { preset: e.preset } : {}),
      capacity: e.capacity,
      lba_size: e.lba_size,
      ...(geometry ? { geometry: geometry as unknown as Record<string, number> } : {}),
    },
    workload: {
      rw,
      bs,
      iodepth,
      numjobs,
      rwmixread,
      ...(runtimeNs !== undefined ? { runtime_s: runtimeNs / 1e9 } : {}),
      ...(sizeBytes !== undefined ? { size: sizeBytes } : {}),
      seed,
      fua: o.fua ?? false,
      precondition: pre,
    },
    precondition: phases.map((p, i) => ({
      phase: i === 0 ? 'fill' : 'random overwrite until GC',
      virtual_s: (p.endNs - p.startNs) / 1e9,
      host_written: p.after.hostWrittenBytes - p.before.hostWrittenBytes,
      waf: waf(p.before, p.after),
      gc_runs: p.after.gcRuns - p.before.gcRuns,
    })),
    result: {
      virtual_s: measured.elapsedNs / 1e9,
      ios: measured.ios,
      iops: measured.iops,
      bandwidth_bytes_per_s: measured.bytesPerSec,
      latency_us: summary(measured.all),
      ...(dir(measured.read) ? { read: dir(measured.read)! } : {}),
      ...(dir(measured.write) ? { write: dir(measured.write)! } : {}),
      waf: waf(measured.before, c),
      waf_lifetime: waf(ZERO, c),
      gc_runs: c.gcRuns - measured.before.gcRuns,
      gc_pages_moved: c.gcPagesMoved - measured.before.gcPagesMoved,
      erases: c.erases - measured.before.erases,
      max_erase_count: c.maxEraseCount,
      percentage_used: c.percentageUsed,
      available_spare: c.availableSpare,
      free_blocks: c.freeBlocks,
    },
    wall_s: Number(process.hrtime.bigint() - wallStart) / 1e9,
  };
  return { report, model, phases, measured };
}

// ---------------------------------------------------------------------------------------------
// Text output

const si = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : n.toFixed(0));
const bytesText = (n: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${Number.isInteger(n) ? n : n.toFixed(2)}${units[i]}`;
};
const fmtWaf = (w: number | null): string => (w === null ? '-' : w.toFixed(2));

export function formatReport(r: SimulationReport): string {
  const d = r.device;
  const g = d.geometry;
  const lines: string[] = [];
  let dev = `${d.preset ?? `(no preset)`} ${d.type} ${bytesText(d.capacity)}, ${d.lba_size} B LBA`;
  if (g) {
    dev += `: ${g.luns} LUNs, ${g.lines} lines of ${g.pus} x ${bytesText(g.unitsPerBlock * 4096)} blocks, OP ${(g.effectiveOp * 100).toFixed(1)}%, maps up to ${(g.memoryBytes / 2 ** 20).toFixed(1)} MiB`;
  }
  lines.push(dev);
  for (const p of r.precondition) {
    lines.push(`precondition ${p.phase}: ${bytesText(p.host_written)} written in ${p.virtual_s.toFixed(3)} s virtual, WAF ${fmtWaf(p.waf)}, GC runs ${p.gc_runs}`);
  }
  const w = r.workload;
  lines.push(
    `${w.rw}${w.rw === 'randrw' || w.rw === 'rw' ? ` rwmixread=${w.rwmixread}` : ''} bs=${bytesText(w.bs)} iodepth=${w.iodepth} numjobs=${w.numjobs}` +
      `${w.runtime_s !== undefined ? ` runtime=${w.runtime_s}s` : ''}${w.size !== undefined ? ` size=${bytesText(w.size)}` : ''}${w.fua ? ' fua' : ''} seed=${w.seed}`,
  );
  const res = r.result;
  const lat = (l: LatencySummary): string => `mean ${l.mean}  p50 ${l.p50}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}`;
  const bw = (b: number): string => `${(b / 1e6).toFixed(1)} MB/s (${(b / 2 ** 20).toFixed(1)} MiB/s)`;
  if (res.virtual_s === 0) lines.push('  every command completed at the time it was submitted (zero latency, unlimited bandwidth)');
  else lines.push(`  IOPS ${si(res.iops)}  bandwidth ${bw(res.bandwidth_bytes_per_s)}  (${res.ios} I/Os in ${res.virtual_s.toFixed(3)} s virtual)`);
  lines.push(`  latency µs: ${lat(res.latency_us)}`);
  if (res.read && res.write) {
    lines.push(`  read:  IOPS ${si(res.read.iops)}  ${bw(res.read.bandwidth_bytes_per_s)}  latency µs ${lat(res.read)}`);
    lines.push(`  write: IOPS ${si(res.write.iops)}  ${bw(res.write.bandwidth_bytes_per_s)}  latency µs ${lat(res.write)}`);
  }
  lines.push(
    `  WAF ${fmtWaf(res.waf)} (this run), ${fmtWaf(res.waf_lifetime)} (lifetime)  GC runs ${res.gc_runs} (${res.gc_pages_moved} pages moved)  erases ${res.erases}` +
      `  max erase count ${res.max_erase_count}  percentage used ${res.percentage_used}%  available spare ${res.available_spare}%`,
  );
  lines.push(`  wall time ${r.wall_s.toFixed(2)} s`);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// SVG plot: latency CDF (log x) and WAF over virtual time

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
function niceStep(range: number, ticks = 5): number {
  const raw = range / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}
const num = (v: number): string => (Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3).replace(/\.?0+$/, ''));

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
}

function axes(out: string[], p: Panel, title: string, xLabel: string, yLabel: string, xTicks: [number, string][], yTicks: [number, string][]): void {
  out.push(`<text x="${p.x + p.w / 2}" y="${p.y - 12}" class="title">${esc(title)}</text>`);
  for (const [py, label] of yTicks) {
    out.push(`<line x1="${p.x}" x2="${p.x + p.w}" y1="${py}" y2="${py}" class="grid"/>`);
    out.push(`<text x="${p.x - 6}" y="${py + 4}" class="ytick">${esc(label)}</text>`);
  }
  for (const [px, label] of xTicks) {
    out.push(`<line x1="${px}" x2="${px}" y1="${p.y}" y2="${p.y + p.h}" class="grid"/>`);
    out.push(`<text x="${px}" y="${p.y + p.h + 16}" class="xtick">${esc(label)}</text>`);
  }
  out.push(`<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" class="frame"/>`);
  out.push(`<text x="${p.x + p.w / 2}" y="${p.y + p.h + 36}" class="label">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(${p.x - 44} ${p.y + p.h / 2}) rotate(-90)" class="label">${esc(yLabel)}</text>`);
}

export function plotSvg(run: SimulationRun): string {
  const W = 1000;
  const H = 430;
  const out: string[] = [];
  const r = run.report;
  const heading = `${r.device.preset ?? r.device.type} ${bytesText(r.device.capacity)} — ${r.workload.rw} bs=${bytesText(r.workload.bs)} iodepth=${r.workload.iodepth} numjobs=${r.workload.numjobs}: ${si(r.result.iops)} IOPS, p99 ${r.result.latency_us.p99} µs, WAF ${fmtWaf(r.result.waf)}`;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`);
  out.push(
    '<style>.title{font-size:14px;font-weight:bold;text-anchor:middle}.label{font-size:12px;text-anchor:middle}' +
      '.xtick{font-size:11px;text-anchor:middle;fill:#333}.ytick{font-size:11px;text-anchor:end;fill:#333}' +
      '.grid{stroke:#e3e3e3;stroke-width:1}.frame{fill:none;stroke:#555;stroke-width:1}.legend{font-size:11px}' +
      '.head{font-size:13px;text-anchor:middle;fill:#222}</style>',
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" class="head">${esc(heading)}</text>`);

  // Latency CDF
  const p1: Panel = { x: 70, y: 60, w: 380, h: 300 };
  const lat = run.measured.latencies;
  if (lat.length) {
    const lo = Math.max(lat[0]! / 1000, 1e-3);
    const hi = Math.max(lat[lat.length - 1]! / 1000, lo * 1.0001);
    let d0 = Math.floor(Math.log10(lo));
    let d1 = Math.ceil(Math.log10(hi));
    if (d1 === d0) d1++;
    if (d1 - d0 > 8) d0 = d1 - 8;
    const px = (vUs: number): number => p1.x + ((Math.log10(Math.max(vUs, 10 ** d0)) - d0) / (d1 - d0)) * p1.w;
    const py = (q: number): number => p1.y + p1.h - q * p1.h;
    const xt: [number, string][] = [];
    for (let d = d0; d <= d1; d++) xt.push([px(10 ** d), num(10 ** d)]);
    const yt: [number, string][] = [0, 0.25, 0.5, 0.75, 1].map((q) => [py(q), `${q * 100}%`]);
    axes(out, p1, 'Latency CDF', 'latency (µs, log scale)', 'fraction of I/Os', xt, yt);
    const pts: string[] = [];
    const n = lat.length;
    const K = Math.min(n, 600);
    for (let i = 0; i <= K; i++) {
      const idx = Math.min(n - 1, Math.floor((i / K) * (n - 1)));
      pts.push(`${px(lat[idx]! / 1000).toFixed(1)},${py((idx + 1) / n).toFixed(1)}`);
    }
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="#1f77b4" stroke-width="2"/>`);
    const marks: [string, number][] = [['p50', r.result.latency_us.p50], ['p99', r.result.latency_us.p99], ['p99.9', r.result.latency_us.p999]];
    marks.forEach(([name, v], i) => {
      out.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${p1.y}" y2="${p1.y + p1.h}" stroke="#d62728" stroke-dasharray="3,3"/>`);
      out.push(`<text x="${p1.x + 8}" y="${p1.y + 18 + i * 15}" class="legend" fill="#d62728">${name} ${v} µs</text>`);
    });
  }

  // WAF over time (precondition phases and the measured run on one virtual time axis)
  const p2: Panel = { x: 570, y: 60, w: 380, h: 300 };
  const samples = [...run.phases.flatMap((p) => p.samples), ...run.measured.samples];
  const series: [number, number][] = []; // t (s), lifetime WAF
  const windows: [number, number][] = []; // t (s), WAF since the previous sample
  const deltas = samples.slice(1).map((s, i) => s.counters.hostWrittenBytes - samples[i]!.counters.hostWrittenBytes);
  const typical = [...deltas].sort((a, b) => a - b)[Math.floor(deltas.length / 2)] ?? 0;
  samples.forEach((s, i) => {
    const life = waf(ZERO, s.counters);
    if (life !== null) series.push([s.tNs / 1e9, life]);
    // Windows with little host data (a phase's tail) would only add noise.
    const win = i > 0 && deltas[i - 1]! >= typical / 4 ? waf(samples[i - 1]!.counters, s.counters) : null;
    if (win !== null) windows.push([s.tNs / 1e9, win]);
  });
  const t1 = Math.max(samples.length ? samples[samples.length - 1]!.tNs / 1e9 : 1, 1e-9);
  const wmax = Math.max(1.5, ...series.map((s) => s[1]), ...windows.map((s) => s[1])) * 1.1;
  const qx = (t: number): number => p2.x + (t / t1) * p2.w;
  const qy = (v: number): number => p2.y + p2.h - (v / wmax) * p2.h;
  const xs = niceStep(t1);
  const ys = niceStep(wmax);
  const xt: [number, string][] = [];
  for (let t = 0; t <= t1 + 1e-12; t += xs) xt.push([qx(t), num(t)]);
  const yt: [number, string][] = [];
  for (let v = 0; v <= wmax + 1e-12; v += ys) yt.push([qy(v), num(v)]);
  axes(out, p2, 'Write amplification over time', 'virtual time (s)', 'WAF (media / host bytes written)', xt, yt);
  if (series.length) {
    const line = (pts: [number, number][], colour: string, width: number): void => {
      const text = pts.map(([t, v]) => `${qx(t).toFixed(1)},${qy(v).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${text}" fill="none" stroke="${colour}" stroke-width="${width}"/>`);
    };
    line(windows, '#ff7f0e', 1.2);
    line(series, '#1f77b4', 2);
    out.push(`<line x1="${p2.x + 10}" x2="${p2.x + 30}" y1="${p2.y + 14}" y2="${p2.y + 14}" stroke="#1f77b4" stroke-width="2"/><text x="${p2.x + 36}" y="${p2.y + 18}" class="legend">lifetime</text>`);
    out.push(`<line x1="${p2.x + 10}" x2="${p2.x + 30}" y1="${p2.y + 30}" y2="${p2.y + 30}" stroke="#ff7f0e" stroke-width="1.2"/><text x="${p2.x + 36}" y="${p2.y + 34}" class="legend">per interval</text>`);
  } else {
    out.push(`<text x="${p2.x + p2.w / 2}" y="${p2.y + p2.h / 2}" class="label">no writes</text>`);
  }
  if (run.phases.length) {
    const m = qx(run.measured.startNs / 1e9);
    out.push(`<line x1="${m}" x2="${m}" y1="${p2.y}" y2="${p2.y + p2.h}" stroke="#2ca02c" stroke-dasharray="5,3"/>`);
    const label = (x: number, anchor: string, text: string): void =>
      void out.push(`<text x="${x}" y="${p2.y + p2.h - 8}" class="legend" text-anchor="${anchor}" fill="#2ca02c">${text}</text>`);
    if (m - p2.x > 100) label(m - 4, 'end', 'preconditioning');
    if (p2.x + p2.w - m > 70) label(m + 4, 'start', 'measured');
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Command

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function registerSimulateCommand(program: Command): Command {
  return program
    .command('simulate')
    .description('run a fio-like workload against an emulated device model in virtual time (no network, deterministic)')
    .option('--type <type>', "emulation type: nvm or conv (zns is not simulated yet; kv takes KV commands, not block I/O); default conv, or the preset's type")
    .option('--preset <name>', `device preset (${[...PRESET_NAMES.nvm, ...PRESET_NAMES.conv].join(', ')})`)
    .option('--capacity <size>', `namespace capacity (default ${DEFAULT_SIM_CAPACITY}, or the --config namespace's)`)
    .option('--lba-size <bytes>', '512 or 4096')
    .option('--set <key=value>', 'override an emulation key (repeatable), e.g. --set gc_policy=cost-benefit', collect, [])
    .option('--config <file>', 'take the emulation block of a namespace in this topology file')
    .option('--nsid <n>', 'the namespace in --config')
    .option('--subsystem <nqn>', 'the subsystem in --config, when the nsid is in several')
    .option('--rw <mode>', RW_MODES.join('|'), 'randread')
    .option('--rwmixread <pct>', 'percentage of reads for randrw/rw', '50')
    .option('--bs <size>', 'block size', '4KiB')
    .option('--iodepth <n>', 'outstanding I/Os per job', '1')
    .option('--numjobs <n>', 'jobs', '1')
    .option('--runtime <seconds>', 'virtual seconds to run (default 1 unless --size)')
    .option('--size <size>', 'stop after this many bytes (all jobs together)')
    .option('--seed <n>', 'PRNG seed', '1')
    .option('--precondition [mode]', 'before measuring: fill (write the device once) or steady (fill, then random overwrite until GC runs; the default mode)')
    .option('--fua', 'writes with Force Unit Access')
    .option('--json', 'print the report as JSON')
    .option('--plot <file.svg>', 'write the latency CDF and WAF over time as an SVG')
    .action((opts: SimulateOptions) => {
      let run: SimulationRun;
      try {
        run = simulate(opts);
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`nvmf-emu simulate: invalid emulation${e.source ? ` (${e.source})` : ''}:\n`);
          for (const x of e.errors) process.stderr.write(`  ${x.path}: ${x.message}\n`);
          process.exit(2);
        }
        if (e instanceof InvalidArgumentError || e instanceof WorkloadError) {
          process.stderr.write(`nvmf-emu simulate: ${e.message}\n`);
          process.exit(2);
        }
        throw e;
      }
      if (opts.plot) writeFileSync(opts.plot, plotSvg(run));
      const unwritten = run.model.counters().hostWrittenBytes === 0 && run.report.result.read !== undefined;
      if (opts.json) process.stdout.write(JSON.stringify(run.report, null, 2) + '\n');
      else {
        process.stdout.write(formatReport(run.report));
        if (unwritten && run.model.kind === 'conv') process.stdout.write('  note: nothing was written, so reads never touched NAND; add --precondition fill\n');
      }
    });
}
