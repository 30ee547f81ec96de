// Load generator on our initiator: connections x queues x depth, block size, read/write mix,
// random or sequential. Prints IOPS, MiB/s and latency percentiles.
import { NvmeHost } from '../src/initiator/host.js';

export interface LoadSpec {
  host: string;
  port: number;
  subnqn: string;
  nsid: number;
  connections: number;
  queues: number;
  depth: number;
  blockSize: number;
  /** Fraction of reads, 0..1. */
  readFraction: number;
  random: boolean;
  seconds: number;
  /** Bytes of the namespace to address (from the start). */
  span: number;
  hdgst?: boolean;
  ddgst?: boolean;
  /** Sequential only: stop after one pass over the span (a fill), whatever `seconds` says. */
  once?: boolean;
}

export interface LoadResult {
  ops: number;
  errors: number;
  seconds: number;
  iops: number;
  mibps: number;
  p50us: number;
  p99us: number;
  p999us: number;
  meanUs: number;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export function summarize(lat: Float64Array, ops: number, errors: number, seconds: number, blockSize: number): LoadResult {
  const sorted = Float64Array.from(lat).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    ops,
    errors,
    seconds,
    iops: ops / seconds,
    mibps: (ops * blockSize) / seconds / 2 ** 20,
    p50us: percentile(sorted, 0.5),
    p99us: percentile(sorted, 0.99),
    p999us: percentile(sorted, 0.999),
    meanUs: sorted.length ? sum / sorted.length : 0,
  };
}

/** Latency samples (µs), growing as needed without a per-sample allocation. */
export class Samples {
  private buf = new Float64Array(1 << 20);
  n = 0;
  push(us: number): void {
    if (this.n === this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.n++] = us;
  }
  get values(): Float64Array {
    return this.buf.subarray(0, this.n);
  }
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const hosts: NvmeHost[] = [];
  for (let c = 0; c < spec.connections; c++) {
    hosts.push(await NvmeHost.connect({ host: spec.host, port: spec.port, subnqn: spec.subnqn, ioQueues: spec.queues, queueSize: Math.max(32, spec.depth + 1), hdgst: spec.hdgst, ddgst: spec.ddgst, kato: 0 }));
  }
  const idns = await hosts[0]!.identify(0, { nsid: spec.nsid });
  const lbaSize = 1 << idns[128 + (idns[26]! & 0xf) * 4 + 2]!;
  const nlb = spec.blockSize / lbaSize;
  const blocks = Math.floor(spec.span / spec.blockSize);
  const payload = Buffer.alloc(spec.blockSize, 0xa5);
  const lat = new Samples();
  let errors = 0;
  let seq = 0;
  const start = performance.now();
  const deadline = start + spec.seconds * 1000;
  const worker = async (h: NvmeHost, qid: number): Promise<void> => {
    while (performance.now() < deadline) {
      const blk = spec.random ? Math.floor(Math.random() * blocks) : seq++ % blocks;
      const slba = blk * nlb;
      const t0 = performance.now();
      try {
        if (Math.random() < spec.readFraction) await h.read(spec.nsid, slba, nlb, { qid });
        else await h.write(spec.nsid, slba, payload, { qid });
      } catch {
        errors++;
        continue;
      }
      lat.push((performance.now() - t0) * 1000);
    }
  };
  const all: Promise<void>[] = [];
  for (const h of hosts) for (let q = 1; q <= spec.queues; q++) for (let d = 0; d < spec.depth; d++) all.push(worker(h, q));
  await Promise.all(all);
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(hosts.map((h) => h.close()));
  return summarize(lat.values, lat.n, errors, seconds, spec.blockSize);
}
