// One NVMe/TCP connection = one NVMe queue pair, host side. Submits 64-byte SQEs as
// CapsuleCmd PDUs, moves data in-capsule, by R2T/H2CData or by C2HData, and resolves each
// command with its CQE. Hot-path design: per-CID slots with preallocated capsule headers,
// socket writes corked per tick (one writev), and a streaming receive parser that copies
// C2HData payload straight into the command's read buffer.
import net from 'node:net';
import { PduFlag, PduHlen, PduType, SglId, TermFes } from '../protocol/constants.js';
import { crc32c } from '../protocol/digest.js';
import { encodeCapsuleCmd } from '../protocol/host-codecs.js';
import { decodeDataHeader, decodeICResp, decodeTermReq, encodeICReq, encodeTermReq, FieldOff, writeDataHeader, type ICResp, type TermReq } from '../protocol/pdu.js';
import { CqeOff, decodeCqe, SQE_SIZE, type Cqe } from '../protocol/sqe.js';
import { PduReader, type PduHandler, type PduStreamError } from './pdu-reader.js';

export interface HostQueueOptions {
  host: string;
  port: number;
  hdgst?: boolean;
  ddgst?: boolean;
  /** Queue ID this connection will be connected as (0 = admin). */
  qid: number;
  /** Zero-based queue size (default 31 for the admin queue, 127 for I/O queues). */
  sqsize?: number;
  /** TCP connect + ICReq/ICResp deadline (default 5000 ms). */
  connectTimeoutMs?: number;
  /** In-capsule data limit in bytes (default 8192 for the admin queue, 0 for I/O queues until setInCapsuleLimit). */
  inCapsuleLimit?: number;
  /** Commands in flight at once (default sqsize; further submissions wait in a FIFO). */
  maxOutstanding?: number;
}

export interface SubmitOptions {
  /** Host-to-controller data. */
  data?: Buffer;
  /** Controller-to-host transfer length in bytes. */
  readLength?: number;
  /** Send `data` in-capsule regardless of the in-capsule limit (Fabrics Connect does). */
  inCapsule?: boolean;
  /** 'keep': leave the caller's SGL bytes (24..39) untouched, for malformed-SGL tests. */
  sgl?: 'auto' | 'keep';
  /**
   * Destination for controller-to-host data (at least readLength bytes); the result's `data`
   * is `into.subarray(0, readLength)`. Lets load generators reuse buffers.
   */
  into?: Buffer;
}

export interface SubmitResult {
  cqe: Cqe;
  /** Read buffer (readLength bytes) for controller-to-host transfers. */
  data?: Buffer;
}

/** Error for every command failed because the queue broke (socket, digest, TermReq, close). */
export class QueueError extends Error {
  override readonly name = 'QueueError';
  constructor(
    message: string,
    readonly qid: number,
    readonly termReq?: TermReq,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const FES_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TermFes).map(([k, v]) => [v, k]));
export const fesName = (fes: number): string => FES_NAMES[fes] ?? `unknown FES 0x${fes.toString(16)}`;

const MIN_MAXH2CDATA = 4096;
/** Reads up to this size are carved from a per-queue slab instead of a fresh allocation each. */
const SLAB_MAX_READ = 64 * 1024;
const SLAB_SIZE = 256 * 1024;
const CAPSULE_HDR_MAX = PduHlen.CapsuleCmd + 4;

/** Per-CID command state, allocated once per queue. */
class Slot {
  active = false;
  resolve: ((r: SubmitResult) => void) | null = null;
  reject: ((e: Error) => void) | null = null;
  /** Data awaiting R2Ts. */
  h2c: Buffer | null = null;
  /** Read destination. */
  rbuf: Buffer | null = null;
  received = 0;
  inOrder = true;
  /** hdr/ddgst have been queued on the socket at least once. */
  used = false;
  constructor(
    readonly cid: number,
    /** Capsule header space (76 bytes). */
    public hdr: Buffer,
    /** In-capsule data digest space (4 bytes). */
    public ddgst: Buffer,
  ) {}
}


interface Pending {
  sqe: Buffer;
  opts: SubmitOptions | undefined;
  resolve: (r: SubmitResult) => void;
  reject: (e: Error) => void;
}

