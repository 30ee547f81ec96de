// A minimal DeviceModel: every read takes read_latency_ns, every write / write-zeroes
// write_latency_ns, flush and trim nothing, with unlimited parallelism. The engine's own tests and
// benchmark use it (EngineOptions.modelModule = STAND_IN_MODEL_MODULE) so that they measure the
// engine, not a device model: a zero-latency instance measures the worker hop alone. The module
// exports createModel() with the signature of src/devices/presets.ts, so a worker can load either.
import type { Emulation } from '../../config/topology.js';
import { ModelOp, type DeviceModel, type ModelCounters, type ModelOpCode, type TimingParams } from '../model.js';
import { emptyCounters } from './layout.js';

const KEYS = ['read_latency_ns', 'write_latency_ns'] as const;

export class FixedLatencyModel implements DeviceModel {
  readonly kind: 'nvm' | 'conv';
  readonly nlb: number;
  private readNs: number;
  private writeNs: number;
  private readonly c: ModelCounters = emptyCounters();

  constructor(
    readonly lbaSize: number,
    capacityBytes: number,
    readLatencyNs: number,
    writeLatencyNs: number,
    kind: 'nvm' | 'conv' = 'nvm',
  ) {
    this.kind = kind;
    this.nlb = Math.floor(capacityBytes / lbaSize);
    this.readNs = readLatencyNs;
    this.writeNs = writeLatencyNs;
  }

  submit(op: ModelOpCode, _slba: number, nlb: number, _fua: boolean, nowNs: number): number {
    const bytes = nlb * this.lbaSize;
    switch (op) {
      case ModelOp.Read:
        this.c.hostReadBytes += bytes;
        return nowNs + this.readNs;
      case ModelOp.Write:
      case ModelOp.WriteZeroes:
        this.c.hostWrittenBytes += bytes;
        return nowNs + this.writeNs;
      case ModelOp.Trim:
        this.c.trimmedBytes += bytes;
        return nowNs;
      case ModelOp.Flush:
        return nowNs;
      default:
        throw new Error(`unknown model op ${String(op)}`);
    }
  }

  counters(): ModelCounters {
    return { ...this.c };
  }

  timing(): TimingParams {
    return { read_latency_ns: this.readNs, write_latency_ns: this.writeNs };
  }

  setTiming(p: TimingParams): void {
    for (const [k, v] of Object.entries(p)) {
      if (!(KEYS as readonly string[]).includes(k)) throw new Error(`unknown timing parameter "${k}" (known: ${KEYS.join(', ')})`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${k} must be a finite number >= 0`);
    }
    if (p.read_latency_ns !== undefined) this.readNs = p.read_latency_ns;
    if (p.write_latency_ns !== undefined) this.writeNs = p.write_latency_ns;
  }
}

export function createModel(emulation: Emulation, lbaSize: number, capacityBytes: number): DeviceModel {
  if (emulation.type !== 'nvm' && emulation.type !== 'conv') {
    throw new Error(`the stand-in model has no "${emulation.type}" emulation`);
  }
  const e = emulation as { read_latency_ns?: unknown; write_latency_ns?: unknown };
  const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
  return new FixedLatencyModel(lbaSize, capacityBytes, num(e.read_latency_ns), num(e.write_latency_ns), emulation.type);
}
