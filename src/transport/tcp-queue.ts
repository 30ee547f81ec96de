// One NVMe/TCP connection = one NVMe queue pair. Receives PDUs with a byte-level state machine
// (no concatenation of socket chunks; in-capsule data is sliced, H2C data copied once into the
// command buffer), runs commands, and batches every PDU it sends per event-loop turn.
import type { Socket } from 'node:net';
import { executeAdmin } from '../controller/admin-commands.js';
import type { Controller } from '../controller/controller.js';
import type { QueueAuth } from '../controller/auth.js';
import { executeAuth, executeConnect, executeFabrics, type ConnectableQueue } from '../controller/fabrics-commands.js';
import { executeIo } from '../controller/io-commands.js';
import { ASYNC } from '../controller/request.js';
import type { PortRuntime, Target, TransportCounters } from '../controller/target.js';
import type { LatencyHistogram } from '../metrics/latency-histogram.js';
import { getU16, getU32, putU32 } from '../protocol/bytes.js';
import { AdminOpcode, DataDirection, FabricsType, NvmOpcode, PduFlag, PduHlen, PduType, SglId, TermFes } from '../protocol/constants.js';
import { crc32c, crc32cBlocks, crc32cInto, crc32cList, crc32cRange, prefetch } from '../protocol/digest.js';
import {
  CH_SIZE,
  DIGEST_SIZE,
  FieldOff,
  decodeICReq,
  encodeICResp,
  encodeTermReq,
  sealHeaderDigest,
  writeCapsuleRespHeader,
  writeDataHeader,
} from '../protocol/pdu.js';
import { SqeOff, writeCqe } from '../protocol/sqe.js';
import { Status } from '../protocol/status.js';
import { ReqState, TcpRequest } from './tcp-request.js';
import { readIntoSharedBuffer, type ReadRedirect } from './socket-read-buffer.js';
import { TxArena } from './tx-arena.js';
import { bufferView } from '../util/buffer-view.js';

/** Every queue's outgoing headers (the network thread is one thread: one arena serves all). */
const arena = new TxArena();

/** Zone Append (ZNS command set): a write for latency accounting. */
const ZONE_APPEND = 0x7d;

const RX_HDR = 0;
const RX_PAD = 1;
const RX_DATA = 2;
const RX_DDGST = 3;
const RX_DEAD = 4;

/** What the data phase of the PDU being received belongs to. */
const SINK_CAPSULE = 0;
const SINK_H2C = 1;
const SINK_DISCARD = 2;

const ICREQ_TIMEOUT_MS = 10_000;
/** Stop reading from a host that does not read its completions (bounded memory). */
const WRITE_HIGH_WATER = 8 * 1024 * 1024;
/** Commands a queue may have beyond SQSIZE+1 (AERs are outstanding on the admin queue). */
const POOL_SLACK = 8;
/** H2C data still to come beyond this is read straight into the command's buffer (no copy). */
const DIRECT_MIN = 16 * 1024;

export class TcpQueue implements ConnectableQueue {
  qid = 0;
  sqsize = 31;
  ctrl: Controller | null = null;
  /** DH-HMAC-CHAP state when the host must authenticate; authPending until it has. */
  private auth: QueueAuth | null = null;
  private authPending = false;
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly portid: number;
  private hdgst = false;
  private ddgst = false;
  private established = false;
  private sqhd = 0;
  private inlineMax: number;

  // receive state
  private rx = RX_HDR;
  private readonly hdr = Buffer.alloc(PduHlen.ICReq + DIGEST_SIZE);
  /** hdr as 32-bit words (its SQE, at byte 8, is word-aligned). */
  private readonly hdr32 = new Int32Array(this.hdr.buffer, this.hdr.byteOffset, this.hdr.length >> 2);
  private hdrHave = 0;
  private hdrTotal = 0;
  private padLeft = 0;
  private dataLeft = 0;
  private dataLen = 0;
  private sink = SINK_DISCARD;
  private sinkReq: TcpRequest | null = null;
  private sinkBuf: Buffer | null = null;
  private sinkOff = 0;
  private pduFlags = 0;
  private readonly ddgstBuf = Buffer.alloc(DIGEST_SIZE);
  /** Per-namespace latency and in-flight accounting (the metrics switch). */
  private readonly measure: boolean;
  private quiesced = false;
  private readonly counters: TransportCounters;
  private ddgstHave = 0;
  /** Moves the socket's reads between the shared buffer and a command's (null: 'data' events). */
  private readonly redirect: ReadRedirect | null;
  /** Reads go straight into sinkBuf at sinkOff (large H2C data). */
  private direct = false;

