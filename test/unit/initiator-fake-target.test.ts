// The initiator against a small in-process fake NVMe/TCP target (a net.Server speaking just
// enough of the protocol), so that transfers, CID handling and failure paths can be driven
// precisely. The real target is exercised in test/integration/initiator.test.ts.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HostQueue, NvmeHost, NvmeStatusError, QueueError, discover, type SubmitResult } from '../../src/initiator/index.js';
import { PduReader, type PduHandler, type PduStreamError } from '../../src/initiator/pdu-reader.js';
import { AdminOpcode, DISCOVERY_NQN, Disc, FabricsType, FeatureId, NvmOpcode, PduFlag, PduType, Property, SglId, TermFes } from '../../src/protocol/constants.js';
import { crc32c } from '../../src/protocol/digest.js';
import { encodeDiscoveryLog } from '../../src/protocol/discovery-log.js';
import { Cc, Csts, decodeConnectData, encodeCap } from '../../src/protocol/fabrics.js';
import { decodeDsmRanges, type DsmRange } from '../../src/protocol/host-codecs.js';
import { encodeIdentifyNamespace, encodeNsList, IdCtrlOff } from '../../src/protocol/identify.js';
import { decodeGetLogPage } from '../../src/protocol/log-pages.js';
import { decodeDataHeader, decodeICReq, decodeTermReq, encodeICResp, encodeTermReq, writeCapsuleRespHeader, writeDataHeader, type ICResp, type TermReq } from '../../src/protocol/pdu.js';
import { cdw, encodeSqe, writeCqe } from '../../src/protocol/sqe.js';
import { Status } from '../../src/protocol/status.js';
import { pattern } from '../helpers/pattern.js';

// ---------------------------------------------------------------------------------------------
// Fake target
// ---------------------------------------------------------------------------------------------

interface FakeOptions {
  icresp?: Partial<ICResp>;
  /** Never answer the ICReq. */
  silent?: boolean;
  maxh2cdata?: number;
  /** Largest R2T the target issues (default 64 KiB). */
  r2tMax?: number;
  /** C2HData PDU payload size (default 16 KiB). */
  c2hPdu?: number;
  /** Complete reads with the SUCCESS flag instead of a CapsuleResp. */
  successFlag?: boolean;
  ioccsz?: number;
  mdts?: number;
  lbads?: number;
  nsBlocks?: number;
  queuesGranted?: number;
  /** CSTS.RDY appears this many Property Gets after CC.EN (tests polling). */
  readyAfterPolls?: number;
  connectStatus?: number;
  /** Return true when the command was handled. */
  intercept?: (c: FakeConn, sqe: Buffer, data: Buffer | null) => boolean;
}

interface H2CRecord {
  cccid: number;
  ttag: number;
  datao: number;
  datal: number;
  flags: number;
}

interface WriteState {
  buf: Buffer;
  got: number;
  r2tEnd: number;
  ttag: number;
  done: (b: Buffer) => void;
}

class FakeConn implements PduHandler {
  hdgst = false;
  ddgst = false;
  qid = -1;
  icreqRaw: Buffer | null = null;
  readonly capsules: { sqe: Buffer; data: Buffer | null }[] = [];
  readonly h2c: H2CRecord[] = [];
  readonly termReqs: TermReq[] = [];
  readonly errors: PduStreamError[] = [];
  readonly raw: Buffer[] = [];
  private readonly reader = new PduReader(this, { maxBufferedData: 64 << 20 });
  private readonly writes = new Map<number, WriteState>();
  private cur: WriteState | null = null;
  private curOff = 0;

  constructor(
    readonly t: FakeTarget,
    readonly sock: net.Socket,
  ) {
    sock.on('data', (c: Buffer) => {
      this.raw.push(Buffer.from(c));
      this.reader.push(c);
    });
    sock.on('error', () => {});
  }

  onDataStart(hdr: Buffer): void {
    const h = decodeDataHeader(hdr);
    this.h2c.push({ cccid: h.cccid, ttag: h.ttag, datao: h.offset, datal: h.length, flags: hdr[1]! });
    const w = this.writes.get(h.cccid);
    if (!w || w.ttag !== h.ttag) throw new Error(`fake target: H2CData for unknown cid ${h.cccid}/ttag ${h.ttag}`);
    this.cur = w;
    this.curOff = h.offset;
  }

  onData(chunk: Buffer, off: number): void {
    chunk.copy(this.cur!.buf, this.curOff + off);
    this.cur!.got += chunk.length;
  }

  onPdu(hdr: Buffer, data: Buffer | null): void {
    switch (hdr[0]) {
      case PduType.ICReq: {
        this.icreqRaw = Buffer.from(hdr);
        const r = decodeICReq(hdr);
        this.hdgst = r.hdgst;
        this.ddgst = r.ddgst;
        if (this.t.opts.silent) return;
        const resp = { pfv: 0, cpda: 0, hdgst: r.hdgst, ddgst: r.ddgst, maxh2cdata: this.t.opts.maxh2cdata ?? 16384, ...this.t.opts.icresp };
        this.sock.write(encodeICResp(resp));
        return;
      }
      case PduType.CapsuleCmd: {
        const sqe = Buffer.from(hdr.subarray(8, 72));
        const d = data ? Buffer.from(data) : null;
        this.capsules.push({ sqe, data: d });
        this.t.handle(this, sqe, d);
        return;
      }
      case PduType.H2CData: {
        const w = this.cur!;
        this.cur = null;
        if (w.got === w.buf.length) {
          this.writes.delete(hdr.readUInt16LE(8));
          w.done(w.buf);
        } else if (w.got === w.r2tEnd) this.nextR2T(hdr.readUInt16LE(8), w);
        return;
      }
      case PduType.H2CTermReq:
        this.termReqs.push({ ...decodeTermReq(hdr), data: data ? Buffer.from(data) : Buffer.alloc(0) });
        return;
      default:
        throw new Error(`fake target: unexpected PDU 0x${hdr[0]!.toString(16)}`);
    }
  }