export class HostQueue implements PduHandler {
  readonly qid: number;
  readonly sqsize: number;
  readonly hdgst: boolean;
  readonly ddgst: boolean;
  /** Negotiated in ICResp. */
  maxh2cdata = 0;
  cpda = 0;
  /** Called once when the target sends a C2HTermReq. */
  onTerm: ((t: TermReq) => void) | null = null;
  /** Called once when the queue closes for any reason (error is null for close()). */
  onClose: ((err: Error | null) => void) | null = null;
  lastTermReq: TermReq | null = null;

  private readonly sock: net.Socket;
  private readonly reader: PduReader;
  private inCapsuleLimitBytes: number;
  private readonly slots: Slot[];
  private readonly free: Uint16Array;
  private freeTop: number;
  private readonly pending: Pending[] = [];
  private pendingHead = 0;
  private corked = false;
  /** Bytes written since the last uncork (still corked). */
  private batchBytes = 0;
  private closedErr: Error | null = null;
  private icWait: { resolve: (r: ICResp) => void; reject: (e: Error) => void } | null = null;
  private readonly closedPromise: Promise<void>;
  // C2HData in progress
  private cur: Slot | null = null;
  private curDatao = 0;
  private slab: Buffer | null = null;
  private slabOff = 0;

  private constructor(opts: HostQueueOptions) {
    this.qid = opts.qid;
    this.sqsize = opts.sqsize ?? (opts.qid === 0 ? 31 : 127);
    if (this.sqsize < 1 || this.sqsize > 0xffff) throw new RangeError(`sqsize must be 1..65535, got ${this.sqsize}`);
    this.hdgst = !!opts.hdgst;
    this.ddgst = !!opts.ddgst;
    this.inCapsuleLimitBytes = opts.inCapsuleLimit ?? (opts.qid === 0 ? 8192 : 0);
    const depth = Math.max(1, Math.min(opts.maxOutstanding ?? this.sqsize, 0xffff));
    const slab = Buffer.alloc(depth * 80);
    this.slots = new Array<Slot>(depth);
    this.free = new Uint16Array(depth);
    for (let i = 0; i < depth; i++) {
      this.slots[i] = new Slot(i, slab.subarray(i * 80, i * 80 + CAPSULE_HDR_MAX), slab.subarray(i * 80 + 76, i * 80 + 80));
      this.free[i] = depth - 1 - i; // pop order 0, 1, 2, ...
    }
    this.freeTop = depth;
    this.reader = new PduReader(this);
    this.sock = new net.Socket();
    this.sock.setNoDelay(true);
    this.closedPromise = new Promise((resolve) => this.sock.once('close', () => resolve()));
    this.sock.on('data', (chunk: Buffer) => this.reader.push(chunk));
    this.sock.on('error', (err) => this.fail(new QueueError(`queue ${this.qid}: socket error: ${err.message}`, this.qid, undefined, { cause: err })));
    this.sock.on('close', () => this.fail(new QueueError(`queue ${this.qid}: connection closed`, this.qid)));
    this.sock.on('end', () => this.fail(new QueueError(`queue ${this.qid}: connection closed by target`, this.qid)));
  }

