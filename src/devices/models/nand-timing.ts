// Runtime timing knobs of the NAND-based models (conv, zns): read latencies per page type
// (`read_latency_lsb_ns`, ...; or one value for all types), and scalar knobs (program, erase,
// firmware, bus bandwidths). What NVMeVirt exposes through /proc/nvmev, by name.
import type { TimingParams } from '../model.js';
import { pageTypeNames, type NandParams } from './conv-params.js';
import type { BandwidthResource } from './bandwidth.js';

/** What a NAND model keeps that its timing knobs touch. */
export interface NandTimingState {
  readonly p: NandParams;
  readonly read4k: Float64Array;
  readonly readPage: Float64Array;
  readonly channelBw: readonly BandwidthResource[];
  readonly pcieToHost: BandwidthResource;
  readonly pcieFromHost: BandwidthResource;
}

/** The knobs and their current values. */
export function nandTiming(s: NandTimingState, scalarKeys: readonly string[]): TimingParams {
  const t: TimingParams = {};
  const names = pageTypeNames(s.p.cell_type);
  names.forEach((n, i) => (t[`read_4k_latency_${n}_ns`] = s.read4k[i]!));
  names.forEach((n, i) => (t[`read_latency_${n}_ns`] = s.readPage[i]!));
  for (const k of scalarKeys) t[k] = (s.p as unknown as Record<string, number>)[k]!;
  return t;
}

/** Apply knobs (all checked first: an unknown key or a bad value changes nothing and throws). */
export function setNandTiming(s: NandTimingState, t: TimingParams, scalarKeys: readonly string[], device: string): void {
  const names = pageTypeNames(s.p.cell_type);
  const known = [...Object.keys(nandTiming(s, scalarKeys)), 'read_4k_latency_ns', 'read_latency_ns'];
  for (const [k, v] of Object.entries(t)) {
    if (!known.includes(k)) throw new Error(`unknown timing parameter "${k}" for ${device} (known: ${known.join(', ')})`);
    const positive = k.endsWith('_bw_mibps');
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (positive && v === 0)) {
      throw new Error(`${k} must be a finite number ${positive ? '> 0' : '>= 0'}, got ${v}`);
    }
  }
  for (const [k, v] of Object.entries(t)) {
    const m = /^read_(4k_)?latency_([a-z]+)_ns$/.exec(k);
    const i = m ? names.indexOf(m[2]!) : -1;
    if (m && i >= 0) (m[1] ? s.read4k : s.readPage)[i] = v;
    else if (k === 'read_4k_latency_ns') s.read4k.fill(v);
    else if (k === 'read_latency_ns') s.readPage.fill(v);
    else (s.p as unknown as Record<string, number>)[k] = v;
  }
  s.p.read_4k_latency_ns = [...s.read4k];
  s.p.read_latency_ns = [...s.readPage];
  for (const c of s.channelBw) c.setBandwidth(s.p.channel_bw_mibps);
  s.pcieToHost.setBandwidth(s.p.pcie_bw_mibps);
  s.pcieFromHost.setBandwidth(s.p.pcie_bw_mibps);
}