  onError(err: PduStreamError): void {
    this.errors.push(err);
    this.sock.destroy();
  }

  // ---- sending ----

  resp(cid: number, status = 0, dw0 = 0, dw1 = 0): void {
    const b = Buffer.alloc(this.hdgst ? 28 : 24);
    writeCapsuleRespHeader(b, 0, this.hdgst);
    writeCqe(b, 8, dw0, dw1, 0, Math.max(0, this.qid), cid, status);
    if (this.hdgst) b.writeUInt32LE(crc32c(b.subarray(0, 24)), 24);
    this.sock.write(b);
  }

  c2hPdu(cid: number, datao: number, piece: Buffer, flags: number): Buffer {
    const h = Buffer.alloc(28);
    const n = writeDataHeader(h, 0, PduType.C2HData, flags, cid, 0, datao, piece.length, piece.length, this.hdgst, this.ddgst);
    const parts = [h.subarray(0, n), piece];
    if (this.ddgst) {
      const d = Buffer.alloc(4);
      d.writeUInt32LE(crc32c(piece));
      parts.push(d);
    }
    return Buffer.concat(parts);
  }

  /** Send `data` as C2HData PDUs, then a CapsuleResp (or the SUCCESS flag). */
  sendRead(cid: number, data: Buffer, success = this.t.opts.successFlag ?? false): void {
    const size = this.t.opts.c2hPdu ?? 16384;
    for (let off = 0; off < data.length; off += size) {
      const last = off + size >= data.length;
      const flags = last ? PduFlag.LAST_PDU | (success ? PduFlag.SUCCESS : 0) : 0;
      this.sock.write(this.c2hPdu(cid, off, data.subarray(off, Math.min(data.length, off + size)), flags));
    }
    if (!success) this.resp(cid, 0);
  }

  /** Solicit `length` bytes with R2Ts; resolves with the data. */
  receive(cid: number, length: number): Promise<Buffer> {
    return new Promise((done) => {
      const w: WriteState = { buf: Buffer.alloc(length), got: 0, r2tEnd: 0, ttag: 0, done };
      this.writes.set(cid, w);
      this.nextR2T(cid, w);
    });
  }

  private nextR2T(cid: number, w: WriteState): void {
    const max = this.t.opts.r2tMax ?? 65536;
    const off = w.r2tEnd;
    const len = Math.min(max, w.buf.length - off);
    w.r2tEnd = off + len;
    w.ttag = (w.ttag + 1) & 0xffff;
    const b = Buffer.alloc(28);
    const n = writeDataHeader(b, 0, PduType.R2T, 0, cid, w.ttag, off, len, 0, this.hdgst, this.ddgst);
    this.sock.write(b.subarray(0, n));
  }
}

class FakeTarget {
  readonly server: net.Server;
  readonly conns: FakeConn[] = [];
  readonly connects: { qid: number; sqsize: number; kato: number; cntlid: number; subnqn: string; hostnqn: string; hostid: Buffer }[] = [];
  readonly commands: { conn: FakeConn; qid: number; opcode: number; fctype?: number; sqe: Buffer }[] = [];
  readonly dsm: DsmRange[][] = [];
  cc = 0;
  csts = 0;
  pollsUntilReady = 0;
  keepAlives = 0;
  readonly lbaSize: number;
  readonly mem: Buffer;
  discoveryLog = encodeDiscoveryLog(1n, []);
  /** Called on every Get Log Page 70h with the requested offset (may swap the log). */
  onDiscoveryRead: ((offset: number) => void) | null = null;