  /** Open the TCP connection and exchange ICReq/ICResp. */
  static async connect(opts: HostQueueOptions): Promise<HostQueue> {
    const q = new HostQueue(opts);
    const timeoutMs = opts.connectTimeoutMs ?? 5000;
    const timer = setTimeout(() => q.fail(new QueueError(`queue ${q.qid}: connect to ${opts.host}:${opts.port} timed out after ${timeoutMs} ms`, q.qid)), timeoutMs);
    try {
      const ic = new Promise<ICResp>((resolve, reject) => (q.icWait = { resolve, reject }));
      q.sock.connect({ host: opts.host, port: opts.port });
      q.write(encodeICReq({ pfv: 0, hpda: 0, hdgst: q.hdgst, ddgst: q.ddgst, maxr2t: 0 }));
      const r = await ic;
      if (r.pfv !== 0) throw new QueueError(`queue ${q.qid}: ICResp PFV ${r.pfv}, expected 0`, q.qid);
      if (r.hdgst !== q.hdgst || r.ddgst !== q.ddgst) {
        throw new QueueError(`queue ${q.qid}: ICResp digests hdgst=${r.hdgst} ddgst=${r.ddgst} do not echo the request hdgst=${q.hdgst} ddgst=${q.ddgst}`, q.qid);
      }
      if (r.maxh2cdata < MIN_MAXH2CDATA || r.maxh2cdata % 4 !== 0) throw new QueueError(`queue ${q.qid}: ICResp MAXH2CDATA ${r.maxh2cdata} invalid`, q.qid);
      q.maxh2cdata = r.maxh2cdata;
      q.cpda = r.cpda;
      return q;
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      q.fail(err instanceof QueueError ? err : new QueueError(err.message, q.qid, undefined, { cause: err }));
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** In-capsule data limit in bytes (I/O queues: IOCCSZ * 16 - 64). */
  get inCapsuleLimit(): number {
    return this.inCapsuleLimitBytes;
  }

  setInCapsuleLimit(n: number): void {
    this.inCapsuleLimitBytes = Math.max(0, n);
  }

  /** Commands in flight (not counting those waiting for a free CID). */
  get outstanding(): number {
    return this.slots.length - this.freeTop;
  }

  /** Submissions waiting for a free CID. */
  get waiting(): number {
    return this.pending.length - this.pendingHead;
  }

  get maxOutstanding(): number {
    return this.slots.length;
  }

  get closed(): boolean {
    return this.closedErr !== null;
  }

  /** The error that closed the queue, if any. */
  get closedError(): Error | null {
    return this.closedErr;
  }

  get localPort(): number | undefined {
    return this.sock.localPort;
  }

  /**
   * Submit a command. The SQE (64 bytes) is copied synchronously; its CID and (unless
   * `sgl: 'keep'`) its SGL are replaced. The promise resolves with the CQE whatever its status;
   * it rejects only when the queue breaks.
   */
  submit(sqe: Buffer, opts?: SubmitOptions): Promise<SubmitResult> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    if (sqe.length < SQE_SIZE) return Promise.reject(new RangeError(`SQE must be ${SQE_SIZE} bytes, got ${sqe.length}`));
    if (opts?.data && opts.readLength) return Promise.reject(new RangeError('bidirectional transfers are not supported'));
    if (opts?.into && opts.into.length < (opts.readLength ?? 0)) {
      return Promise.reject(new RangeError(`into buffer (${opts.into.length} bytes) is smaller than readLength ${opts.readLength}`));
    }
    if (this.freeTop === 0) {
      return new Promise<SubmitResult>((resolve, reject) => {
        this.pending.push({ sqe: Buffer.from(sqe.subarray(0, SQE_SIZE)), opts, resolve, reject });
      });
    }
    const slot = this.slots[this.free[--this.freeTop]!]!;
    const p = new Promise<SubmitResult>((resolve, reject) => {
      slot.resolve = resolve;
      slot.reject = reject;
    });
    this.issue(slot, sqe, opts);
    return p;
  }

  /** Write raw bytes to the connection, in order with queued PDUs (for malformed-input tests). */
  sendRaw(buf: Buffer): void {
    if (this.closedErr) throw this.closedErr;
    this.write(buf);
  }

  /** Close the connection; outstanding commands reject. Resolves once the socket is closed. */
  close(): Promise<void> {
    this.fail(new QueueError(`queue ${this.qid}: closed by host`, this.qid), true, true);
    return this.closedPromise;
  }

  /**
   * Hand the connected socket to another driver (the benchmark's raw load generator): this queue
   * stops reading and writing it (close() still resolves once the new owner closes the socket).
   * Only for an idle queue (nothing outstanding or unsent).
   */
  detach(): net.Socket {
    if (this.outstanding > 0 || this.corked || this.closedErr) throw new Error(`queue ${this.qid}: cannot detach a busy or closed queue`);
    this.sock.removeAllListeners('data');
    this.sock.removeAllListeners('error');
    this.sock.removeAllListeners('end');
    this.closedErr = new QueueError(`queue ${this.qid}: detached`, this.qid);
    return this.sock;
  }

  /** Resolves when the socket has closed (for any reason). */
  get whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  // ---- send path ----

  private readonly uncork = (): void => {
    this.corked = false;
    this.batchBytes = 0;
    this.sock.uncork();
  };

  private write(b: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.sock.cork();
      process.nextTick(this.uncork);
    }
    this.batchBytes += b.length;
    this.sock.write(b);
  }

