// Fuzzing the NVMe/TCP front end, as SPDK fuzzes its fabrics interface:
// - PDU streams recorded from real sessions of our initiator (plain and with digests), mutated
//   (bit flips, interesting integers at header offsets, truncation, insertion, duplication,
//   deletion, splicing) and random ones, fed to the transport in-process: 200k+ cases. The daemon
//   never throws, every byte it sends is a well-formed PDU, and a connection it closes got a
//   C2HTermReq unless the host asked for the close (H2CTermReq, Disconnect).
// - A few thousand mutated streams over real TCP while a healthy connection runs verified I/O
//   beside them: it sees no error.
// - Malformed commands on a good connection (opcodes, SGL types and lengths, NSIDs, LBA ranges,
//   fused bits, reserved fields): each gets a completion, the connection stays up.
// Seeds are fixed (FUZZ_SEED overrides); FUZZ_CASES scales the in-process run.
import net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortRuntime } from '../../src/controller/target.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost } from '../../src/initiator/index.js';
import { PduType } from '../../src/protocol/constants.js';
import { crc32c } from '../../src/protocol/digest.js';
import { TcpQueue } from '../../src/transport/tcp-queue.js';
import { FakeSocket } from '../helpers/fake-socket.js';
import { pattern } from '../helpers/pattern.js';
import { RawClient } from './helpers/raw-client.js';
import { loopbackTopology } from '../helpers/topology.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:fuzz';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000f022';
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const CASES = Number(process.env.FUZZ_CASES ?? 200_000);

/** mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let daemon: Daemon;
let port: number;
let live: NvmeHost;
/** Client-to-target byte streams, one per connection, of recorded sessions. */
const streams: { name: string; bytes: Buffer; io: boolean; ddgst: boolean }[] = [];

/** PDU start offsets in a well-formed stream (common header PLEN). */
function pduStarts(b: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0; o + 8 <= b.length; ) {
    out.push(o);
    const plen = b.readUInt32LE(o + 4);
    if (plen < 8) break;
    o += plen;
  }
  return out;
}

/** Record what our initiator sends, through a pass-through proxy in front of the daemon. */
async function record(name: string, o: { hdgst?: boolean; ddgst?: boolean }): Promise<void> {
  const got: { bytes: Buffer[] }[] = [];
  const proxy = net.createServer((c) => {
    const rec = { bytes: [] as Buffer[] };
    got.push(rec);
    const up = net.connect(port, '127.0.0.1');
    c.on('data', (d: Buffer) => {
      rec.bytes.push(Buffer.from(d));
      up.write(d);
    });
    up.on('data', (d: Buffer) => c.write(d));
    const end = (): void => {
      c.destroy();
      up.destroy();
    };
    c.on('close', end);
    up.on('close', end);
    c.on('error', end);
    up.on('error', end);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const h = await NvmeHost.connect({ host: '127.0.0.1', port: (proxy.address() as net.AddressInfo).port, subnqn: NQN, hostnqn: HOSTNQN, ioQueues: 1, ...o });
  await h.identify(1);
  await h.getLogPage(0x02, 512);
  await h.write(1, 0, pattern(512, 1)); // in-capsule
  await h.write(1, 8, pattern(64 * 1024, 2)); // R2T + H2CData
  await h.read(1, 8, 128);
  await h.write(2, 0, pattern(4096, 3));
  await h.read(2, 0, 8);
  await h.deallocate(1, [{ slba: 0, nlb: 1 }]);
  await h.flush(1);
  await h.writeZeroes(1, 16, 8);
  await h.compare(1, 8, pattern(512, 2));
  await h.disconnect();
  await new Promise<void>((r) => proxy.close(() => r()));
  got.forEach((g, i) => streams.push({ name: `${name}#${i}`, bytes: Buffer.concat(g.bytes), io: i > 0, ddgst: !!o.ddgst }));
}

beforeAll(async () => {
  const topology = loopbackTopology(NQN, [
    { nsid: 1, emulation: { type: 'nvm', capacity: '16MiB', lba_size: 512 } },
    { nsid: 2, emulation: { type: 'nvm', capacity: '16MiB', lba_size: 4096, read_latency_ns: 20_000, write_latency_ns: 20_000 } },
  ]);
  daemon = await startDaemon({ topology, logger: pino({ level: 'silent' }), engine: { workers: 1 } });
  port = daemon.listeners[0]!.port;
  await record('plain', {});
  await record('digests', { hdgst: true, ddgst: true });
  // The controller the recorded I/O-queue streams attach to (their Connect names its cntlid).
  live = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN, hostnqn: HOSTNQN, ioQueues: 0, kato: 0 });
});

