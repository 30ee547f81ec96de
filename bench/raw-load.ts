// The benchmark's load generator. Our initiator (NvmeHost) brings the controller and its I/O queues
// up; then each I/O queue's socket is driven here with capsules encoded in place per command slot, a
// minimal PDU parser, and every capsule a data event produces written in one buffer. The general
// initiator pays a Promise and a closure per command and would be the ceiling at high queue depths;
// this one costs well under the target's work per command, so the target is what gets measured.
import net, { type Socket } from 'node:net';
import { NvmeHost } from '../src/initiator/host.js';
import { NvmOpcode, PduFlag, PduHlen, PduType, SglId } from '../src/protocol/constants.js';
import { crc32c } from '../src/protocol/digest.js';
import { writeCommonHeader, writeDataHeader } from '../src/protocol/pdu.js';
import { SqeOff } from '../src/protocol/sqe.js';
import { readIntoSharedBuffer } from '../src/transport/socket-read-buffer.js';
import { Samples, summarize, type LoadResult, type LoadSpec } from './load.js';

/** Data at least this large goes to the socket as its own chunk (writev) instead of being copied. */
const COPY_MAX = 16 * 1024;

/** Shared by the queues of one run. */
class Run {
  readonly lat = new Samples();
  errors = 0;
  seq = 0;
  readonly deadline: number;
  readonly blocks: number;
  /** Commands to issue at most (one pass over the span for a fill). */
  readonly limit: number;
  readonly payload: Buffer;
  constructor(readonly spec: LoadSpec, readonly nlb: number, start: number) {
    this.deadline = start + spec.seconds * 1000;
    this.blocks = Math.floor(spec.span / spec.blockSize);
    this.limit = spec.once && !spec.random ? this.blocks : Infinity;
    this.payload = Buffer.alloc(spec.blockSize, 0xa5);
  }
}

class RawQueue {
  private readonly hd: number;
  /** Per CID: the capsule (CH + SQE [+ HDGST]) rewritten for each command. */
  private readonly capsules: Buffer[] = [];
  private readonly sentAt: Float64Array;
  private readonly isWrite: Uint8Array;
  /** The payload's data digest, computed once (every write carries the same bytes). */
  private readonly payloadDigest = Buffer.alloc(4);
  private readonly inCapsule: boolean;
  // transmit batch
  private readonly batchSize: number;
  private small: Buffer;
  private smallOff = 0;
  private readonly chunks: Buffer[] = [];
  // receive state: header bytes, then a body to skip
  private readonly hdr = Buffer.alloc(128);
  private hdrHave = 0;
  private hdrWant = 8;
  private bodyLeft = 0;
  private running = 0;
  private finished!: () => void;
  readonly done: Promise<void>;
  private failed: Error | null = null;