  constructor(readonly opts: FakeOptions = {}) {
    this.lbaSize = 2 ** (opts.lbads ?? 12);
    this.mem = Buffer.alloc((opts.nsBlocks ?? 1024) * this.lbaSize);
    this.server = net.createServer((s) => this.conns.push(new FakeConn(this, s)));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.sock.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  handle(c: FakeConn, sqe: Buffer, data: Buffer | null): void {
    const op = sqe[0]!;
    this.commands.push({ conn: c, qid: c.qid, opcode: op, ...(op === 0x7f ? { fctype: sqe[4]! } : {}), sqe });
    if (this.opts.intercept?.(c, sqe, data)) return;
    if (op === AdminOpcode.Fabrics) return this.fabrics(c, sqe, data);
    if (c.qid === 0) return this.admin(c, sqe, data);
    return this.io(c, sqe, data);
  }

  private fabrics(c: FakeConn, sqe: Buffer, data: Buffer | null): void {
    const cid = sqe.readUInt16LE(2);
    switch (sqe[4]) {
      case FabricsType.Connect: {
        const d = decodeConnectData(data!);
        const qid = sqe.readUInt16LE(42);
        this.connects.push({ qid, sqsize: sqe.readUInt16LE(44), kato: sqe.readUInt32LE(48), ...d });
        if (this.opts.connectStatus) return c.resp(cid, this.opts.connectStatus);
        if (qid !== 0 && d.cntlid !== 5) return c.resp(cid, Status.ConnectInvalidParameters);
        c.qid = qid;
        return c.resp(cid, 0, 5);
      }
      case FabricsType.PropertyGet: {
        const off = sqe.readUInt32LE(44);
        let v = 0n;
        if (off === Property.CAP) v = encodeCap({ mqes: 1023, cqr: true, timeout500ms: 4, cssNvm: true, cssIoSets: true, cssAdminOnly: false, mpsmin: 0, mpsmax: 0 });
        else if (off === Property.CC) v = BigInt(this.cc);
        else if (off === Property.CSTS) {
          if (Cc.en(this.cc) && this.pollsUntilReady > 0 && --this.pollsUntilReady === 0) this.csts |= Csts.RDY;
          v = BigInt(this.csts);
        }
        return c.resp(cid, 0, Number(v & 0xffffffffn), Number(v >> 32n));
      }
      case FabricsType.PropertySet: {
        if (sqe.readUInt32LE(44) === Property.CC) {
          this.cc = Number(sqe.readBigUInt64LE(48) & 0xffffffffn);
          if (Cc.en(this.cc)) {
            this.pollsUntilReady = this.opts.readyAfterPolls ?? 1;
            if (this.pollsUntilReady <= 0) this.csts |= Csts.RDY;
          }
          if (Cc.shn(this.cc)) this.csts |= Csts.SHST_COMPLETE;
        }
        return c.resp(cid, 0);
      }
      case FabricsType.Disconnect:
        return c.resp(cid, 0);
      default:
        return c.resp(cid, Status.InvalidOpcode);
    }
  }

  private admin(c: FakeConn, sqe: Buffer, _data: Buffer | null): void {
    const cid = sqe.readUInt16LE(2);
    const len = sqe.readUInt32LE(32);
    switch (sqe[0]) {
      case AdminOpcode.Identify: {
        const cns = cdw(sqe, 10) & 0xff;
        const b = Buffer.alloc(4096);
        if (cns === 1) {
          b[IdCtrlOff.mdts] = this.opts.mdts ?? 5;
          b.writeUInt16LE(5, IdCtrlOff.cntlid);
          b.writeUInt32LE(this.opts.ioccsz ?? 4 + 512, IdCtrlOff.ioccsz);
        } else if (cns === 0) {
          if (sqe.readUInt32LE(4) !== 1) return c.resp(cid, Status.InvalidNamespace);
          encodeIdentifyNamespace({
            nsze: BigInt(this.mem.length / this.lbaSize), ncap: BigInt(this.mem.length / this.lbaSize), nuse: 0n, nsfeat: 0, flbas: 0,
            lbaFormats: [{ ms: 0, lbads: Math.log2(this.lbaSize), rp: 0 }], nmic: 0, dlfeat: 0, nvmcapBytes: 0n,
            npwg: 0, npwa: 0, npdg: 0, npda: 0, nows: 0, anagrpid: 0, nguid: Buffer.alloc(16), eui64: Buffer.alloc(8),
          }).copy(b);
        } else if (cns === 2) encodeNsList([1], 0).copy(b);
        if (len !== 4096 || sqe[39] !== SglId.TransportDataBlock) return c.resp(cid, Status.DataSglLengthInvalid);
        return c.sendRead(cid, b);
      }
      case AdminOpcode.SetFeatures: {
        if ((cdw(sqe, 10) & 0xff) === FeatureId.NumberOfQueues) {
          const g = this.opts.queuesGranted;
          const dw0 = g === undefined ? cdw(sqe, 11) : ((g - 1) | ((g - 1) << 16)) >>> 0;
          return c.resp(cid, 0, dw0);
        }
        return c.resp(cid, 0);
      }
      case AdminOpcode.GetFeatures:
        return c.resp(cid, 0, 0x1234 + (cdw(sqe, 10) & 0xff));
      case AdminOpcode.KeepAlive:
        this.keepAlives++;
        return c.resp(cid, 0);
      case AdminOpcode.GetLogPage: {
        const g = decodeGetLogPage(cdw(sqe, 10), cdw(sqe, 11), cdw(sqe, 12), cdw(sqe, 13), cdw(sqe, 14));
        if (g.lid !== 0x70) return c.resp(cid, Status.InvalidLogPage);
        this.onDiscoveryRead?.(g.offset);
        const out = Buffer.alloc(g.length);
        this.discoveryLog.copy(out, 0, g.offset, Math.min(this.discoveryLog.length, g.offset + g.length));
        return c.sendRead(cid, out);
      }
      default:
        return c.resp(cid, Status.InvalidOpcode);
    }
  }

  private io(c: FakeConn, sqe: Buffer, data: Buffer | null): void {
    const cid = sqe.readUInt16LE(2);
    const slba = Number(sqe.readBigUInt64LE(40));
    const nlb = (cdw(sqe, 12) & 0xffff) + 1;
    const off = slba * this.lbaSize;
    const bytes = nlb * this.lbaSize;
    const inRange = off + bytes <= this.mem.length;
    const sglLen = sqe.readUInt32LE(32);
    switch (sqe[0]) {
      case NvmOpcode.Read:
        if (!inRange) return c.resp(cid, Status.LbaOutOfRange);
        if (sglLen !== bytes) return c.resp(cid, Status.DataSglLengthInvalid);
        return c.sendRead(cid, this.mem.subarray(off, off + bytes));
      case NvmOpcode.Write:
      case NvmOpcode.Compare: {
        if (!inRange) return c.resp(cid, Status.LbaOutOfRange);
        if (sglLen !== bytes) return c.resp(cid, Status.DataSglLengthInvalid);
        const finish = (d: Buffer): void => {
          if (sqe[0] === NvmOpcode.Compare) return c.resp(cid, d.equals(this.mem.subarray(off, off + bytes)) ? 0 : Status.CompareFailure);
          d.copy(this.mem, off);
          c.resp(cid, 0);
        };
        if (sqe[39] === SglId.DataBlockOffset) finish(data!);
        else void c.receive(cid, sglLen).then(finish);
        return;
      }
      case NvmOpcode.DatasetManagement: {
        const n = (cdw(sqe, 10) & 0xff) + 1;
        const done = (d: Buffer): void => {
          this.dsm.push(decodeDsmRanges(d, n));
          c.resp(cid, 0);
        };
        if (sqe[39] === SglId.DataBlockOffset) done(data!);
        else void c.receive(cid, sglLen).then(done);
        return;
      }
      case NvmOpcode.WriteZeroes:
        if (!inRange) return c.resp(cid, Status.LbaOutOfRange);
        this.mem.fill(0, off, off + bytes);
        return c.resp(cid, 0);
      case NvmOpcode.Flush:
      case NvmOpcode.Verify:
        return c.resp(cid, 0);
      default:
        return c.resp(cid, Status.InvalidOpcode);
    }
  }
}

// ---------------------------------------------------------------------------------------------

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function fake(opts: FakeOptions = {}): Promise<{ t: FakeTarget; port: number }> {
  const t = new FakeTarget(opts);
  const port = await t.listen();
  cleanups.push(() => t.close());
  return { t, port };
}

async function queue(port: number, o: Partial<Parameters<typeof HostQueue.connect>[0]> = {}): Promise<HostQueue> {
  const q = await HostQueue.connect({ host: '127.0.0.1', port, qid: 0, ...o });
  cleanups.push(() => q.close());
  return q;
}

const sqeOf = (opcode: number, extra: Partial<Parameters<typeof encodeSqe>[0]> = {}): Buffer => encodeSqe({ opcode, cid: 0xffff, ...extra });
const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

// ---------------------------------------------------------------------------------------------

describe('HostQueue: connection setup', () => {
  it('sends a byte-exact ICReq and records ICResp parameters', async () => {
    const { t, port } = await fake({ maxh2cdata: 32768, icresp: { cpda: 0 } });
    const q = await queue(port, { hdgst: true, ddgst: true });
    expect(t.conns[0]!.icreqRaw!.toString('hex')).toBe('0000800080000000' + '0000' + '00' + '03' + '00000000' + '00'.repeat(112));
    expect(q.maxh2cdata).toBe(32768);
    expect(q.cpda).toBe(0);
    expect(q.hdgst && q.ddgst).toBe(true);
    expect(q.inCapsuleLimit).toBe(8192);
  });

  it('rejects an ICResp that does not echo the digests', async () => {
    const { port } = await fake({ icresp: { hdgst: false } });
    await expect(HostQueue.connect({ host: '127.0.0.1', port, qid: 0, hdgst: true })).rejects.toThrow(/do not echo/);
    const { port: p2 } = await fake({ icresp: { ddgst: true } });
    await expect(HostQueue.connect({ host: '127.0.0.1', port: p2, qid: 0 })).rejects.toThrow(/do not echo/);
  });

  it('rejects an invalid MAXH2CDATA and a non-zero PFV', async () => {
    const { port } = await fake({ maxh2cdata: 1000 });
    await expect(HostQueue.connect({ host: '127.0.0.1', port, qid: 0 })).rejects.toThrow(/MAXH2CDATA/);
    const { port: p2 } = await fake({ icresp: { pfv: 1 } });
    await expect(HostQueue.connect({ host: '127.0.0.1', port: p2, qid: 0 })).rejects.toThrow(/PFV/);
  });

  it('times out when the target never answers, and fails on refused connections', async () => {
    const { port } = await fake({ silent: true });
    const t0 = Date.now();
    await expect(HostQueue.connect({ host: '127.0.0.1', port, qid: 0, connectTimeoutMs: 150 })).rejects.toThrow(/timed out/);
    expect(Date.now() - t0).toBeLessThan(1500);
    const { t, port: p2 } = await fake();
    await t.close();
    cleanups.pop();
    await expect(HostQueue.connect({ host: '127.0.0.1', port: p2, qid: 0 })).rejects.toThrow(QueueError);
  });
});

describe('HostQueue: commands', () => {
  it('no-data command: null transport SGL, CID assigned, status returned rather than thrown', async () => {
    const { t, port } = await fake({ intercept: (c, sqe) => (sqe[0] === 0x55 ? (c.resp(sqe.readUInt16LE(2), Status.InvalidField, 0xabc), true) : false) });
    const q = await queue(port);
    const r = await q.submit(sqeOf(0x55, { nsid: 9, cdw10: 0x1234 }));
    expect(r.cqe).toMatchObject({ status: Status.InvalidField, dw0: 0xabc, cid: 0 });
    expect(r.data).toBeUndefined();
    const sqe = t.conns[0]!.capsules[0]!.sqe;
    expect(sqe.readUInt16LE(2)).toBe(0);
    expect(sqe.subarray(24, 40).toString('hex')).toBe('00'.repeat(15) + '5a');
    expect(sqe.readUInt32LE(4)).toBe(9);
    expect(sqe.readUInt32LE(40)).toBe(0x1234);
  });

  it('in-capsule data (<= limit) with data digest; larger data goes through R2T', async () => {
    let got: Buffer | null = null;
    const { t, port } = await fake({
      intercept: (c, sqe, data) => {
        const cid = sqe.readUInt16LE(2);
        if (sqe[39] === SglId.DataBlockOffset) {
          got = data;
          c.resp(cid, 0);
        } else void c.receive(cid, sqe.readUInt32LE(32)).then((d) => ((got = d), c.resp(cid, 0)));
        return true;
      },
    });
    const q = await queue(port, { hdgst: true, ddgst: true });
    const small = pattern(8192, 3);
    await q.submit(sqeOf(0x01), { data: small });
    expect(got!.equals(small)).toBe(true);
    const s0 = t.conns[0]!.capsules[0]!.sqe;
    expect(s0.subarray(24, 40).toString('hex')).toBe('0000000000000000' + '00200000' + '000000' + '01');
    const big = pattern(8196, 4);
    await q.submit(sqeOf(0x01), { data: big });
    expect(got!.equals(big)).toBe(true);
    expect(t.conns[0]!.capsules[1]!.data).toBeNull();
    expect(t.conns[0]!.capsules[1]!.sqe[39]).toBe(0x5a);
    expect(t.conns[0]!.errors).toEqual([]);
  });

  it('honours several R2Ts and splits each into MAXH2CDATA-sized H2CData PDUs with LAST_PDU', async () => {
    const { t, port } = await fake({ maxh2cdata: 16384, r2tMax: 40000, intercept: (c, sqe) => {
      const cid = sqe.readUInt16LE(2);
      void c.receive(cid, sqe.readUInt32LE(32)).then((d) => c.resp(cid, 0, crc32c(d)));
      return true;
    } });
    const q = await queue(port, { qid: 1, inCapsuleLimit: 0, ddgst: true });
    const data = pattern(100000, 5);
    const r = await q.submit(sqeOf(0x01), { data });
    expect(r.cqe.dw0).toBe(crc32c(data));
    const pdus = t.conns[0]!.h2c;
    // R2Ts: [0,40000) [40000,80000) [80000,100000)
    expect(pdus.map((p) => [p.datao, p.datal, (p.flags & PduFlag.LAST_PDU) !== 0, p.ttag])).toEqual([
      [0, 16384, false, 1], [16384, 16384, false, 1], [32768, 7232, true, 1],
      [40000, 16384, false, 2], [56384, 16384, false, 2], [72768, 7232, true, 2],
      [80000, 16384, false, 3], [96384, 3616, true, 3],
    ]);
    expect(pdus.every((p) => p.flags & PduFlag.DDGSTF)).toBe(true);
  });

  it('reassembles out-of-order C2HData by DATAO and completes on the SUCCESS flag', async () => {
    const content = pattern(10000, 6);
    const { port } = await fake({ intercept: (c, sqe) => {
      const cid = sqe.readUInt16LE(2);
      const parts = [[6000, 4000], [0, 3000], [3000, 3000]] as const;
      parts.forEach(([o, l], i) => c.sock.write(c.c2hPdu(cid, o, content.subarray(o, o + l), i === 2 ? PduFlag.LAST_PDU | PduFlag.SUCCESS : 0)));
      return true;
    } });
    const q = await queue(port, { hdgst: true, ddgst: true });
    const r = await q.submit(sqeOf(0x02), { readLength: 10000 });
    expect(r.cqe).toEqual({ dw0: 0, dw1: 0, sqhd: 0, sqid: 0, cid: 0, status: 0 });
    expect(r.data!.equals(content)).toBe(true);
  });

  it('read with CapsuleResp after the data, and a short transfer reads as zeros', async () => {
    const { port } = await fake({ intercept: (c, sqe) => {
      const cid = sqe.readUInt16LE(2);
      c.sock.write(c.c2hPdu(cid, 0, Buffer.alloc(100, 7), PduFlag.LAST_PDU));
      c.resp(cid, 0, 42);
      return true;
    } });
    const q = await queue(port);
    const r = await q.submit(sqeOf(0x02), { readLength: 300 });
    expect(r.cqe.dw0).toBe(42);
    expect(r.data!.subarray(0, 100).every((x) => x === 7)).toBe(true);
    expect(r.data!.subarray(100).every((x) => x === 0)).toBe(true);
  });

  it('concurrent reads get distinct, correct buffers; `into` reads land in the caller buffer', async () => {
    const { port } = await fake({ intercept: (c, sqe) => {
      const len = sqe.readUInt32LE(32);
      c.sendRead(sqe.readUInt16LE(2), pattern(len, sqe.readUInt32LE(40)));
      return true;
    } });
    const q = await queue(port, { qid: 1, sqsize: 128 });
    const sizes = Array.from({ length: 300 }, (_, i) => [512, 4096, 8192, 65536, 70000][i % 5]!);
    const rs = await Promise.all(sizes.map((n, i) => q.submit(sqeOf(2, { cdw10: i + 1 }), { readLength: n })));
    rs.forEach((r, i) => expect(r.data!.equals(pattern(sizes[i]!, i + 1))).toBe(true));
    const into = Buffer.alloc(10000, 0xee);
    const r = await q.submit(sqeOf(2, { cdw10: 77 }), { readLength: 8192, into });
    expect(r.data!.buffer).toBe(into.buffer);
    expect(r.data!.length).toBe(8192);
    expect(into.subarray(0, 8192).equals(pattern(8192, 77))).toBe(true);
    expect(into[8192]).toBe(0xee);
    await expect(q.submit(sqeOf(2), { readLength: 8192, into: Buffer.alloc(100) })).rejects.toThrow(RangeError);
    expect(q.outstanding).toBe(0);
  });

  it('keeps CIDs unique among outstanding commands and queues beyond the queue depth', async () => {
    const outstanding = new Set<number>();
    let maxOut = 0;
    let dup = false;
    const { port } = await fake({ intercept: (c, sqe) => {
      const cid = sqe.readUInt16LE(2);
      if (outstanding.has(cid)) dup = true;
      outstanding.add(cid);
      maxOut = Math.max(maxOut, outstanding.size);
      setTimeout(() => {
        outstanding.delete(cid);
        c.resp(cid, 0, sqe.readUInt32LE(40));
      }, Math.random() * 5);
      return true;
    } });
    const q = await queue(port, { qid: 1, sqsize: 8 });
    expect(q.maxOutstanding).toBe(8);
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => q.submit(sqeOf(0x00, { cdw10: i }))));
    expect(rs.map((r) => r.cqe.dw0)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(dup).toBe(false);
    expect(maxOut).toBe(8);
    expect(q.outstanding).toBe(0);
  });

  it('never rewrites a capsule header still queued in the socket when the target answers early', async () => {
    const { t, port } = await fake({ intercept: (c, sqe) => {
      if (cdw(sqe, 10) !== 2) c.resp(sqe.readUInt16LE(2)); // #2 was answered early (below)
      return true;
    } });
    const q = await queue(port, { sqsize: 2 });
    await until(() => t.conns.length === 1);
    const conn = t.conns[0]!;
    conn.sock.pause(); // the target stops reading: the host's writes back up
    const big = Buffer.alloc(24 << 20, 0x5a);
    const p1 = q.submit(sqeOf(0x01, { cdw10: 1 }), { data: big, inCapsule: true }); // cid 0
    const p2 = q.submit(sqeOf(0x00, { cdw10: 2 })); // cid 1: header queued behind 24 MiB
    const p3 = q.submit(sqeOf(0x00, { cdw10: 3 })); // waits for a free CID
    await new Promise((r) => setTimeout(r, 50));
    conn.resp(1); // early completion of cid 1, before its capsule was even read
    await p2; // cid 1 is reissued for #3 now
    conn.sock.resume();
    await Promise.all([p1, p3]);
    expect(conn.capsules.map((c) => [c.sqe.readUInt16LE(2), cdw(c.sqe, 10)])).toEqual([[0, 1], [1, 2], [1, 3]]);
    expect(conn.errors).toEqual([]);
  });

  it("sgl: 'keep' leaves the caller's SGL; sendRaw bytes arrive in order", async () => {
    const { t, port } = await fake({ intercept: (c, sqe) => (c.resp(sqe.readUInt16LE(2), 0), true) });
    const q = await queue(port);
    const sqe = sqeOf(0x06, { sgl: { address: 0x1122n, length: 77, type: 0x00 } });
    await q.submit(sqe, { sgl: 'keep' });
    expect(t.conns[0]!.capsules[0]!.sqe.subarray(24, 40).equals(sqe.subarray(24, 40))).toBe(true);
    const raw = Buffer.from('deadbeef', 'hex');
    q.sendRaw(raw);
    await until(() => Buffer.concat(t.conns[0]!.raw).includes(raw));
  });
});