afterAll(async () => {
  await live?.close().catch(() => {});
  await daemon?.stop();
});

/** Point a recorded I/O-queue stream's Connect at the live controller (fixing its data digest). */
function attach(s: (typeof streams)[number], cntlid: number): Buffer {
  const b = Buffer.from(s.bytes);
  if (!s.io) return b;
  const starts = pduStarts(b);
  const connect = starts.find((o) => b[o] === PduType.CapsuleCmd)!;
  const pdo = b[connect + 3]!;
  const plen = b.readUInt32LE(connect + 4);
  const dataStart = connect + pdo;
  b.writeUInt16LE(cntlid, dataStart + 16);
  if (s.ddgst) b.writeUInt32LE(crc32c(b.subarray(dataStart, connect + plen - 4)), connect + plen - 4);
  return b;
}

const INTERESTING32 = [0, 1, 2, 7, 8, 0x18, 0x48, 0x80, 0xff, 0x100, 0x1000, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe];
const INTERESTING8 = [0, 1, 0x7f, 0x80, 0xff, 0x02, 0x04, 0x06, 0x08, 0x0a];

/** 1..4 mutations, biased to PDU headers (where the state machine decides). */
function mutate(src: Buffer, r: () => number, other: Buffer): Buffer {
  let b = Buffer.from(src);
  const n = 1 + Math.floor(r() * 4);
  const starts = pduStarts(src);
  for (let k = 0; k < n && b.length > 0; k++) {
    const at = (): number => {
      if (r() < 0.7 && starts.length) return Math.min(b.length - 1, starts[Math.floor(r() * starts.length)]! + Math.floor(r() * 80));
      return Math.floor(r() * b.length);
    };
    switch (Math.floor(r() * 8)) {
      case 0: {
        const o = at();
        b[o]! ^= 1 << Math.floor(r() * 8);
        break;
      }
      case 1:
        b[at()] = INTERESTING8[Math.floor(r() * INTERESTING8.length)]!;
        break;
      case 2: {
        const o = Math.min(at(), b.length - 4);
        if (o >= 0) b.writeUInt32LE(r() < 0.8 ? INTERESTING32[Math.floor(r() * INTERESTING32.length)]! : Math.floor(r() * 2 ** 32), o);
        break;
      }
      case 3:
        b = b.subarray(0, at());
        break;
      case 4: {
        const o = at();
        const ins = Buffer.alloc(1 + Math.floor(r() * 96));
        for (let i = 0; i < ins.length; i++) ins[i] = Math.floor(r() * 256);
        b = Buffer.concat([b.subarray(0, o), ins, b.subarray(o)]);
        break;
      }
      case 5: {
        const o = at();
        const len = Math.floor(r() * 200);
        b = Buffer.concat([b.subarray(0, o + len), b.subarray(o, o + len), b.subarray(o + len)]);
        break;
      }
      case 6: {
        const o = at();
        b = Buffer.concat([b.subarray(0, o), b.subarray(o + 1 + Math.floor(r() * 100))]);
        break;
      }
      default: {
        const o = at();
        b = Buffer.concat([b.subarray(0, o), other.subarray(Math.floor(r() * other.length))]);
      }
    }
  }
  return b;
}

const TARGET_PDUS: ReadonlySet<number> = new Set([PduType.ICResp, PduType.C2HTermReq, PduType.CapsuleResp, PduType.C2HData, PduType.R2T]);

/** Target output must be a sequence of whole, well-formed PDUs; returns whether a C2HTermReq was among them. */
function checkOutput(out: Buffer): boolean {
  let termReq = false;
  let o = 0;
  while (o < out.length) {
    if (out.length - o < 8) throw new Error(`target sent a partial common header at ${o}`);
    const type = out[o]!;
    const hlen = out[o + 2]!;
    const plen = out.readUInt32LE(o + 4);
    if (!TARGET_PDUS.has(type)) throw new Error(`target sent PDU type ${type}`);
    if (plen < hlen || o + plen > out.length) throw new Error(`target sent a bad PLEN ${plen} (HLEN ${hlen}) at ${o} of ${out.length}`);
    if (type === PduType.C2HTermReq) termReq = true;
    o += plen;
  }
  return termReq;
}

/** Host-initiated closes: the target closes without a TermReq, as the spec has it. */
const HOST_CLOSES = new Set(['H2CTermReq', 'disconnect']);

interface CaseResult {
  termReq: boolean;
  closed: boolean;
}