  // requests
  private readonly pool: TcpRequest[] = [];
  private readonly free: TcpRequest[] = [];

  // transmit: `out` holds what the next flush writes; headers gather in the arena segment
  // [segStart, segEnd) of the arena buffer that lives in segAb at segBase (null: no segment open)
  // until something else must follow them.
  private out: Buffer[] = [];
  private segAb: ArrayBufferLike | null = null;
  private segBase = 0;
  private segStart = 0;
  private segEnd = 0;
  /** performance.now() when the data being parsed arrived (metrics on). */
  private rxNow = 0;
  private flushScheduled = false;
  private readonly flushFn = (): void => this.flush();
  // Data digests, taken at flush of the views the flush sends (so a digest is always of the bytes
  // sent, even if a later command of the batch changed the store): a memory read's single view from
  // the digests its store keeps of its 4 KiB blocks (those not known summed and kept), other data
  // summed, prefetched when its read completes to be in the cache by then. A random block's kept
  // digest is itself a cache miss (~100 ns): the flush loads them all first, so that their misses
  // overlap, and has the blocks not known start loading. Per digest: the view (or a multi-part
  // read's views), its block digests and first block, the arena buffer and offset the digest goes
  // to. Slots are reused (ddN counts them), so a batch allocates nothing (but a copy of a
  // multi-part read's list).
  private readonly ddView: (Buffer | Buffer[] | null)[] = [];
  private readonly ddTab: (Float64Array | null)[] = [];
  private readonly ddBlock: number[] = [];
  private readonly ddBuf: (Buffer | null)[] = [];
  private readonly ddOff: number[] = [];
  private ddN = 0;
  // Latencies of the commands completed since the last flush, observed by the flush with one clock
  // read: a response leaves with its batch, so the flush is when it is sent ("capsule received to
  // response sent"), and one clock read per batch instead of one per command halves what metrics
  // cost the data path. Commands parsed from one received chunk share their arrival time, so a
  // batch holds a few runs of equal (histogram, arrival) pairs: each run is one entry with a count,
  // observed once.
  private readonly latHist: LatencyHistogram[] = [];
  private latT0 = new Float64Array(64);
  private latCount = new Int32Array(64);
  private latN = 0;
  private icTimer: NodeJS.Timeout | null;