  private issue(slot: Slot, sqe: Buffer, opts: SubmitOptions | undefined): void {
    slot.active = true;
    const data = opts?.data;
    const rl = opts?.readLength ?? 0;
    let icLen = 0;
    let sglType: number = SglId.TransportDataBlock;
    let sglLen = 0;
    if (data && data.length > 0) {
      sglLen = data.length;
      if (opts?.inCapsule || data.length <= this.inCapsuleLimitBytes) {
        icLen = data.length;
        sglType = SglId.DataBlockOffset;
      } else slot.h2c = data;
    } else if (rl > 0) {
      sglLen = rl;
      const into = opts!.into;
      slot.rbuf = into ? into.subarray(0, rl) : this.allocRead(rl);
      slot.received = 0;
      slot.inOrder = true;
    }
    if (slot.used && this.sock.writableLength > this.batchBytes) {
      // Bytes from earlier ticks are still buffered in the socket, possibly this slot's previous
      // capsule (a target may answer before it has all of it): leave that memory alone.
      const fresh = Buffer.allocUnsafe(80);
      slot.hdr = fresh.subarray(0, CAPSULE_HDR_MAX);
      slot.ddgst = fresh.subarray(CAPSULE_HDR_MAX, 80);
    }
    slot.used = true;
    const n = encodeCapsuleCmd(slot.hdr, 0, sqe, slot.cid, opts?.sgl === 'keep' ? null : sglType, sglLen, icLen, this.hdgst, this.ddgst);
    this.write(n === CAPSULE_HDR_MAX ? slot.hdr : slot.hdr.subarray(0, n));
    if (icLen > 0) {
      this.write(data!);
      if (this.ddgst) {
        slot.ddgst.writeUInt32LE(crc32c(data!), 0);
        this.write(slot.ddgst);
      }
    }
  }

  private allocRead(n: number): Buffer {
    if (n > SLAB_MAX_READ) return Buffer.allocUnsafe(n);
    let slab = this.slab;
    if (slab === null || this.slabOff + n > slab.length) {
      slab = this.slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.slabOff = 0;
    }
    const b = slab.subarray(this.slabOff, this.slabOff + n);
    this.slabOff += (n + 7) & ~7;
    return b;
  }

  private release(slot: Slot): void {
    slot.active = false;
    slot.resolve = null;
    slot.reject = null;
    slot.h2c = null;
    slot.rbuf = null;
    if (this.pendingHead < this.pending.length) {
      const p = this.pending[this.pendingHead]!;
      this.pending[this.pendingHead++] = undefined as unknown as Pending;
      if (this.pendingHead === this.pending.length) {
        this.pending.length = 0;
        this.pendingHead = 0;
      }
      slot.resolve = p.resolve;
      slot.reject = p.reject;
      this.issue(slot, p.sqe, p.opts);
      return;
    }
    this.free[this.freeTop++] = slot.cid;
  }

  private complete(slot: Slot, cqe: Cqe): void {
    const resolve = slot.resolve!;
    const rbuf = slot.rbuf;
    if (rbuf && slot.received < rbuf.length && slot.inOrder) rbuf.fill(0, slot.received);
    this.release(slot);
    resolve(rbuf ? { cqe, data: rbuf } : { cqe });
  }

  private sendH2C(slot: Slot, ttag: number, r2to: number, r2tl: number): void {
    const data = slot.h2c!;
    const max = this.maxh2cdata;
    const count = Math.ceil(r2tl / max);
    const hsz = PduHlen.H2CData + (this.hdgst ? 4 : 0);
    const dsz = this.ddgst ? 4 : 0;
    const space = Buffer.allocUnsafe(count * (hsz + dsz));
    let off = 0;
    for (let i = 0; i < count; i++) {
      const datao = r2to + i * max;
      const len = Math.min(max, r2to + r2tl - datao);
      const last = i === count - 1;
      const n = writeDataHeader(space, off, PduType.H2CData, last ? PduFlag.LAST_PDU : 0, slot.cid, ttag, datao, len, len, this.hdgst, this.ddgst);
      this.write(space.subarray(off, off + n));
      off += n;
      const piece = data.subarray(datao, datao + len);
      this.write(piece);
      if (dsz) {
        space.writeUInt32LE(crc32c(piece), off);
        this.write(space.subarray(off, off + 4));
        off += 4;
      }
    }
  }

  // ---- receive path (PduHandler) ----