async function runCase(bytes: Buffer, r: () => number, portRt: PortRuntime): Promise<CaseResult> {
  const sock = new FakeSocket();
  const reasons: string[] = [];
  const q = new TcpQueue(sock.asSocket(), daemon.target, portRt, () => {});
  const close = q.close.bind(q);
  q.close = (reason: string): void => {
    reasons.push(reason);
    close(reason);
  };
  // Random segmentation: the state machine must not care where TCP splits the stream.
  for (let o = 0; o < bytes.length; ) {
    const n = r() < 0.5 ? bytes.length - o : 1 + Math.floor(r() * 300);
    sock.feed(bytes.subarray(o, o + n));
    o += n;
  }
  await new Promise<void>((res) => setImmediate(res)); // nextTick flushes, setImmediate disconnects
  const termReq = checkOutput(Buffer.concat(sock.out));
  const closed = sock.closedByTarget;
  if (closed && !termReq && !reasons.some((x) => HOST_CLOSES.has(x))) {
    throw new Error(`target closed without a C2HTermReq (reasons: ${reasons.join(', ') || 'none'})`);
  }
  sock.teardown();
  return { termReq, closed };
}

describe('fuzzing the transport in-process', () => {
  it(`survives ${CASES} mutated and random PDU streams, always answering with well-formed PDUs`, async () => {
    const portRt = daemon.target.ports.get(1)!;
    const r = rng(SEED);
    let termReqs = 0;
    let closes = 0;
    let i = 0;
    try {
      for (; i < CASES; i++) {
        const cntlid = live.cntlid;
        let input: Buffer;
        if (i % 20 === 19) {
          // Random bytes, sometimes behind a valid ICReq so the PDU layer is reached.
          const junk = Buffer.alloc(Math.floor(r() * 512));
          for (let k = 0; k < junk.length; k++) junk[k] = Math.floor(r() * 256);
          input = r() < 0.5 ? Buffer.concat([streams[0]!.bytes.subarray(0, 128), junk]) : junk;
        } else {
          const s = streams[Math.floor(r() * streams.length)]!;
          const other = streams[Math.floor(r() * streams.length)]!;
          input = mutate(attach(s, cntlid), r, other.bytes);
        }
        const res = await runCase(input, r, portRt);
        if (res.termReq) termReqs++;
        if (res.closed) closes++;
      }
    } catch (err) {
      throw new Error(`case ${i} (FUZZ_SEED=${SEED}): ${(err as Error).message}`);
    }
    // The fuzzer reached the error paths, and the live controller it attached to survived.
    expect(termReqs).toBeGreaterThan(CASES / 20);
    expect(closes).toBeGreaterThanOrEqual(termReqs);
    expect(daemon.target.subsystems.get(NQN)!.controllers.has(live.cntlid)).toBe(true);
    expect((await live.identify(1)).readUInt16LE(0)).toBeGreaterThanOrEqual(0);
  }, 600_000);
});

describe('fuzzing over TCP beside a healthy connection', () => {
  it('mutated streams on real sockets never disturb verified I/O on another connection', async () => {
    const healthy = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN, ioQueues: 2 });
    let stop = false;
    let verified = 0;
    let ioError: unknown = null;
    const io = (async () => {
      for (let i = 0; !stop; i++) {
        const data = pattern(8192, i);
        const nsid = 1 + (i % 2);
        const lba = nsid === 1 ? (i % 1000) * 16 + 8192 : (i % 500) * 2 + 2048; // clear of the recorded sessions' blocks
        await healthy.write(nsid, lba, data);
        const back = await healthy.read(nsid, lba, nsid === 1 ? 16 : 2);
        if (!back.equals(data)) throw new Error(`data mismatch at ns ${nsid} lba ${lba}`);
        verified++;
      }
    })().catch((e: unknown) => {
      ioError = e;
    });
    const r = rng(SEED + 1);
    const CONCURRENCY = 8;
    const TOTAL = 2000;
    let next = 0;
    let termReqs = 0;
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        next++;
        const s = streams[Math.floor(r() * streams.length)]!;
        const bytes = mutate(attach(s, live.cntlid), r, streams[0]!.bytes);
        const sock = net.connect(port, '127.0.0.1');
        const got: Buffer[] = [];
        sock.on('data', (d: Buffer) => got.push(d));
        sock.on('error', () => {});
        const closed = new Promise<void>((res) => sock.once('close', () => res()));
        sock.write(bytes);
        // Give the target a moment, then hang up (a waiting connection is the host's business).
        await Promise.race([closed, new Promise((res) => setTimeout(res, 20))]);
        sock.destroy();
        await closed;
        if (checkOutput(Buffer.concat(got).subarray(0, wholePdus(Buffer.concat(got))))) termReqs++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    stop = true;
    await io;
    await healthy.disconnect();
    expect(ioError).toBeNull();
    expect(verified).toBeGreaterThan(0);
    expect(termReqs).toBeGreaterThan(TOTAL / 20);
    // Still serving: a fresh host connects and reads.
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN });
    await h.read(1, 0, 1);
    await h.disconnect();
  }, 300_000);
});