describe('HostQueue: failures', () => {
  it('C2HTermReq rejects everything outstanding with FES/FEI, calls onTerm, closes the queue', async () => {
    let conn: FakeConn | null = null;
    const { port } = await fake({ intercept: (c) => ((conn = c), true) });
    const q = await queue(port);
    let seen: TermReq | null = null;
    q.onTerm = (t) => (seen = t);
    const ps = [0, 1, 2].map(() => q.submit(sqeOf(0x00)));
    await until(() => conn !== null && conn.capsules.length === 3);
    conn!.sock.write(encodeTermReq(PduType.C2HTermReq, TermFes.PduSequenceError, 0x10, Buffer.alloc(30, 1)));
    for (const p of ps) await expect(p).rejects.toThrow(/C2HTermReq FES=0x2 \(PduSequenceError\) FEI=0x10/);
    expect(seen).not.toBeNull();
    expect(q.lastTermReq).toMatchObject({ fes: 2, fei: 0x10 });
    expect(q.lastTermReq!.data.length).toBe(30);
    const err = await q.submit(sqeOf(0)).catch((e: QueueError) => e);
    expect(err).toBeInstanceOf(QueueError);
    expect((err as QueueError).termReq?.fes).toBe(2);
    expect(q.closed).toBe(true);
  });

  it('socket close by the target rejects outstanding commands', async () => {
    const { port } = await fake({ intercept: (c) => (setTimeout(() => c.sock.destroy(), 10), true) });
    const q = await queue(port);
    let closedWith: Error | null = null;
    q.onClose = (e) => (closedWith = e);
    await expect(q.submit(sqeOf(0))).rejects.toThrow(/closed/);
    expect(closedWith).toBeInstanceOf(QueueError);
  });

  it('a bad header digest from the target rejects, and the host sends H2CTermReq (FES 3)', async () => {
    const { t, port } = await fake({ intercept: (c, sqe) => {
      const b = Buffer.alloc(28);
      writeCapsuleRespHeader(b, 0, true);
      writeCqe(b, 8, 0, 0, 0, 0, sqe.readUInt16LE(2), 0);
      b.writeUInt32LE((crc32c(b.subarray(0, 24)) ^ 1) >>> 0, 24);
      c.sock.write(b);
      return true;
    } });
    const q = await queue(port, { hdgst: true });
    await expect(q.submit(sqeOf(0))).rejects.toThrow(/header digest mismatch/);
    await until(() => t.conns[0]!.termReqs.length === 1);
    expect(t.conns[0]!.termReqs[0]).toMatchObject({ type: PduType.H2CTermReq, fes: TermFes.HeaderDigestError });
    expect(t.conns[0]!.termReqs[0]!.data.length).toBe(28);
  });

  it('a bad data digest rejects the command and closes the queue', async () => {
    const { port } = await fake({ intercept: (c, sqe) => {
      const pdu = c.c2hPdu(sqe.readUInt16LE(2), 0, Buffer.alloc(64, 1), PduFlag.LAST_PDU | PduFlag.SUCCESS);
      pdu[pdu.length - 1]! ^= 0xff;
      c.sock.write(pdu);
      return true;
    } });
    const q = await queue(port, { ddgst: true });
    await expect(q.submit(sqeOf(2), { readLength: 64 })).rejects.toThrow(/data digest mismatch/);
    expect(q.closed).toBe(true);
  });

  it('protocol errors (unknown CID, digest flag mismatch, data beyond the transfer) close with H2CTermReq', async () => {
    const cases: [(c: FakeConn, cid: number) => void, RegExp, number][] = [
      [(c, cid) => c.resp(cid + 1), /unknown command ID 1/, TermFes.InvalidHeaderField],
      [(c, cid) => c.sock.write(c.c2hPdu(cid, 60, Buffer.alloc(8), PduFlag.LAST_PDU)), /beyond the 64-byte transfer/, TermFes.DataTransferOutOfRange],
      [(c, cid) => {
        c.hdgst = true; // send a digest the host did not negotiate
        c.resp(cid);
      }, /HDGSTF set but header digest disabled/, TermFes.InvalidHeaderField],
      [(c, cid) => {
        const b = Buffer.alloc(24);
        writeDataHeader(b, 0, PduType.R2T, 0, cid, 1, 0, 64, 0, false, false);
        c.sock.write(b);
      }, /R2T for command 0 which has no data/, TermFes.PduSequenceError],
    ];
    for (const [act, re, fes] of cases) {
      const { t, port } = await fake({ intercept: (c, sqe) => (act(c, sqe.readUInt16LE(2)), true) });
      const q = await queue(port);
      await expect(q.submit(sqeOf(2), { readLength: 64 })).rejects.toThrow(re);
      await until(() => t.conns[0]!.termReqs.length === 1);
      expect(t.conns[0]!.termReqs[0]!.fes).toBe(fes);
    }
  });
});