  constructor(
    private readonly sock: Socket,
    private readonly run: Run,
    private readonly depth: number,
    private readonly hdgst: boolean,
    private readonly ddgst: boolean,
    inCapsuleLimit: number,
    private readonly maxh2cdata: number,
  ) {
    this.hd = hdgst ? 4 : 0;
    this.sentAt = new Float64Array(depth);
    this.isWrite = new Uint8Array(depth);
    this.inCapsule = run.spec.blockSize <= inCapsuleLimit;
    this.payloadDigest.writeUInt32LE(crc32c(run.payload), 0);
    for (let cid = 0; cid < depth; cid++) {
      const c = Buffer.alloc(PduHlen.CapsuleCmd + this.hd);
      c[8 + SqeOff.flags] = 0x40; // PSDT: SGL
      c.writeUInt16LE(cid, 8 + SqeOff.cid);
      c.writeUInt32LE(run.spec.nsid, 8 + SqeOff.nsid);
      c.writeUInt32LE(run.spec.blockSize, 8 + SqeOff.sglLength);
      c.writeUInt32LE(run.nlb - 1, 8 + 48); // CDW12: NLB (0's based)
      this.capsules.push(c);
    }
    // Room for one batch: every CID's capsule (with in-capsule data) and an H2CData header.
    this.batchSize = Math.max(64 * 1024, depth * (PduHlen.CapsuleCmd + 4 + PduHlen.H2CData + 8 + (this.inCapsule ? run.spec.blockSize + 4 : 0)));
    this.small = Buffer.allocUnsafe(this.batchSize);
    this.done = new Promise((resolve) => (this.finished = resolve));
    // Reads into one reused buffer, as the target does: at GB/s a Buffer per read would have this
    // process collecting garbage instead of generating load.
    if (readIntoSharedBuffer(sock, (b, n) => this.onData(b, n)) === null) sock.on('data', (c: Buffer) => this.onData(c, c.length));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('connection closed')));
  }

  start(): void {
    const now = performance.now();
    for (let cid = 0; cid < this.depth && this.run.seq < this.run.limit; cid++) this.issue(cid, now);
    this.flush();
  }

  close(): void {
    this.sock.destroy();
  }

  private fail(e: Error): void {
    if (this.failed === null && this.running > 0) {
      this.failed = e;
      this.run.errors += this.running;
      this.running = 0;
      this.finished();
    }
  }

  private issue(cid: number, now: number): void {
    const run = this.run;
    const spec = run.spec;
    const blk = spec.random ? Math.floor(Math.random() * run.blocks) : run.seq++ % run.blocks;
    const write = spec.readFraction < 1 && Math.random() >= spec.readFraction;
    const c = this.capsules[cid]!;
    const icl = write && this.inCapsule ? spec.blockSize : 0;
    const dd = icl > 0 && this.ddgst ? 4 : 0;
    writeCommonHeader(c, 0, PduType.CapsuleCmd, (this.hdgst ? PduFlag.HDGSTF : 0) | (dd ? PduFlag.DDGSTF : 0), PduHlen.CapsuleCmd,
      icl > 0 ? PduHlen.CapsuleCmd + this.hd : 0, PduHlen.CapsuleCmd + this.hd + icl + dd);
    c[8 + SqeOff.opcode] = write ? NvmOpcode.Write : NvmOpcode.Read;
    c[8 + SqeOff.sglType] = icl > 0 ? SglId.DataBlockOffset : SglId.TransportDataBlock;
    const slba = blk * run.nlb;
    c.writeUInt32LE(slba >>> 0, 8 + SqeOff.cdw10);
    c.writeUInt32LE(Math.floor(slba / 2 ** 32), 8 + SqeOff.cdw10 + 4);
    if (this.hdgst) c.writeUInt32LE(crc32c(c.subarray(0, PduHlen.CapsuleCmd)), PduHlen.CapsuleCmd);
    this.append(c);
    if (icl > 0) {
      this.append(run.payload);
      if (dd) this.append(this.payloadDigest);
    }
    this.isWrite[cid] = write ? 1 : 0;
    this.sentAt[cid] = now;
    this.running++;
  }

  private append(b: Buffer): void {
    if (b.length >= COPY_MAX) {
      this.cut();
      this.chunks.push(b);
      return;
    }
    if (this.smallOff + b.length > this.small.length) {
      this.cut();
      this.small = Buffer.allocUnsafe(Math.max(this.batchSize, b.length));
      this.smallOff = 0;
    }
    b.copy(this.small, this.smallOff);
    this.smallOff += b.length;
  }

  /** Close the current run of copied bytes as one chunk; later bytes go to fresh memory. */
  private cut(): void {
    if (this.smallOff === 0) return;
    this.chunks.push(this.small.subarray(0, this.smallOff));
    this.small = this.small.subarray(this.smallOff);
    this.smallOff = 0;
  }

  private flush(): void {
    this.cut();
    const ch = this.chunks;
    if (ch.length === 0) return;
    if (ch.length === 1) this.sock.write(ch[0]!);
    else {
      this.sock.cork();
      for (let i = 0; i < ch.length; i++) this.sock.write(ch[i]!);
      this.sock.uncork();
    }
    ch.length = 0;
    // The bytes written stay the socket's until sent: never reuse them.
    if (this.small.length < this.batchSize / 2) this.small = Buffer.allocUnsafe(this.batchSize);
  }

  private onData(chunk: Buffer, len: number): void {
    let pos = 0;
    const now = performance.now();
    while (pos < len) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, len - pos);
        pos += n;
        this.bodyLeft -= n;
        continue;
      }
      const n = Math.min(this.hdrWant - this.hdrHave, len - pos);
      chunk.copy(this.hdr, this.hdrHave, pos, pos + n);
      this.hdrHave += n;
      pos += n;
      if (this.hdrHave < this.hdrWant) break;
      if (this.hdrWant === 8) {
        // Common header read: the rest of the header, then the body (data, digests) skipped.
        const hlen = this.hdr[2]!;
        this.hdrWant = hlen + ((this.hdr[1]! & PduFlag.HDGSTF) !== 0 ? 4 : 0);
        if (this.hdrWant > this.hdr.length || this.hdrWant < 8) return this.fail(new Error(`bad PDU header length ${hlen}`));
        if (this.hdrHave < this.hdrWant) continue;
      }
      const plen = this.hdr.readUInt32LE(4);
      this.bodyLeft = plen - this.hdrWant;
      this.hdrHave = 0;
      this.hdrWant = 8;
      this.onPdu(now);
    }
    this.flush();
  }

  private onPdu(now: number): void {
    const h = this.hdr;
    switch (h[0]) {
      case PduType.CapsuleResp: {
        const cid = h.readUInt16LE(8 + 12);
        const status = h.readUInt16LE(8 + 14) >> 1;
        this.running--;
        const run = this.run;
        if (status !== 0) run.errors++;
        else run.lat.push((now - this.sentAt[cid]!) * 1000);
        if (now < run.deadline && run.seq < run.limit && this.failed === null) this.issue(cid, now);
        else if (this.running === 0) this.finished();
        return;
      }
      case PduType.C2HData:
        return; // the body (data and its digest) is skipped: checking data is the tests' job
      case PduType.R2T: {
        const cid = h.readUInt16LE(8);
        const ttag = h.readUInt16LE(10);
        const r2to = h.readUInt32LE(12);
        const r2tl = h.readUInt32LE(16);
        const data = this.run.payload;
        for (let o = r2to; o < r2to + r2tl; o += this.maxh2cdata) {
          const l = Math.min(this.maxh2cdata, r2to + r2tl - o);
          const hb = Buffer.allocUnsafe(PduHlen.H2CData + this.hd);
          writeDataHeader(hb, 0, PduType.H2CData, o + l === r2to + r2tl ? PduFlag.LAST_PDU : 0, cid, ttag, o, l, l, this.hdgst, this.ddgst);
          this.append(hb);
          const piece = data.subarray(o, o + l);
          this.append(piece);
          if (this.ddgst) {
            const d = Buffer.allocUnsafe(4);
            d.writeUInt32LE(crc32c(piece), 0);
            this.append(d);
          }
        }
        return;
      }
      default:
        return this.fail(new Error(`unexpected PDU type ${h[0]}`));
    }
  }
}