/** Length of the whole PDUs at the start of `b` (a socket read may end mid-PDU when we hang up). */
function wholePdus(b: Buffer): number {
  let o = 0;
  while (o + 8 <= b.length) {
    const plen = b.readUInt32LE(o + 4);
    if (plen < 8 || o + plen > b.length) break;
    o += plen;
  }
  return o;
}

describe('malformed commands on a good connection', () => {
  it('every command gets a completion and the connection stays up', async () => {
    const r = rng(SEED + 2);
    const admin = await RawClient.connect(port);
    const ac = await admin.connect({ subnqn: NQN, hostnqn: HOSTNQN, kato: 0 });
    expect(ac.status).toBe(0);
    const cntlid = ac.dw0 & 0xffff;
    expect((await admin.enable()).status).toBe(0);
    const io = await RawClient.connect(port);
    const c = await io.connect({ subnqn: NQN, hostnqn: HOSTNQN, qid: 1, sqsize: 127, cntlid });
    expect(c.status).toBe(0);
    const NVM_OPS = [0x00, 0x01, 0x02, 0x04, 0x05, 0x08, 0x09, 0x0c, 0x0d, 0x0e, 0x11, 0x15, 0x19, 0x79, 0x7a, 0x7d, 0x81, 0x90];
    const ADMIN_OPS = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0d, 0x10, 0x11, 0x14, 0x15, 0x18, 0x19, 0x1a, 0x1c, 0x1d, 0x1e, 0x20, 0x24, 0x80, 0x81, 0x82, 0x84];
    const NSIDS = [0, 1, 2, 3, 0xffffffff, 0xfffffffe, 0x80000000];
    const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
    const word = (): number => (r() < 0.6 ? pick(INTERESTING32) : Math.floor(r() * 2 ** 32)) >>> 0;
    let errors = 0;
    for (let i = 0; i < 3000; i++) {
      const onAdmin = i % 4 === 0;
      const sqe = Buffer.alloc(64);
      const op = r() < 0.85 ? pick(onAdmin ? ADMIN_OPS : NVM_OPS) : Math.floor(r() * 256);
      sqe[0] = op;
      sqe[1] = Math.floor(r() * 4) | (r() < 0.1 ? Math.floor(r() * 256) & 0x3c : 0); // fused bits, sometimes reserved bits
      sqe.writeUInt32LE(pick(NSIDS), 4);
      for (const dw of [2, 3, 4, 5, 10, 11, 12, 13, 14, 15]) if (r() < 0.7) sqe.writeUInt32LE(word(), dw * 4);
      // LBA ranges near the end of the 16 MiB namespaces, and beyond.
      if (r() < 0.5) sqe.writeUInt32LE(32768 - Math.floor(r() * 64), 40);
      const len = pick([0, 0, 512, 4096, 8192, 65536, 1 << 20, (1 << 20) + 512, Math.floor(r() * 70000)]);
      const dir = op & 3;
      const data = dir === 1 || dir === 3 ? pattern(len, i) : undefined;
      const opts = data ? { data, inCapsule: len <= 8192 && r() < 0.7 } : { readLength: len };
      if (r() < 0.2) {
        // An SGL the target must refuse with a status, not by dropping the connection.
        sqe[24 + 15] = pick([0x00, 0x01, 0x20, 0x40, 0x5a, 0xff]);
        sqe.writeUInt32LE(len, 24 + 8);
      }
      const q = onAdmin ? admin : io;
      if (op === 0x0c && onAdmin) continue; // an AER completes only on an event
      if (op === 0x7f) continue; // fabrics: Connect/Property on a live queue are covered elsewhere
      const res = await q.execWithin(sqe, 5000, { ...opts, keepSgl: sqe[24 + 15] !== 0 });
      if (res === null) throw new Error(`no completion for opcode 0x${op.toString(16)} on ${onAdmin ? 'admin' : 'I/O'} (case ${i}, FUZZ_SEED=${SEED})`);
      if (res.cqe.status !== 0) errors++;
      expect(admin.isOpen && io.isOpen, `case ${i} opcode 0x${op.toString(16)} closed the connection`).toBe(true);
    }
    expect(errors).toBeGreaterThan(1000);
    await io.close();
    await admin.close();
  }, 300_000);
});