  constructor(
    private readonly socket: Socket,
    private readonly target: Target,
    private readonly port: PortRuntime,
    private readonly onClosed: (q: TcpQueue) => void,
  ) {
    this.localAddress = socket.localAddress ?? '';
    this.remoteAddress = `${socket.remoteAddress}:${socket.remotePort}`;
    this.portid = port.portid;
    this.inlineMax = target.limits.adminInlineDataSize;
    this.measure = target.metricsEnabled;
    this.counters = target.counters;
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => this.onData(c, c.length)); // reads before the switch below, or an older Node
    this.redirect = readIntoSharedBuffer(socket, (b, n) => (this.direct ? this.onDirectData(n) : this.onData(b, n)));
    socket.on('error', () => {}); // 'close' follows; resets from vanished hosts are not ours to log
    socket.on('close', () => this.onSocketClose());
    socket.on('drain', () => {
      if (!this.quiesced) socket.resume();
    });
    this.icTimer = setTimeout(() => this.close('no ICReq'), ICREQ_TIMEOUT_MS);
    this.icTimer.unref();
  }

  bind(ctrl: Controller, qid: number, sqsize: number, auth: QueueAuth | null): void {
    this.ctrl = ctrl;
    this.auth = auth;
    this.authPending = auth !== null;
    this.qid = qid;
    this.sqsize = sqsize;
    if (qid > 0) this.inlineMax = this.port.inlineDataSize;
  }

  close(reason: string): void {
    if (this.rx === RX_DEAD && this.socket.destroyed) return;
    this.rx = RX_DEAD;
    this.target.log.debug({ remote: this.remoteAddress, qid: this.qid, reason }, 'queue closed');
    this.socket.destroy();
  }

  /** Commands received and not yet completed (data still arriving included). */
  get outstanding(): number {
    return this.pool.length - this.free.length;
  }

  /** Stop reading new commands (graceful shutdown): what is running still completes and is sent. */
  quiesce(): void {
    this.quiesced = true;
    this.socket.pause();
  }

  /** Bytes received and sent on this connection so far. */
  get bytesIn(): number {
    return this.socket.bytesRead;
  }
  get bytesOut(): number {
    return this.socket.bytesWritten;
  }

  private onSocketClose(): void {
    this.rx = RX_DEAD;
    this.counters.closedBytesIn += this.socket.bytesRead;
    this.counters.closedBytesOut += this.socket.bytesWritten;
    if (this.icTimer) clearTimeout(this.icTimer);
    this.out = [];
    this.segAb = null;
    // Commands still receiving their data will never run: give back their R2T buffers now.
    // (Executing ones are released when they complete.)
    for (const r of this.pool) if (r.state === ReqState.ReceivingH2C || r.state === ReqState.ReceivingCapsuleData) this.release(r);
    const ctrl = this.ctrl;
    this.ctrl = null;
    if (ctrl) ctrl.detachQueue(this);
    this.onClosed(this);
  }

  // ---------------------------------------------------------------- receive

  /** `len` bytes of `chunk` arrived. The chunk is reused after this returns: keep copies only. */
  private onData(chunk: Buffer, len: number): void {
    let pos = 0;
    // Capsules in one chunk arrived together: one clock read serves them all.
    if (this.measure) this.rxNow = performance.now();
    while (pos < len) {
      switch (this.rx) {
        case RX_HDR: {
          const want = (this.hdrTotal === 0 ? CH_SIZE : this.hdrTotal) - this.hdrHave;
          const n = want < len - pos ? want : len - pos;
          // At most 132 bytes: a loop beats Buffer#copy's call (see protocol/bytes.ts).
          const h = this.hdr;
          const at = this.hdrHave - pos;
          for (let i = pos; i < pos + n; i++) h[at + i] = chunk[i]!;
          this.hdrHave += n;
          pos += n;
          if (this.hdrTotal === 0 && this.hdrHave === CH_SIZE) {
            if (!this.onCommonHeader()) return;
          }
          if (this.hdrTotal !== 0 && this.hdrHave === this.hdrTotal) {
            if (!this.onHeader()) return;
          }
          break;
        }
        case RX_PAD: {
          const n = Math.min(this.padLeft, len - pos);
          pos += n;
          this.padLeft -= n;
          if (this.padLeft === 0) this.rx = RX_DATA;
          break;
        }
        case RX_DATA: {
          const n = Math.min(this.dataLeft, len - pos);
          if (this.sinkBuf !== null) {
            chunk.copy(this.sinkBuf, this.sinkOff, pos, pos + n);
            this.sinkOff += n;
          }
          pos += n;
          this.dataLeft -= n;
          if (this.dataLeft === 0) {
            if (this.pduFlags & PduFlag.DDGSTF) {
              this.rx = RX_DDGST;
              this.ddgstHave = 0;
            } else this.onDataDone(true);
          }
          break;
        }
        case RX_DDGST: {
          const n = Math.min(DIGEST_SIZE - this.ddgstHave, len - pos);
          for (let i = 0; i < n; i++) this.ddgstBuf[this.ddgstHave + i] = chunk[pos + i]!;
          this.ddgstHave += n;
          pos += n;
          if (this.ddgstHave === DIGEST_SIZE) this.onDataDone(this.checkDataDigest());
          break;
        }
        default:
          return; // dead: ignore whatever else arrives
      }
    }
    // The rest of a large H2C transfer is still to come: have the socket read it in place.
    if (this.rx === RX_DATA && this.sink === SINK_H2C && this.dataLeft >= DIRECT_MIN && this.redirect !== null && this.sinkBuf !== null) {
      this.direct = true;
      this.redirect(this.sinkBuf.subarray(this.sinkOff, this.sinkOff + this.dataLeft));
    }
  }

  /** `n` bytes of H2C data were read straight into sinkBuf at sinkOff. */
  private onDirectData(n: number): void {
    if (this.rx !== RX_DATA) return; // dead meanwhile
    this.sinkOff += n;
    this.dataLeft -= n;
    if (this.dataLeft > 0) {
      this.redirect!(this.sinkBuf!.subarray(this.sinkOff, this.sinkOff + this.dataLeft));
      return;
    }
    this.direct = false;
    this.redirect!(null);
    if (this.pduFlags & PduFlag.DDGSTF) {
      this.rx = RX_DDGST;
      this.ddgstHave = 0;
    } else this.onDataDone(true);
  }

  private nextPdu(): void {
    this.rx = RX_HDR;
    this.hdrHave = 0;
    this.hdrTotal = 0;
    this.sinkBuf = null;
    this.sinkReq = null;
  }

  /** Validate the 8-byte common header and size the rest of the header. */
  private onCommonHeader(): boolean {
    const h = this.hdr;
    const type = h[0]!;
    const flags = h[1]!;
    const hlen = h[2]!;
    const plen = getU32(h, 4);
    let expect: number;
    switch (type) {
      case PduType.ICReq:
        expect = PduHlen.ICReq;
        if (this.established) return this.fatal(TermFes.PduSequenceError, 0);
        break;
      case PduType.CapsuleCmd:
        expect = PduHlen.CapsuleCmd;
        break;
      case PduType.H2CData:
        expect = PduHlen.H2CData;
        break;
      case PduType.H2CTermReq:
        expect = PduHlen.TermReq;
        break;
      default:
        return this.fatal(TermFes.InvalidHeaderField, FieldOff.type);
    }
    if (type !== PduType.ICReq && !this.established) return this.fatal(TermFes.PduSequenceError, 0);
    if (hlen !== expect) return this.fatal(TermFes.InvalidHeaderField, FieldOff.hlen);
    // Digests: the header digest flag must match what was negotiated (never on IC or TermReq).
    const digestable = type === PduType.CapsuleCmd || type === PduType.H2CData;
    const hd = digestable && this.hdgst ? DIGEST_SIZE : 0;
    if (digestable && ((flags & PduFlag.HDGSTF) !== 0) !== this.hdgst) return this.fatal(TermFes.InvalidHeaderField, FieldOff.flags);
    if (plen < hlen + hd) return this.fatal(TermFes.InvalidHeaderField, FieldOff.plen);
    if (type === PduType.ICReq && plen !== PduHlen.ICReq) return this.fatal(TermFes.InvalidHeaderField, FieldOff.plen);
    this.hdrTotal = hlen + hd;
    this.pduFlags = flags;
    return true;
  }

  private onHeader(): boolean {
    const h = this.hdr;
    const type = h[0]!;
    const hlen = h[2]!;
    const pdo = h[3]!;
    const plen = getU32(h, 4);
    this.counters.pdusReceived[type]!++;
    if (this.hdrTotal > hlen) {
      if (crc32cRange(h, 0, hlen) !== getU32(h, hlen)) {
        this.counters.headerDigestErrors++;
        return this.fatal(TermFes.HeaderDigestError, 0);
      }
    }
    if (type === PduType.ICReq) return this.onICReq();
    if (type === PduType.H2CTermReq) {
      this.target.log.warn({ remote: this.remoteAddress, fes: h.readUInt16LE(8) }, 'host sent H2CTermReq');
      this.close('H2CTermReq');
      return false;
    }
    // Data part of the PDU, if any.
    const payload = plen - this.hdrTotal;
    let dataLen = 0;
    let pad = 0;
    if (payload > 0) {
      if (pdo < this.hdrTotal || pdo > plen) return this.fatal(TermFes.InvalidHeaderField, FieldOff.pdo);
      pad = pdo - this.hdrTotal;
      const dd = this.pduFlags & PduFlag.DDGSTF ? DIGEST_SIZE : 0;
      if ((dd !== 0) !== this.ddgst) return this.fatal(TermFes.InvalidHeaderField, FieldOff.flags);
      dataLen = plen - pdo - dd;
      if (dataLen <= 0) return this.fatal(TermFes.InvalidHeaderField, FieldOff.plen);
    } else if (this.pduFlags & PduFlag.DDGSTF) {
      this.pduFlags &= ~PduFlag.DDGSTF; // no data, no data digest
    }
    // hdrHave stays set until nextPdu(), so a fatal error echoes the whole header.
    return type === PduType.CapsuleCmd ? this.onCapsule(dataLen, pad) : this.onH2CData(dataLen, pad);
  }

  private onICReq(): boolean {
    const ic = decodeICReq(this.hdr);
    if (ic.pfv !== 0) return this.fatal(TermFes.InvalidHeaderField, FieldOff.icPfv);
    // We place C2H data right after the header; a host asking for padding is refused clearly.
    if (ic.hpda !== 0) return this.fatal(TermFes.UnsupportedParameter, FieldOff.icHpda);
    this.hdgst = ic.hdgst;
    this.ddgst = ic.ddgst;
    this.established = true;
    if (this.icTimer) clearTimeout(this.icTimer);
    this.icTimer = null;
    this.counters.pdusSent[PduType.ICResp]!++;
    this.send(encodeICResp({ pfv: 0, cpda: 0, hdgst: ic.hdgst, ddgst: ic.ddgst, maxh2cdata: this.target.limits.maxH2CData }));
    this.nextPdu();
    return true;
  }

  private onCapsule(dataLen: number, pad: number): boolean {
    const req = this.allocRequest();
    if (req === null) return this.fatal(TermFes.PduSequenceError, 0);
    const h32 = this.hdr32;
    const s32 = req.sqe32;
    for (let i = 0; i < 16; i++) s32[i] = h32[CH_SIZE / 4 + i]!;
    const sqe = req.sqe;
    req.opcode = sqe[SqeOff.opcode]!;
    req.cid = getU16(sqe, SqeOff.cid);
    req.nsid = getU32(sqe, SqeOff.nsid);
    req.qid = this.qid;
    req.dataLength = getU32(sqe, SqeOff.sglLength);
    req.t0 = this.rxNow;
    this.sqhd = this.sqhd >= this.sqsize ? 0 : this.sqhd + 1;
    if (dataLen > 0) {
      const limit = req.opcode === AdminOpcode.Fabrics ? this.target.limits.adminInlineDataSize : this.inlineMax;
      if (dataLen > limit) return this.fatal(TermFes.DataTransferLimitExceeded, FieldOff.plen);
      if (sqe[SqeOff.sglType] !== SglId.DataBlockOffset || req.dataLength !== dataLen || (getU32(sqe, SqeOff.sglAddress) | getU32(sqe, SqeOff.sglAddress + 4)) !== 0) {
        req.earlyStatus = sqe[SqeOff.sglType] !== SglId.DataBlockOffset ? Status.SglDescriptorTypeInvalid
          : req.dataLength !== dataLen ? Status.DataSglLengthInvalid
          : Status.SglOffsetInvalid;
      }
      req.state = ReqState.ReceivingCapsuleData;
      // Copied out of the receive buffer (reused for the next read) into pooled memory.
      const backing = this.target.bufferPool.acquire(dataLen);
      req.pooled = backing;
      this.startData(SINK_CAPSULE, req, backing.subarray(0, dataLen), 0, dataLen, pad);
      return true;
    }
    this.nextPdu();
    this.startCommand(req);
    return true;
  }

  private onH2CData(dataLen: number, pad: number): boolean {
    const h = this.hdr;
    const cccid = getU16(h, 8);
    const ttag = getU16(h, 10);
    const datao = getU32(h, 12);
    const datal = getU32(h, 16);
    const req = this.pool[ttag];
    if (req === undefined || req.state !== ReqState.ReceivingH2C || req.cid !== cccid) return this.fatal(TermFes.InvalidHeaderField, FieldOff.dataTtag);
    if (datal !== dataLen) return this.fatal(TermFes.InvalidHeaderField, FieldOff.dataDatal);
    if (datal > this.target.limits.maxH2CData) return this.fatal(TermFes.DataTransferLimitExceeded, FieldOff.dataDatal);
    if (datao !== req.received || datao + datal > req.dataLength) return this.fatal(TermFes.DataTransferOutOfRange, FieldOff.dataDatao);
    const last = (this.pduFlags & PduFlag.LAST_PDU) !== 0;
    if (last !== (datao + datal === req.dataLength)) return this.fatal(TermFes.InvalidHeaderField, FieldOff.flags);
    this.startData(SINK_H2C, req, req.data, datao, datal, pad);
    return true;
  }

  private startData(sink: number, req: TcpRequest | null, buf: Buffer | null, off: number, len: number, pad: number): void {
    this.sink = sink;
    this.sinkReq = req;
    this.sinkBuf = buf;
    this.sinkOff = off;
    this.dataLen = len;
    this.dataLeft = len;
    this.padLeft = pad;
    this.rx = pad > 0 ? RX_PAD : RX_DATA;
  }

  private checkDataDigest(): boolean {
    const buf = this.sinkBuf;
    if (buf === null) return true;
    const start = this.sinkOff - this.dataLen;
    return crc32c(buf.subarray(start, this.sinkOff)) === getU32(this.ddgstBuf, 0);
  }

  private onDataDone(digestOk: boolean): void {
    const req = this.sinkReq;
    const buf = this.sinkBuf;
    const sink = this.sink;
    const end = this.sinkOff;
    this.nextPdu();
    if (req === null) return;
    if (!digestOk) {
      this.counters.dataDigestErrors++;
      req.digestError = true;
    }
    if (sink === SINK_CAPSULE) {
      req.data = buf;
      this.startCommand(req);
    } else {
      req.received = end; // H2C data arrives in order (checked in onH2CData)
      if (req.received === req.dataLength) {
        req.state = ReqState.Executing;
        this.dispatch(req);
      }
    }
  }

  // ---------------------------------------------------------------- execute

  /** Capsule fully received: check the SGL, fetch data by R2T if needed, or run it. */
  private startCommand(req: TcpRequest): void {
    if (req.earlyStatus !== 0) return this.completeRequest(req, req.earlyStatus);
    const sqe = req.sqe;
    if (req.data !== null) {
      req.state = ReqState.Executing;
      return this.dispatch(req);
    }
    const len = req.dataLength;
    if (len === 0) {
      req.state = ReqState.Executing;
      return this.dispatch(req);
    }
    if (sqe[SqeOff.sglType] !== SglId.TransportDataBlock) return this.completeRequest(req, Status.SglDescriptorTypeInvalid);
    if (len > this.target.limits.maxTransferSize) return this.completeRequest(req, Status.DataSglLengthInvalid);
    const dir = req.opcode === AdminOpcode.Fabrics ? sqe[SqeOff.fctype]! & 3 : req.opcode & 3;
    if (dir === DataDirection.HostToController || dir === DataDirection.Bidirectional) {
      const backing = this.target.bufferPool.acquire(len);
      req.pooled = backing;
      req.data = backing.subarray(0, len);
      req.received = 0;
      req.state = ReqState.ReceivingH2C;
      const o = this.header(PduHlen.R2T + (this.hdgst ? DIGEST_SIZE : 0));
      writeDataHeader(arena.buf, o, PduType.R2T, 0, req.cid, req.ttag, 0, len, 0, this.hdgst, false);
      this.counters.pdusSent[PduType.R2T]!++;
      return;
    }
    req.state = ReqState.Executing;
    this.dispatch(req);
  }

  private dispatch(req: TcpRequest): void {
    if (req.digestError) return this.completeRequest(req, Status.TransientTransportError);
    const ctrl = this.ctrl;
    let status: number;
    if (ctrl === null) {
      status = req.opcode === AdminOpcode.Fabrics && req.sqe[SqeOff.fctype] === FabricsType.Connect
        ? executeConnect(this.target, this, req)
        : Status.InvalidOpcode; // nothing but Connect on an unconnected queue, as nvmet
    } else {
      const fct = req.opcode === AdminOpcode.Fabrics ? req.sqe[SqeOff.fctype] : -1;
      const auth = fct === FabricsType.AuthSend || fct === FabricsType.AuthReceive;
      // Refused commands of a queue that has not authenticated do not count as keep-alive: a host
      // that never completes DH-HMAC-CHAP loses its controller at KATO.
      if (!this.authPending || auth) ctrl.touch();
      if (req.opcode === AdminOpcode.Fabrics) {
        if (auth) {
          status = executeAuth(this.auth, req);
          if (this.authPending && this.auth!.authenticated) this.authPending = false;
        } else if (this.authPending) status = Status.AuthRequired;
        else status = this.qid !== 0 && fct !== FabricsType.Disconnect ? Status.InvalidOpcode : executeFabrics(ctrl, this, req);
      } else if (this.authPending) {
        status = Status.AuthRequired; // nothing but AUTH_Send/AUTH_Receive until the queue authenticated
      } else if (!ctrl.ready) {
        status = Status.CommandSequenceError;
      } else if (this.qid === 0) {
        status = executeAdmin(ctrl, req);
      } else {
        // One lookup serves the latency accounting and the command.
        const ns = ctrl.subsys.namespaces.get(req.nsid);
        if (this.measure && ns !== undefined) {
          req.nsStats = ns.stats;
          ns.stats.ioNow++;
        }
        status = executeIo(ctrl, req, ns);
      }
    }
    if (status !== ASYNC) this.completeRequest(req, status);
  }

  /** Send the command's data (if it succeeded) and its completion, then recycle it. */
  completeRequest(req: TcpRequest, status: number): void {
    const st = req.nsStats;
    if (st !== null) {
      st.ioNow--;
      if (status !== Status.Success) st.errors++;
      const op = req.opcode;
      if (op === NvmOpcode.Read) this.latencyAtFlush(st.readLatency, req.t0);
      else if (op === NvmOpcode.Write || op === ZONE_APPEND) this.latencyAtFlush(st.writeLatency, req.t0);
    }
    if (this.rx === RX_DEAD) {
      this.observeLatencies(); // no flush follows
      this.release(req);
      return;
    }
    const ctrl = this.ctrl;
    if (status !== Status.Success && ctrl !== null && status !== Status.AbortSqDeleted) ctrl.recordError(req, status, BigInt(req.errorLba));
    if (status === Status.Success && req.c2hLength > 0) this.sendC2HData(req);
    const o = this.header(PduHlen.CapsuleResp + (this.hdgst ? DIGEST_SIZE : 0));
    const b = arena.buf;
    writeCapsuleRespHeader(b, o, this.hdgst);
    writeCqe(b, o + CH_SIZE, req.result0, req.result1, this.sqhd, this.qid, req.cid, status);
    if (this.hdgst) sealHeaderDigest(b, o, PduHlen.CapsuleResp);
    this.counters.pdusSent[PduType.CapsuleResp]!++;
    this.release(req);
  }

  private latencyAtFlush(h: LatencyHistogram, t0: number): void {
    const n = this.latN;
    if (n > 0 && this.latT0[n - 1] === t0 && this.latHist[n - 1] === h) {
      this.latCount[n - 1]!++;
      return;
    }
    if (n === this.latT0.length) {
      const t = new Float64Array(n * 2);
      t.set(this.latT0);
      this.latT0 = t;
      const c = new Int32Array(n * 2);
      c.set(this.latCount);
      this.latCount = c;
    }
    this.latHist[n] = h;
    this.latT0[n] = t0;
    this.latCount[n] = 1;
    this.latN = n + 1;
  }

  private observeLatencies(): void {
    const n = this.latN;
    if (n === 0) return;
    const now = performance.now();
    for (let i = 0; i < n; i++) this.latHist[i]!.observe((now - this.latT0[i]!) / 1000, this.latCount[i]!);
    this.latN = 0;
  }

  private sendC2HData(req: TcpRequest): void {
    const len = req.c2hLength;
    const o = this.header(PduHlen.C2HData + (this.hdgst ? DIGEST_SIZE : 0));
    writeDataHeader(arena.buf, o, PduType.C2HData, PduFlag.LAST_PDU, req.cid, 0, 0, len, len, this.hdgst, this.ddgst);
    this.counters.pdusSent[PduType.C2HData]!++;
    this.cutSegment();
    const parts = req.c2h;
    for (let i = 0; i < parts.length; i++) this.out.push(parts[i]!);
    if (this.ddgst) {
      const d = this.header(DIGEST_SIZE);
      const n = this.ddN++;
      if (parts.length === 1) {
        const t = req.c2hDigests;
        // A random block comes from DRAM: its lines load while the rest of the batch runs, and
        // the CRC at flush finds them in the cache.
        if (t === null) prefetch(parts[0]!);
        this.ddView[n] = parts[0]!;
        this.ddTab[n] = t;
        this.ddBlock[n] = req.c2hBlock;
      } else {
        this.ddView[n] = parts.slice(); // req.c2h is reused once the request is released
        this.ddTab[n] = null;
      }
      this.ddBuf[n] = arena.buf;
      this.ddOff[n] = d;
    }
  }

  private allocRequest(): TcpRequest | null {
    let r = this.free.pop();
    if (r === undefined) {
      if (this.pool.length >= this.sqsize + 1 + POOL_SLACK) return null;
      r = new TcpRequest(this, this.pool.length);
      this.pool.push(r);
    }
    r.state = ReqState.Executing;
    return r;
  }

  private release(req: TcpRequest): void {
    if (req.state === ReqState.Free) return;
    // Handlers copy what they keep (the device stores the data), so the buffer is free again.
    if (req.pooled !== null) this.target.bufferPool.release(req.pooled);
    req.reset();
    this.free.push(req);
  }

  // ---------------------------------------------------------------- transmit

  /** A PDU that is its own buffer (ICResp). */
  private send(b: Buffer): void {
    this.cutSegment();
    this.out.push(b);
    this.scheduleFlush();
  }

  /** Reserve `n` bytes for a header in the arena (arena.buf at the returned offset), in send order. */
  private header(n: number): number {
    const o = arena.take(n);
    if (arena.ab !== this.segAb || o !== this.segEnd) {
      this.cutSegment();
      this.segAb = arena.ab;
      this.segBase = arena.base;
      this.segStart = o;
    }
    this.segEnd = o + n;
    this.scheduleFlush();
    return o;
  }

  /** The headers gathered so far go out before whatever is pushed next. */
  private cutSegment(): void {
    const ab = this.segAb;
    if (ab === null) return;
    this.out.push(bufferView(ab, this.segBase + this.segStart, this.segEnd - this.segStart));
    this.segAb = null;
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushFn);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    this.observeLatencies();
    this.cutSegment();
    const dv = this.ddView;
    for (let i = 0; i < this.ddN; i++) {
      const t = this.ddTab[i]!;
      if (t !== null && t[this.ddBlock[i]!] === 0) prefetch(dv[i] as Buffer);
    }
    for (let i = 0; i < this.ddN; i++) {
      const x = dv[i]!;
      const b = this.ddBuf[i]!;
      const t = this.ddTab[i]!;
      if (t !== null) putU32(b, this.ddOff[i]!, crc32cBlocks(t, this.ddBlock[i]!, x as Buffer));
      else if (Array.isArray(x)) putU32(b, this.ddOff[i]!, crc32cList(x));
      else crc32cInto(x, b, this.ddOff[i]!);
      // Neither the views of namespace memory, their digests, nor the arena buffer are kept past
      // their send (an idle queue would hold a spent 64 KiB arena buffer).
      dv[i] = null;
      this.ddTab[i] = null;
      this.ddBuf[i] = null;
    }
    this.ddN = 0;
    const out = this.out;
    if (out.length === 0 || this.socket.destroyed) return;
    this.out = [];
    const s = this.socket;
    if (out.length === 1) s.write(out[0]!);
    else {
      s.cork();
      for (let i = 0; i < out.length; i++) s.write(out[i]!);
      s.uncork();
    }
    if (s.writableLength > WRITE_HIGH_WATER) s.pause();
  }

  /** Fatal transport error: C2HTermReq echoing the offending header, then close. */
  private fatal(fes: number, fei: number): false {
    if (this.rx === RX_DEAD) return false;
    const offending = Buffer.from(this.hdr.subarray(0, Math.max(this.hdrHave, CH_SIZE)));
    this.counters.termReqsSent++;
    this.counters.pdusSent[PduType.C2HTermReq]!++;
    this.target.log.warn({ remote: this.remoteAddress, qid: this.qid, fes, fei, pdu: offending.subarray(0, 8).toString('hex') }, 'fatal transport error: sending C2HTermReq');
    this.rx = RX_DEAD;
    this.cutSegment();
    this.out.push(encodeTermReq(PduType.C2HTermReq, fes, fei, offending));
    this.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    return false;
  }
}
