// `kv` device model: the timing of a key-value SSD. Data never enters it: the keys and values live
// in the namespace's KvStore on the network thread, and each command arrives here as an op with
// its sizes (slba = value bytes, nlb = key length; for a list, nlb = keys returned).
//
// Every KV command costs controller firmware time, and the ones that move values cost NAND and
// bus time by their size (NVMeVirt completes delete, exist and iterate with zero latency; here
// each is an index operation with its own cost):
// - store: firmware (base + per 4 KiB, as a write into the write buffer), the value over PCIe, and
//   admission to the write buffer, which drains to NAND at the program rate of all LUNs
//   (program_latency_ns per flash page per LUN). Completes early, once the value is buffered;
//   a full buffer makes it wait for programs (the store then runs at NAND speed).
// - retrieve: firmware, the index lookup, NAND reads of the value's flash pages spread over the
//   LUNs, the channel transfer, then PCIe. A missing key costs firmware and the index lookup.
// - delete, exist: firmware + index operation. list: + a per-key cost and the data over PCIe.
// - flush: until the write buffer has drained.
import { nsPerByte } from './bandwidth.js';
import { counterlessFtl, ModelOp, withTiming, type DeviceModel, type ModelCounters, type ModelOpCode, type TimingParams } from '../model.js';

export interface KvParams {
  channels: number;
  luns_per_channel: number;
  flash_page_size: number;
  /** NAND read of one flash page (value bytes up to flash_page_size per LUN). */
  nand_read_ns: number;
  /** NAND program of one flash page. */
  program_latency_ns: number;
  /** Firmware time of a store: base, plus per 4 KiB of value. */
  firmware_store_ns: number;
  firmware_store_per_4k_ns: number;
  /** Firmware time of a retrieve. */
  firmware_retrieve_ns: number;
  /** Hash-index operation (lookup, insert, remove): every KV command pays it once. */
  index_ns: number;
  /** List / iterate: per key returned. */
  list_per_key_ns: number;
  channel_bw_mibps: number;
  pcie_bw_mibps: number;
  write_buffer_size: number;
}

export const KV_TIMING_KEYS = [
  'channels',
  'luns_per_channel',
  'flash_page_size',
  'nand_read_ns',
  'program_latency_ns',
  'firmware_store_ns',
  'firmware_store_per_4k_ns',
  'firmware_retrieve_ns',
  'index_ns',
  'list_per_key_ns',
  'channel_bw_mibps',
  'pcie_bw_mibps',
  'write_buffer_size',
] as const satisfies readonly (keyof KvParams)[];

const INTEGER_KEYS = new Set<string>(['channels', 'luns_per_channel', 'flash_page_size', 'write_buffer_size']);
const UNIT = 4096;

export class KvModel implements DeviceModel {
  readonly kind = 'kv' as const;
  readonly nlb: number;
  private p: KvParams;
  private pcieBusyUntil = 0;
  /** When the write buffer will have drained everything accepted so far. */
  private drainUntil = 0;
  private drainNsPerByte = 0;
  private pciePerByte = 0;
  private channelPerByte = 0;
  private hostWritten = 0;
  private hostRead = 0;
  private mediaRead = 0;
  private deleted = 0;

  constructor(
    p: KvParams,
    readonly lbaSize: number,
    capacityBytes: number,
  ) {
    this.nlb = Math.floor(capacityBytes / lbaSize);
    this.p = { ...p };
    checkKvParams(this.p);
    this.derive();
  }

  private get luns(): number {
    return this.p.channels * this.p.luns_per_channel;
  }

  private derive(): void {
    this.drainNsPerByte = this.p.program_latency_ns / (this.luns * this.p.flash_page_size);
    this.pciePerByte = nsPerByte(this.p.pcie_bw_mibps);
    this.channelPerByte = nsPerByte(this.p.channel_bw_mibps * this.p.channels);
  }