  /** Returns an error message if the PDU's digest flags disagree with what was negotiated. */
  private digestFlagsError(hdr: Buffer, hasData: boolean): string | null {
    const f = hdr[1]!;
    if (!!(f & PduFlag.HDGSTF) !== this.hdgst) return `HDGSTF ${f & PduFlag.HDGSTF ? 'set' : 'clear'} but header digest ${this.hdgst ? 'enabled' : 'disabled'}`;
    if (hasData && !!(f & PduFlag.DDGSTF) !== this.ddgst) return `DDGSTF ${f & PduFlag.DDGSTF ? 'set' : 'clear'} but data digest ${this.ddgst ? 'enabled' : 'disabled'}`;
    return null;
  }

  private lookup(cccid: number, what: string, hdr: Buffer, fei: number = FieldOff.dataCccid): Slot | null {
    const slot = cccid < this.slots.length ? this.slots[cccid]! : null;
    if (!slot || !slot.active) {
      this.protocolError(`${what} for unknown command ID ${cccid}`, TermFes.InvalidHeaderField, fei, hdr);
      return null;
    }
    return slot;
  }

  onDataStart(hdr: Buffer, dataLength: number): void {
    if (this.icWait || hdr[0] !== PduType.C2HData) {
      this.protocolError(`unexpected PDU type 0x${hdr[0]!.toString(16)}`, TermFes.InvalidHeaderField, FieldOff.type, hdr);
      return;
    }
    const dErr = this.digestFlagsError(hdr, dataLength > 0);
    if (dErr) return this.protocolError(`C2HData: ${dErr}`, TermFes.InvalidHeaderField, FieldOff.flags, hdr);
    const h = decodeDataHeader(hdr);
    const slot = this.lookup(h.cccid, 'C2HData', hdr);
    if (!slot) return;
    const rbuf = slot.rbuf;
    if (!rbuf) return this.protocolError(`C2HData for command ${h.cccid} which reads no data`, TermFes.PduSequenceError, FieldOff.dataCccid, hdr);
    if (h.length !== dataLength) return this.protocolError(`C2HData DATAL ${h.length} disagrees with PLEN (data ${dataLength})`, TermFes.InvalidHeaderField, FieldOff.dataDatal, hdr);
    if (h.length === 0) return this.protocolError('C2HData with DATAL 0', TermFes.InvalidHeaderField, FieldOff.dataDatal, hdr);
    if (h.offset + h.length > rbuf.length) {
      return this.protocolError(`C2HData DATAO ${h.offset} + DATAL ${h.length} beyond the ${rbuf.length}-byte transfer`, TermFes.DataTransferOutOfRange, FieldOff.dataDatao, hdr);
    }
    if (h.offset !== slot.received && slot.inOrder) {
      // Out of order: zero what has not arrived so that gaps read as zeros.
      slot.inOrder = false;
      rbuf.fill(0, slot.received);
    }
    slot.received += h.length;
    this.cur = slot;
    this.curDatao = h.offset;
  }

  onData(chunk: Buffer, offset: number): void {
    chunk.copy(this.cur!.rbuf!, this.curDatao + offset);
  }

