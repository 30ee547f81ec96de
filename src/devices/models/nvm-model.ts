// `nvm` device model: NVMeVirt's "simple" model for Optane-like devices. Every read or write takes
// a fixed latency, and the device moves data through a number of parallel I/O units ("slots"),
// each carrying 4 KiB per latency, so bandwidth = slots x 4 KiB / latency (NVMeVirt's
// /proc/nvmev/read_latency, write_latency and slot knobs). An explicit read/write bandwidth
// replaces the derived one. The slots are modelled as one server of their combined bandwidth:
// a command completes at max(now + latency, when its bytes have been through the server). With
// io_units = 0 (and no explicit bandwidth) the device has unlimited parallelism: pure latency, and
// with zero latency every command completes at the time it was submitted.
//
// Data never enters a model: the namespace's store on the network thread keeps it, by LBA.
import { nsPerByte } from './bandwidth.js';
import { counterlessFtl, ModelOp, withTiming, type DeviceModel, type ModelCounters, type ModelOpCode, type TimingParams } from '../model.js';

export interface NvmParams {
  read_latency_ns: number;
  write_latency_ns: number;
  /** Parallel I/O units (NVMeVirt's `slot`); 0 = unlimited. */
  io_units: number;
  /** MiB/s; 0 = derived from io_units x 4 KiB / latency. */
  read_bw_mibps: number;
  write_bw_mibps: number;
}

export const NVM_TIMING_KEYS = ['read_latency_ns', 'write_latency_ns', 'io_units', 'read_bw_mibps', 'write_bw_mibps'] as const;

const UNIT = 4096;

export class NvmModel implements DeviceModel {
  readonly kind = 'nvm' as const;
  readonly nlb: number;
  private p: NvmParams;
  private readNsPerByte = 0;
  private writeNsPerByte = 0;
  private busyUntil = 0;
  private hostWritten = 0;
  private hostRead = 0;
  private trimmed = 0;

  constructor(
    p: NvmParams,
    readonly lbaSize: number,
    capacityBytes: number,
  ) {
    this.nlb = Math.floor(capacityBytes / lbaSize);
    this.p = { ...p };
    checkNvmParams(this.p);
    this.derive();
  }

  /** Effective bandwidths in MiB/s (Infinity = unlimited). */
  get bandwidthMibps(): { read: number; write: number } {
    const f = (x: number): number => (x > 0 ? 1e9 / x / (1024 * 1024) : Infinity);
    return { read: f(this.readNsPerByte), write: f(this.writeNsPerByte) };
  }

  private derive(): void {
    const per = (bw: number, lat: number): number =>
      bw > 0 ? nsPerByte(bw) : this.p.io_units > 0 && lat > 0 ? lat / (this.p.io_units * UNIT) : 0;
    this.readNsPerByte = per(this.p.read_bw_mibps, this.p.read_latency_ns);
    this.writeNsPerByte = per(this.p.write_bw_mibps, this.p.write_latency_ns);
  }

  submit(op: ModelOpCode, _slba: number, nlb: number, _fua: boolean, nowNs: number): number {
    const bytes = nlb * this.lbaSize;
    switch (op) {
      case ModelOp.Read:
        this.hostRead += bytes;
        return this.transfer(nowNs, bytes, this.readNsPerByte, this.p.read_latency_ns);
      case ModelOp.Write:
        this.hostWritten += bytes;
        return this.transfer(nowNs, bytes, this.writeNsPerByte, this.p.write_latency_ns);
      case ModelOp.WriteZeroes:
        // No data moves; the media still records the write.
        this.hostWritten += bytes;
        return nowNs + this.p.write_latency_ns;
      case ModelOp.Trim:
        this.trimmed += bytes;
        return nowNs;
      default: // Flush: no volatile buffer
        return nowNs;
    }
  }

  private transfer(nowNs: number, bytes: number, perByte: number, latency: number): number {
    if (perByte === 0) return nowNs + latency;
    const start = Math.max(nowNs, this.busyUntil);
    this.busyUntil = start + bytes * perByte;
    return Math.ceil(Math.max(nowNs + latency, this.busyUntil));
  }

  counters(): ModelCounters {
    return counterlessFtl({ hostWritten: this.hostWritten, hostRead: this.hostRead, mediaRead: this.hostRead, trimmed: this.trimmed });
  }

  timing(): TimingParams {
    return { ...this.p };
  }

  setTiming(t: TimingParams): void {
    const next = withTiming(this.p, t, NVM_TIMING_KEYS, 'an nvm device');
    checkNvmParams(next);
    this.p = next;
    this.derive();
  }
}

function checkNvmParams(p: NvmParams): void {
  for (const k of NVM_TIMING_KEYS) {
    const v = p[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${k} must be a finite number >= 0, got ${v}`);
  }
  if (!Number.isInteger(p.io_units)) throw new Error(`io_units must be an integer, got ${p.io_units}`);
}