/** Same spec and result as runLoad (bench/load.ts), measured with the raw driver. */
export async function runRawLoad(spec: LoadSpec): Promise<LoadResult> {
  const hosts: NvmeHost[] = [];
  for (let c = 0; c < spec.connections; c++) {
    hosts.push(await NvmeHost.connect({ host: spec.host, port: spec.port, subnqn: spec.subnqn, ioQueues: spec.queues, queueSize: Math.max(32, spec.depth + 1), hdgst: spec.hdgst, ddgst: spec.ddgst, kato: 0 }));
  }
  const idns = await hosts[0]!.identify(0, { nsid: spec.nsid });
  const lbaSize = 1 << idns[128 + (idns[26]! & 0xf) * 4 + 2]!;
  const start = performance.now();
  const run = new Run(spec, spec.blockSize / lbaSize, start);
  const queues: RawQueue[] = [];
  for (const h of hosts) {
    for (const q of h.ioQueues) {
      queues.push(new RawQueue(q.detach(), run, spec.depth, !!spec.hdgst, !!spec.ddgst, q.inCapsuleLimit, q.maxh2cdata));
    }
  }
  for (const q of queues) q.start();
  await Promise.all(queues.map((q) => q.done));
  const seconds = (performance.now() - start) / 1000;
  for (const q of queues) q.close();
  await Promise.all(hosts.map((h) => h.close()));
  return summarize(run.lat.values, run.lat.n, run.errors, seconds, spec.blockSize);
}

/** 4 KiB random reads at `depth` against the floor responder (bench/floor.ts): no bring-up there. */
export async function runRawFloor(port: number, depth: number, seconds: number): Promise<LoadResult> {
  const spec: LoadSpec = { host: '127.0.0.1', port, subnqn: '', nsid: 1, connections: 1, queues: 1, depth, blockSize: 4096, readFraction: 1, random: true, seconds, span: 1 << 30 };
  const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const start = performance.now();
  const run = new Run(spec, 8, start);
  const q = new RawQueue(sock, run, depth, false, false, 0, 0);
  q.start();
  await q.done;
  const secs = (performance.now() - start) / 1000;
  q.close();
  return summarize(run.lat.values, run.lat.n, run.errors, secs, spec.blockSize);
}