  submit(op: ModelOpCode, slba: number, nlb: number, _fua: boolean, nowNs: number): number {
    switch (op) {
      case ModelOp.KvStore:
        return this.store(nowNs, slba);
      case ModelOp.KvRetrieve:
        return this.retrieve(nowNs, slba);
      case ModelOp.KvDelete:
        this.deleted += slba;
        return nowNs + this.p.index_ns;
      case ModelOp.KvExist:
        return nowNs + this.p.index_ns;
      case ModelOp.KvList: {
        const t = nowNs + this.p.index_ns + nlb * this.p.list_per_key_ns;
        return this.pcie(t, slba);
      }
      case ModelOp.Read:
        return this.retrieve(nowNs, nlb * this.lbaSize);
      case ModelOp.Write:
        return this.store(nowNs, nlb * this.lbaSize);
      case ModelOp.Flush:
        return Math.max(nowNs, Math.ceil(this.drainUntil));
      default: // Trim, Write Zeroes: no data moves
        return nowNs;
    }
  }

  private store(nowNs: number, bytes: number): number {
    this.hostWritten += bytes;
    const fw = this.p.firmware_store_ns + Math.ceil(bytes / UNIT) * this.p.firmware_store_per_4k_ns + this.p.index_ns;
    const inAt = this.pcie(nowNs, bytes);
    // Write buffer admission: what is still buffered at `inAt`, plus this value, must fit.
    const buffered = Math.max(0, this.drainUntil - inAt) / (this.drainNsPerByte || Infinity);
    const over = buffered + bytes - this.p.write_buffer_size;
    const admitted = over > 0 ? inAt + over * this.drainNsPerByte : inAt;
    this.drainUntil = Math.max(this.drainUntil, admitted) + bytes * this.drainNsPerByte;
    return Math.ceil(Math.max(nowNs + fw, admitted));
  }

  private retrieve(nowNs: number, bytes: number): number {
    let t = nowNs + this.p.firmware_retrieve_ns + this.p.index_ns;
    if (bytes > 0) {
      this.hostRead += bytes;
      const pages = Math.ceil(bytes / this.p.flash_page_size);
      this.mediaRead += pages * this.p.flash_page_size;
      t += Math.ceil(pages / this.luns) * this.p.nand_read_ns + bytes * this.channelPerByte;
    }
    return this.pcie(t, bytes);
  }

  /** `bytes` through the PCIe link (one server), starting no earlier than `t`. */
  private pcie(t: number, bytes: number): number {
    if (bytes === 0 || this.pciePerByte === 0) return Math.ceil(t);
    const start = Math.max(t, this.pcieBusyUntil);
    this.pcieBusyUntil = start + bytes * this.pciePerByte;
    return Math.ceil(this.pcieBusyUntil);
  }

  counters(): ModelCounters {
    return counterlessFtl({ hostWritten: this.hostWritten, hostRead: this.hostRead, mediaRead: this.mediaRead, trimmed: this.deleted });
  }

  timing(): TimingParams {
    return { ...this.p };
  }

  setTiming(t: TimingParams): void {
    const next = withTiming(this.p, t, KV_TIMING_KEYS, 'a kv device');
    checkKvParams(next);
    this.p = next;
    this.derive();
  }
}

/** Problems with a parameter set, as [key, message] (empty when valid). */
export function kvParamProblems(p: KvParams): [string, string][] {
  const out: [string, string][] = [];
  for (const k of KV_TIMING_KEYS) {
    const v = p[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) out.push([k, `must be a finite number >= 0, got ${String(v)}`]);
    else if (INTEGER_KEYS.has(k) && (!Number.isInteger(v) || v < 1)) out.push([k, `must be an integer >= 1, got ${v}`]);
  }
  return out;
}

function checkKvParams(p: KvParams): void {
  const problems = kvParamProblems(p);
  if (problems.length) throw new Error(problems.map(([k, m]) => `${k} ${m}`).join('; '));
}
