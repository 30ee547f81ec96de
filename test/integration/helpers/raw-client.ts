// A deliberately small NVMe/TCP host for target tests: raw PDUs in, raw PDUs out. It uses the
// encoders of src/protocol for well-formed PDUs and lets a test send any bytes it likes
// (malformed headers, bad digests, H2CData for tags it was never given) and look at every PDU
// the target answers with. Commands are matched to their R2T / C2HData / CapsuleResp by CID, so
// several (an outstanding AER, say) may be in flight at once.
import net from 'node:net';
import { AdminOpcode, PduFlag, PduHlen, PduType, SglId } from '../../../src/protocol/constants.js';
import { crc32c } from '../../../src/protocol/digest.js';
import {
  ccEnableValue,
  encodeConnectData,
  encodeConnectSqe,
  encodePropertyGetSqe,
  encodePropertySetSqe,
} from '../../../src/protocol/fabrics.js';
import { decodeTermReq, encodeICReq, writeCapsuleCmdHeader, writeDataHeader } from '../../../src/protocol/pdu.js';
import { decodeCqe, encodeSqe, SQE_SIZE, SqeOff, type Cqe, type SqeFields } from '../../../src/protocol/sqe.js';

export interface Pdu {
  type: number;
  flags: number;
  hlen: number;
  pdo: number;
  plen: number;
  /** The whole PDU as received. */
  raw: Buffer;
  /** Header (HLEN bytes, without the header digest). */
  header: Buffer;
  /** Data part (between PDO and the data digest), or null. */
  data: Buffer | null;
}

export interface RawClientOptions {
  host?: string;
  hdgst?: boolean;
  ddgst?: boolean;
  hpda?: number;
  /** Do not send ICReq (default false: ICReq is sent and ICResp awaited). */
  noIcReq?: boolean;
}

export interface ExecOptions {
  /** Host-to-controller data; sent in-capsule when `inCapsule`, else on the target's R2T. */
  data?: Buffer;
  inCapsule?: boolean;
  /** Controller-to-host transfer length. */
  readLength?: number;
  /** Leave the SQE's SGL descriptor as given. */
  keepSgl?: boolean;
  /** Flip a bit of the in-capsule / H2C data digest. */
  corruptDataDigest?: boolean;
  /** Force the H2CData chunk size (default: the target's MAXH2CDATA). */
  h2cChunk?: number;
}

export interface ExecResult {
  cqe: Cqe;
  /** C2H data (readLength bytes), zero where nothing arrived. */
  data: Buffer;
  /** R2T PDUs received for this command. */
  r2ts: Pdu[];
  /** C2HData PDUs received for this command. */
  c2h: Pdu[];
  /** H2CData PDUs the client sent. */
  h2cSent: number;
}

interface Pending {
  cid: number;
  opts: ExecOptions;
  r2ts: Pdu[];
  c2h: Pdu[];
  h2cSent: number;
  rbuf: Buffer;
  resolve: (r: ExecResult) => void;
  reject: (e: Error) => void;
}

export const STATUS_SCT = (status: number): number => (status >> 8) & 7;
export const STATUS_SC = (status: number): number => status & 0xff;
export const STATUS_DNR = (status: number): boolean => (status & (1 << 14)) !== 0;

export class RawClient {
  readonly sock: net.Socket;
  readonly hdgst: boolean;
  readonly ddgst: boolean;
  maxh2cdata = 0;
  icresp: Pdu | null = null;
  /** Every PDU received, in order. */
  readonly received: Pdu[] = [];
  /** PDUs not claimed by a command in flight (for raw tests). */
  private readonly loose: Pdu[] = [];
  private readonly looseWaiters: ((p: Pdu | null) => void)[] = [];
  private readonly pending = new Map<number, Pending>();
  private rx: Buffer = Buffer.alloc(0);
  private nextCid = 1;
  private isClosed = false;
  readonly closed: Promise<void>;