  onPdu(hdr: Buffer, data: Buffer | null): void {
    const type = hdr[0]!;
    if (this.icWait) {
      if (type === PduType.ICResp) {
        const w = this.icWait;
        this.icWait = null;
        w.resolve(decodeICResp(hdr));
        return;
      }
      if (type !== PduType.C2HTermReq) {
        this.protocolError(`expected ICResp, got PDU type 0x${type.toString(16)}`, TermFes.InvalidHeaderField, FieldOff.type, hdr);
        return;
      }
    }
    switch (type) {
      case PduType.CapsuleResp: {
        const dErr = this.digestFlagsError(hdr, false);
        if (dErr) return this.protocolError(`CapsuleResp: ${dErr}`, TermFes.InvalidHeaderField, FieldOff.flags, hdr);
        const slot = this.lookup(hdr.readUInt16LE(8 + CqeOff.cid), 'CapsuleResp', hdr, 8 + CqeOff.cid);
        if (!slot) return;
        this.complete(slot, decodeCqe(hdr, 8));
        return;
      }
      case PduType.C2HData: {
        const slot = this.cur!;
        this.cur = null;
        const f = hdr[1]!;
        if (f & PduFlag.SUCCESS) {
          if (!(f & PduFlag.LAST_PDU)) return this.protocolError('C2HData SUCCESS flag without LAST_PDU', TermFes.InvalidHeaderField, FieldOff.flags, hdr);
          this.complete(slot, { dw0: 0, dw1: 0, sqhd: 0, sqid: this.qid, cid: slot.cid, status: 0 });
        }
        return;
      }
      case PduType.R2T: {
        const dErr = this.digestFlagsError(hdr, false);
        if (dErr) return this.protocolError(`R2T: ${dErr}`, TermFes.InvalidHeaderField, FieldOff.flags, hdr);
        const h = decodeDataHeader(hdr);
        const slot = this.lookup(h.cccid, 'R2T', hdr);
        if (!slot) return;
        const d = slot.h2c;
        if (!d) return this.protocolError(`R2T for command ${h.cccid} which has no data to send`, TermFes.PduSequenceError, FieldOff.dataCccid, hdr);
        if (h.length === 0) return this.protocolError('R2T with R2TL 0', TermFes.InvalidHeaderField, FieldOff.dataDatal, hdr);
        if (h.offset + h.length > d.length) {
          return this.protocolError(`R2T R2TO ${h.offset} + R2TL ${h.length} beyond the ${d.length}-byte transfer`, TermFes.DataTransferOutOfRange, FieldOff.dataDatao, hdr);
        }
        this.sendH2C(slot, h.ttag, h.offset, h.length);
        return;
      }
      case PduType.C2HTermReq: {
        const t = decodeTermReq(hdr);
        const term: TermReq = { type: t.type, fes: t.fes, fei: t.fei, data: data ? Buffer.from(data) : Buffer.alloc(0) };
        this.lastTermReq = term;
        this.reader.stop();
        const err = new QueueError(
          `queue ${this.qid}: target sent C2HTermReq FES=0x${term.fes.toString(16)} (${fesName(term.fes)}) FEI=0x${term.fei.toString(16)}`,
          this.qid,
          term,
        );
        const cb = this.onTerm;
        this.onTerm = null;
        this.fail(err);
        if (cb) cb(term);
        return;
      }
      default:
        this.protocolError(`unexpected PDU type 0x${type.toString(16)}`, TermFes.InvalidHeaderField, FieldOff.type, hdr);
    }
  }

  onError(err: PduStreamError): void {
    const msg = `queue ${this.qid}: ${err.message}`;
    if (err.kind === 'data-digest') this.fail(new QueueError(msg, this.qid, undefined, { cause: err }));
    else this.failWithTerm(new QueueError(msg, this.qid, undefined, { cause: err }), err.fes, err.fei, err.header);
  }

  private protocolError(msg: string, fes: number, fei: number, hdr: Buffer): void {
    this.reader.stop();
    this.failWithTerm(new QueueError(`queue ${this.qid}: protocol error: ${msg}`, this.qid), fes, fei, Buffer.from(hdr));
  }

  /** Tell the target why we are leaving (H2CTermReq), then close. */
  private failWithTerm(err: Error, fes: number, fei: number, hdr: Buffer): void {
    if (this.closedErr) return;
    if (!this.icWait && this.sock.writable) {
      try {
        this.sock.end(encodeTermReq(PduType.H2CTermReq, fes, fei, hdr));
      } catch {
        /* socket already gone */
      }
    }
    this.fail(err, true);
  }

  /**
   * Mark the queue closed with `err`: reject everything outstanding and queued, close the
   * socket (`graceful`: half-close and let queued bytes drain, then destroy shortly after).
   */
  private fail(err: Error, graceful = false, byHost = false): void {
    if (this.closedErr) return;
    this.closedErr = err;
    this.reader.stop();
    if (this.icWait) {
      const w = this.icWait;
      this.icWait = null;
      w.reject(err);
    }
    for (const slot of this.slots) {
      if (!slot.active) continue;
      const reject = slot.reject!;
      slot.active = false;
      slot.resolve = slot.reject = null;
      slot.h2c = slot.rbuf = null;
      reject(err);
    }
    for (let i = this.pendingHead; i < this.pending.length; i++) this.pending[i]!.reject(err);
    this.pending.length = 0;
    this.pendingHead = 0;
    if (graceful && !this.sock.destroyed) {
      if (!this.sock.writableEnded) this.sock.end();
      setTimeout(() => this.sock.destroy(), 200).unref();
    } else this.sock.destroy();
    const cb = this.onClose;
    this.onClose = null;
    if (cb) cb(byHost ? null : err);
  }
}