describe('NvmeHost against the fake target', () => {
  const subnqn = 'nqn.2024-01.io.nvmf-emu:fake';

  async function host(t: FakeTarget, port: number, o: Partial<Parameters<typeof NvmeHost.connect>[0]> = {}): Promise<NvmeHost> {
    void t;
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn, ...o });
    cleanups.push(() => h.close());
    return h;
  }

  it('brings the controller up like Linux does', async () => {
    const { t, port } = await fake({ readyAfterPolls: 3, ioccsz: 4 + 256 });
    const h = await host(t, port, { ioQueues: 3, queueSize: 64, hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555' });
    expect(h.cntlid).toBe(5);
    expect(h.css).toBe(6);
    expect(t.cc).toBe(0x00460061);
    expect(h.ioQueues.map((q) => q.qid)).toEqual([1, 2, 3]);
    expect(h.ioQueues.every((q) => q.inCapsuleLimit === 4096 && q.sqsize === 63)).toBe(true);
    expect(h.controllerInfo!.mdtsBytes).toBe(4096 << 5);
    const adminSeq = t.commands.filter((c) => c.conn === t.conns[0]).map((c) => (c.opcode === 0x7f ? `F${c.fctype}` : `A${c.opcode.toString(16)}`));
    expect(adminSeq).toEqual(['F1', 'F4', 'F0', 'F4', 'F4', 'F4', 'A6', 'A9']);
    expect(t.connects[0]).toMatchObject({ qid: 0, sqsize: 31, kato: 5000, cntlid: 0xffff, subnqn, hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555' });
    expect(t.connects[0]!.hostid.toString('hex')).toBe('11111111222233334444555555555555');
    expect(t.connects.slice(1).map((c) => [c.qid, c.sqsize, c.kato, c.cntlid]).sort()).toEqual([[1, 63, 0, 5], [2, 63, 0, 5], [3, 63, 0, 5]]);
    const nq = t.commands.find((c) => c.opcode === AdminOpcode.SetFeatures)!.sqe;
    expect(cdw(nq, 10)).toBe(FeatureId.NumberOfQueues);
    expect(cdw(nq, 11)).toBe(0x00020002);
  });

  it('uses fewer I/O queues when the controller grants fewer', async () => {
    const { t, port } = await fake({ queuesGranted: 2 });
    const h = await host(t, port, { ioQueues: 4 });
    expect(h.ioQueues).toHaveLength(2);
  });

  it('a failed Connect rejects with .status and .statusName', async () => {
    const { port } = await fake({ connectStatus: Status.ConnectInvalidHost });
    const err = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NvmeStatusError);
    expect((err as NvmeStatusError).status).toBe(Status.ConnectInvalidHost);
    expect((err as NvmeStatusError).statusName).toBe('ConnectInvalidHost');
  });

  it('reads, writes and the other NVM commands; round-robin over queues', async () => {
    const { t, port } = await fake({ r2tMax: 256 * 1024, maxh2cdata: 65536 });
    const h = await host(t, port, { ioQueues: 2, hdgst: true, ddgst: true });
    const a = pattern(4096, 10);
    await h.write(1, 3, a);
    expect(t.mem.subarray(3 * 4096, 4 * 4096).equals(a)).toBe(true);
    expect((await h.read(1, 3, 1)).equals(a)).toBe(true);
    const big = pattern(1 << 20, 11);
    await h.write(1, 100, big, { fua: true });
    expect((await h.read(1, 100, 256)).equals(big)).toBe(true);
    const qids = t.commands.filter((c) => c.opcode === NvmOpcode.Write || c.opcode === NvmOpcode.Read).map((c) => c.qid);
    expect(qids).toEqual([1, 2, 1, 2]);
    expect(cdw(t.commands.filter((c) => c.opcode === NvmOpcode.Write)[1]!.sqe, 12)).toBe(255 | RwFua);
    expect(await h.compare(1, 3, a)).toBe(true);
    expect(await h.compare(1, 3, pattern(4096, 99))).toBe(false);
    await h.writeZeroes(1, 3, 1);
    expect((await h.read(1, 3, 1, { qid: 2 })).every((x) => x === 0)).toBe(true);
    await h.deallocate(1, [{ slba: 10, nlb: 4 }, { slba: 100n, nlb: 256 }]);
    expect(t.dsm[0]).toEqual([{ attributes: 0, nlb: 4, slba: 10n }, { attributes: 0, nlb: 256, slba: 100n }]);
    await h.flush(1);
    await h.verify(1, 0, 8);
    const e = await h.read(1, 5000, 1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NvmeStatusError);
    expect((e as NvmeStatusError).statusName).toBe('LbaOutOfRange');
    await expect(h.write(1, 0, Buffer.alloc(100))).rejects.toThrow(RangeError);
    await expect(h.read(2, 0, 1)).rejects.toThrow(/InvalidNamespace/);
    expect(await h.activeNamespaces()).toEqual([1]);
    expect((await h.getFeatures(FeatureId.Arbitration)).dw0).toBe(0x1235);
    // Raw forms return status instead of throwing.
    const raw: SubmitResult = await h.ioCommand(1, { opcode: 0x7e });
    expect(raw.cqe.status).toBe(Status.InvalidOpcode);
    expect((await h.adminCommand({ opcode: 0x18 })).cqe.status).toBe(0);
  });

  it('sends Keep Alive every KATO/2', async () => {
    const { t, port } = await fake();
    await host(t, port, { kato: 100, ioQueues: 0 });
    await until(() => t.keepAlives >= 3, 1000);
  });

  it('disconnect: Fabrics Disconnect on each I/O queue, then CC.SHN, then close', async () => {
    const { t, port } = await fake();
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn, ioQueues: 2 });
    await h.disconnect();
    expect(t.commands.filter((c) => c.fctype === FabricsType.Disconnect).map((c) => c.qid).sort()).toEqual([1, 2]);
    expect(Cc.shn(t.cc)).toBe(1);
    expect(h.admin.closed && h.ioQueues.every((q) => q.closed)).toBe(true);
  });
});