  private constructor(sock: net.Socket, o: RawClientOptions) {
    this.sock = sock;
    this.hdgst = !!o.hdgst;
    this.ddgst = !!o.ddgst;
    this.closed = new Promise((resolve) => sock.once('close', () => resolve()));
    sock.on('data', (c: Buffer) => this.onData(c));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.isClosed = true;
      for (const w of this.looseWaiters.splice(0)) w(null);
      for (const p of this.pending.values()) p.reject(new Error(`connection closed with command ${p.cid} outstanding`));
      this.pending.clear();
    });
  }

  static async connect(port: number, o: RawClientOptions = {}): Promise<RawClient> {
    const sock = net.connect({ port, host: o.host ?? '127.0.0.1', noDelay: true });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    const c = new RawClient(sock, o);
    if (!o.noIcReq) {
      c.send(encodeICReq({ pfv: 0, hpda: o.hpda ?? 0, hdgst: c.hdgst, ddgst: c.ddgst, maxr2t: 0 }));
      const ic = await c.next();
      if (!ic || ic.type !== PduType.ICResp) throw new Error(`expected ICResp, got ${ic ? `type ${ic.type}` : 'close'}`);
      c.icresp = ic;
      c.maxh2cdata = ic.raw.readUInt32LE(12);
    }
    return c;
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  send(b: Buffer): void {
    this.sock.write(b);
  }

  close(): Promise<void> {
    this.sock.destroy();
    return this.closed;
  }

  /** Next PDU not claimed by a command (null if the connection closed first). */
  next(timeoutMs = 5000): Promise<Pdu | null> {
    const p = this.loose.shift();
    if (p) return Promise.resolve(p);
    if (this.isClosed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no PDU within ${timeoutMs} ms`)), timeoutMs);
      this.looseWaiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  /** The next PDU must be a C2HTermReq; returns it decoded after the socket has closed. */
  async expectTermReq(): Promise<{ fes: number; fei: number; data: Buffer; pdu: Pdu }> {
    const p = await this.next();
    if (!p) throw new Error('connection closed without a C2HTermReq');
    if (p.type !== PduType.C2HTermReq) throw new Error(`expected C2HTermReq, got PDU type ${p.type}`);
    const t = decodeTermReq(p.raw);
    await this.closed;
    return { fes: t.fes, fei: t.fei, data: Buffer.from(t.data), pdu: p };
  }

  allocCid(): number {
    for (;;) {
      const cid = this.nextCid;
      this.nextCid = this.nextCid >= 0xfffe ? 1 : this.nextCid + 1;
      if (!this.pending.has(cid)) return cid;
    }
  }

  /** Capsule bytes for `sqe` (CID already in it) with `icData` in-capsule. */
  buildCapsule(sqe: Buffer, icData: Buffer | null, o: { corruptDataDigest?: boolean; corruptHeaderDigest?: boolean } = {}): Buffer {
    const icLen = icData ? icData.length : 0;
    const hdr = Buffer.alloc(PduHlen.CapsuleCmd + 4);
    const n = writeCapsuleCmdHeader(hdr, 0, sqe, icLen, this.hdgst, this.ddgst);
    if (o.corruptHeaderDigest && this.hdgst) hdr[PduHlen.CapsuleCmd] ^= 0x01;
    const parts: Buffer[] = [hdr.subarray(0, n)];
    if (icData && icLen) {
      parts.push(icData);
      if (this.ddgst) {
        const d = Buffer.alloc(4);
        d.writeUInt32LE((crc32c(icData) ^ (o.corruptDataDigest ? 1 : 0)) >>> 0, 0);
        parts.push(d);
      }
    }
    return Buffer.concat(parts);
  }

  /** H2CData PDU bytes. */
  buildH2CData(cccid: number, ttag: number, datao: number, data: Buffer, last: boolean, o: { corruptDataDigest?: boolean; datal?: number } = {}): Buffer {
    const hb = Buffer.alloc(PduHlen.H2CData + 4);
    const n = writeDataHeader(hb, 0, PduType.H2CData, last ? PduFlag.LAST_PDU : 0, cccid, ttag, datao, o.datal ?? data.length, data.length, this.hdgst, this.ddgst);
    if (o.datal !== undefined && this.hdgst) hb.writeUInt32LE(crc32c(hb.subarray(0, PduHlen.H2CData)), PduHlen.H2CData);
    const parts: Buffer[] = [hb.subarray(0, n), data];
    if (this.ddgst && data.length) {
      const d = Buffer.alloc(4);
      d.writeUInt32LE((crc32c(data) ^ (o.corruptDataDigest ? 1 : 0)) >>> 0, 0);
      parts.push(d);
    }
    return Buffer.concat(parts);
  }

  /**
   * Run one command: CID assigned here, SGL filled in (unless keepSgl), data sent in-capsule or
   * in H2CData PDUs of at most MAXH2CDATA bytes in answer to R2Ts; resolves with the CQE.
   */
  exec(sqeIn: Buffer | SqeFields, o: ExecOptions = {}): Promise<ExecResult> {
    const sqe = Buffer.isBuffer(sqeIn) ? Buffer.from(sqeIn.subarray(0, SQE_SIZE)) : encodeSqe(sqeIn);
    const cid = this.allocCid();
    sqe.writeUInt16LE(cid, SqeOff.cid);
    const data = o.data;
    const rl = o.readLength ?? 0;
    if (!o.keepSgl) {
      sqe.writeBigUInt64LE(0n, SqeOff.sglAddress);
      sqe.writeUInt32LE(data ? data.length : rl, SqeOff.sglLength);
      sqe.fill(0, SqeOff.sglLength + 4, SqeOff.sglType);
      sqe[SqeOff.sglType] = data && o.inCapsule ? SglId.DataBlockOffset : SglId.TransportDataBlock;
    }
    return new Promise<ExecResult>((resolve, reject) => {
      if (this.isClosed) return reject(new Error('connection closed'));
      this.pending.set(cid, { cid, opts: o, r2ts: [], c2h: [], h2cSent: 0, rbuf: Buffer.alloc(rl), resolve, reject });
      this.send(this.buildCapsule(sqe, data && o.inCapsule ? data : null, { corruptDataDigest: o.corruptDataDigest }));
    });
  }

  /** Submit a command and report whether it completed within `ms` (the CQE, or null). */
  async execWithin(sqe: Buffer | SqeFields, ms: number, o: ExecOptions = {}): Promise<ExecResult | null> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (t = setTimeout(() => resolve(null), ms)));
    const r = await Promise.race([this.exec(sqe, o), timeout]);
    clearTimeout(t);
    return r;
  }

  // ---- fabrics helpers ----

  async connect(o: { subnqn: string; hostnqn: string; qid?: number; sqsize?: number; kato?: number; cntlid?: number; hostid?: Buffer }): Promise<Cqe> {
    const sqe = encodeConnectSqe({ cid: 0, qid: o.qid ?? 0, sqsize: o.sqsize ?? 31, kato: o.kato ?? 0 });
    const data = encodeConnectData({ hostid: o.hostid ?? Buffer.alloc(16, 0x5a), cntlid: o.cntlid ?? 0xffff, subnqn: o.subnqn, hostnqn: o.hostnqn });
    return (await this.exec(sqe, { data, inCapsule: true })).cqe;
  }

  async propertyGet(offset: number, size8: boolean): Promise<Cqe> {
    return (await this.exec(encodePropertyGetSqe(0, offset, size8), { keepSgl: true })).cqe;
  }

  async propertySet(offset: number, value: number, size8 = false): Promise<Cqe> {
    return (await this.exec(encodePropertySetSqe(0, offset, BigInt(value), size8), { keepSgl: true })).cqe;
  }

  /** CC.EN with the values Linux uses (CSS 6: all I/O command sets). */
  async enable(css = 6): Promise<Cqe> {
    return this.propertySet(0x14, ccEnableValue(css));
  }

  async identify(cns: number, nsid = 0, csi = 0): Promise<ExecResult> {
    return this.exec({ opcode: AdminOpcode.Identify, cid: 0, nsid, cdw10: cns, cdw11: csi << 24 }, { readLength: 4096 });
  }

  async getLogPage(lid: number, length: number, o: { offset?: number; nsid?: number; rae?: boolean } = {}): Promise<ExecResult> {
    const numd = length / 4 - 1;
    const off = o.offset ?? 0;
    return this.exec(
      {
        opcode: AdminOpcode.GetLogPage,
        cid: 0,
        nsid: o.nsid ?? 0,
        cdw10: (lid & 0xff) | (o.rae ? 1 << 15 : 0) | ((numd & 0xffff) << 16),
        cdw11: numd >>> 16,
        cdw12: off % 0x100000000,
        cdw13: Math.floor(off / 0x100000000),
      },
      { readLength: length },
    );
  }

  async getFeatures(fid: number, o: { sel?: number; nsid?: number; cdw11?: number } = {}): Promise<Cqe> {
    return (await this.exec({ opcode: AdminOpcode.GetFeatures, cid: 0, nsid: o.nsid ?? 0, cdw10: fid | ((o.sel ?? 0) << 8), cdw11: o.cdw11 ?? 0 })).cqe;
  }

  async setFeatures(fid: number, cdw11: number): Promise<Cqe> {
    return (await this.exec({ opcode: AdminOpcode.SetFeatures, cid: 0, cdw10: fid, cdw11 })).cqe;
  }

  // ---- receive ----

  private onData(chunk: Buffer): void {
    this.rx = this.rx.length ? Buffer.concat([this.rx, chunk]) : chunk;
    while (this.rx.length >= 8) {
      const plen = this.rx.readUInt32LE(4);
      if (plen < 8) {
        this.sock.destroy(new Error(`target sent PLEN ${plen}`));
        return;
      }
      if (this.rx.length < plen) return;
      const raw = Buffer.from(this.rx.subarray(0, plen));
      this.rx = this.rx.subarray(plen);
      this.onPdu(parsePdu(raw));
    }
  }

  private onPdu(p: Pdu): void {
    this.received.push(p);
    let cid = -1;
    if (p.type === PduType.CapsuleResp) cid = p.raw.readUInt16LE(8 + 12);
    else if (p.type === PduType.C2HData || p.type === PduType.R2T) cid = p.raw.readUInt16LE(8);
    const cmd = cid >= 0 ? this.pending.get(cid) : undefined;
    if (!cmd) {
      const w = this.looseWaiters.shift();
      if (w) w(p);
      else this.loose.push(p);
      return;
    }
    if (p.type === PduType.R2T) {
      cmd.r2ts.push(p);
      this.answerR2T(cmd, p);
    } else if (p.type === PduType.C2HData) {
      cmd.c2h.push(p);
      const datao = p.raw.readUInt32LE(12);
      if (p.data) p.data.copy(cmd.rbuf, datao);
    } else {
      this.pending.delete(cid);
      cmd.resolve({ cqe: decodeCqe(p.raw, 8), data: cmd.rbuf, r2ts: cmd.r2ts, c2h: cmd.c2h, h2cSent: cmd.h2cSent });
    }
  }

  private answerR2T(cmd: Pending, r2t: Pdu): void {
    const data = cmd.opts.data ?? Buffer.alloc(0);
    const ttag = r2t.raw.readUInt16LE(10);
    const r2to = r2t.raw.readUInt32LE(12);
    const r2tl = r2t.raw.readUInt32LE(16);
    const chunk = cmd.opts.h2cChunk ?? this.maxh2cdata;
    const out: Buffer[] = [];
    for (let o = r2to; o < r2to + r2tl; o += chunk) {
      const len = Math.min(chunk, r2to + r2tl - o);
      out.push(this.buildH2CData(cmd.cid, ttag, o, data.subarray(o, o + len), o + len === r2to + r2tl, { corruptDataDigest: cmd.opts.corruptDataDigest }));
      cmd.h2cSent++;
    }
    this.send(Buffer.concat(out));
  }
}

export function parsePdu(raw: Buffer): Pdu {
  const type = raw[0]!;
  const flags = raw[1]!;
  const hlen = raw[2]!;
  const pdo = raw[3]!;
  const plen = raw.readUInt32LE(4);
  let data: Buffer | null = null;
  if (type === PduType.C2HTermReq) data = raw.subarray(hlen, plen);
  else if (pdo > 0 && pdo < plen) data = raw.subarray(pdo, plen - (flags & PduFlag.DDGSTF ? 4 : 0));
  return { type, flags, hlen, pdo, plen, raw, header: raw.subarray(0, hlen), data };
}