const RwFua = 1 << 30;

describe('discover()', () => {
  it('reads header, entries, header again, and retries when GENCTR moved', async () => {
    const { t, port } = await fake();
    const entry = (i: number) => ({ adrfam: Disc.AdrfamIpv4, subtype: Disc.SubtypeNvm, treq: 0, portid: i, asqsz: 32, eflags: 0, trsvcid: String(4420 + i), subnqn: `nqn.x:${i}`, traddr: '10.0.0.1' });
    t.discoveryLog = encodeDiscoveryLog(7n, [entry(1), entry(2)]);
    const reads: number[] = [];
    t.onDiscoveryRead = (off) => {
      reads.push(off);
      if (reads.length === 2) t.discoveryLog = encodeDiscoveryLog(8n, [entry(1), entry(2), entry(3)]); // changes mid-read
    };
    const r = await discover({ host: '127.0.0.1', port });
    expect(r.genctr).toBe(8n);
    expect(r.entries.map((e) => [e.portid, e.trsvcid, e.subnqn, e.traddr, e.trtype])).toEqual([
      [1, '4421', 'nqn.x:1', '10.0.0.1', 3], [2, '4422', 'nqn.x:2', '10.0.0.1', 3], [3, '4423', 'nqn.x:3', '10.0.0.1', 3],
    ]);
    expect(reads).toEqual([0, 1024, 0, 1024, 0]);
    expect(t.connects[0]).toMatchObject({ qid: 0, kato: 0, subnqn: DISCOVERY_NQN });
    const lens = t.commands.filter((c) => c.opcode === AdminOpcode.GetLogPage).map((c) => ((cdw(c.sqe, 10) >>> 16) + 1) * 4);
    expect(lens).toEqual([1024, 2048, 1024, 3072, 1024]);
    // Discovery controllers are enabled (as Linux does) and shut down on disconnect; no I/O queues.
    const seq = t.commands.map((c) => (c.opcode === 0x7f ? `F${c.fctype}` : `A${c.opcode.toString(16)}`));
    expect(seq).toEqual(['F1', 'F4', 'F0', 'F4', 'A6', 'A2', 'A2', 'A2', 'A2', 'A2', 'F0', 'F4']);
    expect(t.connects).toHaveLength(1);
  });

  it('returns no entries for an empty log', async () => {
    const { port } = await fake();
    const r = await discover({ host: '127.0.0.1', port });
    expect(r).toEqual({ genctr: 1n, recfmt: 0, entries: [] });
  });
});
