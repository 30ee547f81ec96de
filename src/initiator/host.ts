// NVMe-oF host over TCP: admin queue + N I/O queues to one controller. Performs the Linux-like
// bring-up (Connect, CAP, CC.EN, CSTS.RDY, Identify, Number of Queues, I/O queue Connects),
// keeps the association alive, and offers raw and high-level admin/NVM commands.
import { randomBytes, randomInt } from 'node:crypto';
import {
  AuthFailure,
  AuthMsg,
  augmentChallenge,
  CONNECT_AUTHREQ_ATR,
  decodeAuthMessage,
  DH_GROUPS,
  DHCHAP_AUTH_ID,
  DhchapDh,
  dhchapResponse,
  dhGroupInfo,
  encodeAuthReceiveSqe,
  encodeAuthSendSqe,
  encodeFailure,
  encodeNegotiate,
  encodeReply,
  encodeSuccess2,
  HASHES,
  hashInfo,
  parseDhchapKey,
  responsesEqual,
  transformKey,
  type AuthMessage,
  type DhchapKey,
} from '../protocol/auth.js';
import { DISCOVERY_NQN, FeatureId, IdentifyCns, NvmOpcode, Property } from '../protocol/constants.js';
import { ccEnableValue, Csts, encodeConnectData, encodeConnectSqe, encodePropertyGetSqe, encodePropertySetSqe, type CapFields } from '../protocol/fabrics.js';
import {
  decodeCap,
  decodeIdentifyControllerInfo,
  decodeIdentifyNamespaceLba,
  decodeNsList,
  decodeNumberOfQueues,
  DsmAttr,
  encodeDisconnectSqe,
  encodeDsmRanges,
  encodeDsmSqe,
  encodeFlushSqe,
  encodeGetFeaturesSqe,
  encodeGetLogPageSqe,
  encodeIdentifySqe,
  encodeKeepAliveSqe,
  encodeNumberOfQueues,
  encodeRwSqe,
  encodeSetFeaturesSqe,
  RwFlag,
  type DsmRange,
  type IdentifyControllerInfo,
  type NamespaceLbaInfo,
} from '../protocol/host-codecs.js';
import { decodeIterRead, decodeKvList, encodeKvBatch, KV_MAX_KEY_LENGTH, KvOpcode, KvOption, kvSqeFields, KvVendorOpcode, type KvCommandSet } from '../protocol/kv.js';
import { encodeSqe, SQE_SIZE, type Cqe, type SqeFields } from '../protocol/sqe.js';
import { Status, statusName } from '../protocol/status.js';
import { decodeZoneReport, encodeZoneMgmtRecvCdws, encodeZoneMgmtSendCdws, type ZoneDescriptor } from '../protocol/zns.js';
import { HostQueue, type SubmitOptions, type SubmitResult } from './host-queue.js';

export interface NvmeHostOptions {
  host: string;
  port: number;
  subnqn: string;
  /** Default: nqn.2014-08.org.nvmexpress:uuid:<random uuid>. */
  hostnqn?: string;
  /** 16 bytes or a UUID string. Default: the UUID in hostnqn if it has one, else random. */
  hostid?: Buffer | string;
  /** Keep-alive timeout in ms sent in Connect (default 5000; 0 for discovery). */
  kato?: number;
  /** I/O queues to create (default 1; always 0 for discovery). */
  ioQueues?: number;
  /** I/O queue entries (default min(128, CAP.MQES + 1)); Connect carries SQSIZE = queueSize - 1. */
  queueSize?: number;
  hdgst?: boolean;
  ddgst?: boolean;
  connectTimeoutMs?: number;
  /**
   * Set CC.EN, wait for CSTS.RDY, then Identify Controller (default true, discovery controllers
   * included, as Linux does; the target rejects Get Log Page on a disabled controller).
   */
  enableController?: boolean;
  /**
   * DH-HMAC-CHAP host secret (`DHHC-1:..`). Used on every queue whose Connect response asks for
   * authentication (AUTHREQ.ATR); without it such a connect fails with NvmeAuthError.
   */
  dhchapKey?: string;
  /** Controller secret: the host also authenticates the controller (bidirectional). */
  dhchapCtrlKey?: string;
  /** Hashes offered, preferred first (default: hmac(sha256), hmac(sha384), hmac(sha512)). */
  dhchapHashes?: string[];
  /** DH groups offered, preferred first (default: null, ffdhe2048 .. ffdhe8192). */
  dhchapDhgroups?: string[];
}

/** DH-HMAC-CHAP failed (either side refused, or the target wants it and we have no key). */
export class NvmeAuthError extends Error {
  override readonly name = 'NvmeAuthError';
  constructor(
    readonly qid: number,
    message: string,
    /** AUTH_Failure reason code explanation, when one was sent or received. */
    readonly explanation?: number,
  ) {
    super(`qid ${qid}: DH-HMAC-CHAP authentication failed: ${message}`);
  }
}

const FAILURE_NAMES: Record<number, string> = {
  [AuthFailure.Failed]: 'authentication failed',
  [AuthFailure.NotUsable]: 'authentication protocol not usable',
  [AuthFailure.ConcatMismatch]: 'secure channel concatenation mismatch',
  [AuthFailure.HashUnusable]: 'hash function not usable',
  [AuthFailure.DhgroupUnusable]: 'DH group not usable',
  [AuthFailure.IncorrectPayload]: 'incorrect payload',
  [AuthFailure.IncorrectMessage]: 'incorrect protocol message',
};

interface HostAuthSettings {
  key: DhchapKey | null;
  ctrlKey: DhchapKey | null;
  hashes: number[];
  dhgroups: number[];
}

function hostAuthSettings(o: NvmeHostOptions): HostAuthSettings {
  const parse = (s: string | undefined, what: string): DhchapKey | null => {
    if (s === undefined) return null;
    try {
      return parseDhchapKey(s);
    } catch (e) {
      throw new RangeError(`${what}: ${(e as Error).message}`);
    }
  };
  const ids = (names: string[] | undefined, table: readonly { id: number; name: string }[], what: string): number[] => {
    if (names === undefined) return table.map((x) => x.id);
    return names.map((n) => {
      const x = table.find((t) => t.name === n);
      if (!x) throw new RangeError(`${what}: unknown "${n}" (one of ${table.map((t) => t.name).join(', ')})`);
      return x.id;
    });
  };
  const key = parse(o.dhchapKey, 'dhchapKey');
  const ctrlKey = parse(o.dhchapCtrlKey, 'dhchapCtrlKey');
  if (ctrlKey && !key) throw new RangeError('dhchapCtrlKey needs dhchapKey');
  return { key, ctrlKey, hashes: ids(o.dhchapHashes, HASHES, 'dhchapHashes'), dhgroups: ids(o.dhchapDhgroups, DH_GROUPS, 'dhchapDhgroups') };
}

/** AUTH_Receive allocation length: enough for an ffdhe8192 challenge (Linux uses 4 KiB too). */
const AUTH_BUF = 4096;
let lastSeqnum = 0;
const nextSeqnum = (): number => (lastSeqnum = lastSeqnum === 0 ? randomInt(1, 0x100000000) : (lastSeqnum + 1) >>> 0 || 1);

/** A command completed with a non-zero status. */
export class NvmeStatusError extends Error {
  override readonly name = 'NvmeStatusError';
  /** 15-bit status (status.ts form: SC 7:0, SCT 10:8, MORE 13, DNR 14). */
  readonly status: number;
  readonly statusName: string;
  constructor(
    readonly command: string,
    readonly cqe: Cqe,
  ) {
    const name = statusName(cqe.status);
    super(`${command} failed: ${name} (status 0x${cqe.status.toString(16)})`);
    this.status = cqe.status;
    this.statusName = name;
  }
}

/** SQE given as a 64-byte buffer or as fields (the CID is assigned by the queue). */
export type SqeInput = Buffer | (Omit<SqeFields, 'cid'> & { cid?: number });

export interface QidOption {
  /** I/O queue 1..N; round-robin when omitted. */
  qid?: number;
}

export interface KvOptions extends QidOption {
  /** Command layout of the namespace (see src/protocol/kv.ts); default 'nvmevirt'. */
  commandSet?: KvCommandSet;
  /** Vendor layout with `vendor_key_length: "zero-based"`: send length - 1 in CDW11[7:0]. */
  zeroBasedKeyLength?: boolean;
}

export interface FeatureResult {
  dw0: number;
  dw1: number;
  data?: Buffer;
}

const toSqe = (s: SqeInput): Buffer => (Buffer.isBuffer(s) ? s : encodeSqe({ ...s, cid: s.cid ?? 0 }));

function parseHostId(v: Buffer | string): Buffer {
  if (Buffer.isBuffer(v)) {
    if (v.length !== 16) throw new RangeError(`hostid must be 16 bytes, got ${v.length}`);
    return Buffer.from(v);
  }
  const hex = v.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`hostid must be a UUID, got "${v}"`);
  return Buffer.from(hex, 'hex');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class NvmeHost {
  /** Controller ID assigned by the target in the admin Connect. */
  cntlid = 0;
  cap: CapFields | null = null;
  capRaw = 0n;
  /** CC.CSS in use (6 when CAP reports I/O command set support, else 0). */
  css = 0;
  /** Identify Controller data (null when enableController is false). */
  identifyData: Buffer | null = null;
  controllerInfo: IdentifyControllerInfo | null = null;
  /** Most recent keep-alive failure, if any. */
  keepAliveError: Error | null = null;
  readonly ioQueues: HostQueue[] = [];
  readonly hostnqn: string;
  readonly hostid: Buffer;
  readonly kato: number;
  readonly isDiscovery: boolean;

  private readonly sqe = Buffer.alloc(SQE_SIZE);
  private rr = 0;
  private enabled = false;
  private kaTimer: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly auth: HostAuthSettings;
  private nextTid = randomInt(0, 0x10000);
  private readonly nsCache = new Map<number, NamespaceLbaInfo>();
  private readonly nsLoading = new Map<number, Promise<NamespaceLbaInfo>>();

  private constructor(
    readonly opts: NvmeHostOptions,
    readonly admin: HostQueue,
    ids: { hostnqn: string; hostid: Buffer; kato: number },
  ) {
    this.hostnqn = ids.hostnqn;
    this.hostid = ids.hostid;
    this.kato = ids.kato;
    this.isDiscovery = opts.subnqn === DISCOVERY_NQN;
    this.auth = hostAuthSettings(opts);
  }

  static async connect(opts: NvmeHostOptions): Promise<NvmeHost> {
    const discovery = opts.subnqn === DISCOVERY_NQN;
    let hostnqn = opts.hostnqn;
    let hostid: Buffer;
    if (opts.hostid !== undefined) hostid = parseHostId(opts.hostid);
    else {
      const m = hostnqn ? /:uuid:([0-9a-fA-F-]{36})$/.exec(hostnqn) : null;
      hostid = m ? parseHostId(m[1]!) : randomBytes(16);
    }
    hostnqn ??= `nqn.2014-08.org.nvmexpress:uuid:${formatUuid(hostid)}`;
    const kato = opts.kato ?? (discovery ? 0 : 5000);
    hostAuthSettings(opts); // bad keys fail here, before any connection
    const admin = await HostQueue.connect({
      host: opts.host,
      port: opts.port,
      hdgst: opts.hdgst,
      ddgst: opts.ddgst,
      qid: 0,
      sqsize: 31,
      connectTimeoutMs: opts.connectTimeoutMs,
    });
    const host = new NvmeHost(opts, admin, { hostnqn, hostid, kato });
    try {
      await host.init();
    } catch (e) {
      await host.close();
      throw e;
    }
    return host;
  }

  private async init(): Promise<void> {
    const o = this.opts;
    this.cntlid = await this.fabricsConnect(this.admin, 0, 31, this.kato, 0xffff);
    if (o.enableController ?? true) {
      this.capRaw = await this.propertyGet(Property.CAP, true);
      this.cap = decodeCap(this.capRaw);
      this.css = this.cap.cssIoSets ? 6 : 0;
      await this.propertySet(Property.CC, BigInt(ccEnableValue(this.css)), false);
      await this.waitCsts(Csts.RDY, Csts.RDY, 'CSTS.RDY');
      this.enabled = true;
      this.identifyData = await this.identify(IdentifyCns.Controller);
      this.controllerInfo = decodeIdentifyControllerInfo(this.identifyData);
      const want = this.isDiscovery ? 0 : (o.ioQueues ?? 1);
      if (want > 0) {
        const r = await this.setFeatures(FeatureId.NumberOfQueues, encodeNumberOfQueues(want, want));
        const granted = decodeNumberOfQueues(r.dw0);
        const n = Math.min(want, granted.nsq, granted.ncq);
        const queueSize = o.queueSize ?? Math.min(128, this.cap.mqes + 1);
        const inCap = Math.max(0, this.controllerInfo.ioccsz * 16 - SQE_SIZE);
        const qs = await Promise.allSettled(
          Array.from({ length: n }, (_, i) => this.connectIoQueue(i + 1, queueSize - 1, inCap)),
        );
        for (const r2 of qs) if (r2.status === 'fulfilled') this.ioQueues.push(r2.value);
        const bad = qs.find((r2) => r2.status === 'rejected');
        if (bad) throw (bad as PromiseRejectedResult).reason;
      }
    }
    if (this.kato > 0) {
      this.kaTimer = setInterval(() => this.keepAliveTick(), Math.max(1, Math.floor(this.kato / 2)));
      this.kaTimer.unref();
    }
  }

  private async connectIoQueue(qid: number, sqsize: number, inCapsuleLimit: number): Promise<HostQueue> {
    const q = await HostQueue.connect({
      host: this.opts.host,
      port: this.opts.port,
      hdgst: this.opts.hdgst,
      ddgst: this.opts.ddgst,
      qid,
      sqsize,
      inCapsuleLimit,
      connectTimeoutMs: this.opts.connectTimeoutMs,
    });
    try {
      await this.fabricsConnect(q, qid, sqsize, 0, this.cntlid);
    } catch (e) {
      await q.close();
      throw e;
    }
    return q;
  }

  /** Fabrics Connect on `q`; returns the controller ID from the result. */
  private async fabricsConnect(q: HostQueue, qid: number, sqsize: number, kato: number, cntlid: number): Promise<number> {
    const sqe = encodeConnectSqe({ cid: 0, qid, sqsize, kato });
    const data = encodeConnectData({ hostid: this.hostid, cntlid, subnqn: this.opts.subnqn, hostnqn: this.hostnqn });
    const r = await q.submit(sqe, { data, inCapsule: true });
    if (r.cqe.status !== 0) throw new NvmeStatusError(`Connect (qid ${qid})`, r.cqe);
    if (r.cqe.dw0 & CONNECT_AUTHREQ_ATR) await this.authenticate(q, qid);
    // Asking to authenticate the controller means not trusting one that does not authenticate
    // (discovery controllers never authenticate, as with nvmet).
    else if (this.auth.ctrlKey && !this.isDiscovery) throw new NvmeAuthError(qid, 'dhchapCtrlKey is set but the target did not ask for authentication, so the controller cannot be authenticated');
    return r.cqe.dw0 & 0xffff;
  }

  /**
   * One DH-HMAC-CHAP transaction on `q`: negotiate, challenge, reply, success1 (and success2 when
   * authenticating the controller too). On a problem we find, AUTH_Failure2 tells the target why.
   */
  private async authenticate(q: HostQueue, qid: number): Promise<void> {
    const a = this.auth;
    if (!a.key) throw new NvmeAuthError(qid, 'the target requires authentication (Connect AUTHREQ.ATR) but no dhchapKey was given');
    const tid = this.nextTid;
    this.nextTid = (this.nextTid + 1) & 0xffff;
    const subsysnqn = this.opts.subnqn;
    const fail2 = async (explanation: number, why: string): Promise<never> => {
      await this.authSend(q, qid, encodeFailure(AuthMsg.Failure2, tid, explanation)).catch(() => {});
      throw new NvmeAuthError(qid, why, explanation);
    };
    await this.authSend(q, qid, encodeNegotiate(tid, [{ authid: DHCHAP_AUTH_ID, hashes: a.hashes, dhgroups: a.dhgroups }]));
    const ch = await this.authReceive(q, qid, tid, 'challenge', fail2);
    const h = hashInfo(ch.hashId);
    if (!h || !a.hashes.includes(ch.hashId)) return fail2(AuthFailure.HashUnusable, `the controller chose hash ${ch.hashId}, which was not offered`);
    if (ch.cval.length !== h.len) return fail2(AuthFailure.IncorrectPayload, `challenge HL ${ch.cval.length}, ${h.name} needs ${h.len}`);
    const g = dhGroupInfo(ch.dhgid);
    if (!g || !a.dhgroups.includes(ch.dhgid)) return fail2(AuthFailure.DhgroupUnusable, `the controller chose DH group ${ch.dhgid}, which was not offered`);
    let dh: DhchapDh | null = null;
    let sessionKey: Buffer | null = null;
    let c1 = ch.cval;
    if (g.bytes > 0) {
      dh = new DhchapDh(g.id);
      try {
        sessionKey = dh.sessionKey(ch.dhv);
      } catch (e) {
        return fail2(AuthFailure.IncorrectPayload, `controller DH value: ${(e as Error).message}`);
      }
      c1 = augmentChallenge(h.id, sessionKey, ch.cval);
    } else if (ch.dhv.length !== 0) {
      return fail2(AuthFailure.IncorrectPayload, 'DH value in a null-group challenge');
    }
    const rval = dhchapResponse('host', { hashId: h.id, key: transformKey(a.key, this.hostnqn), challenge: c1, seqnum: ch.seqnum, tid, hostnqn: this.hostnqn, subsysnqn });
    const bidi = a.ctrlKey !== null;
    const c2 = bidi ? randomBytes(h.len) : undefined;
    const s2 = bidi ? nextSeqnum() : 0;
    await this.authSend(q, qid, encodeReply({ tid, rval, cvalid: bidi, seqnum: s2, ...(c2 ? { c2 } : {}), ...(dh ? { dhv: dh.publicValue } : {}) }));
    const s1 = await this.authReceive(q, qid, tid, 'success1', fail2);
    if (s1.hl !== h.len) return fail2(AuthFailure.HashUnusable, `success1 HL ${s1.hl}, ${h.name} needs ${h.len}`);
    if (!bidi) return;
    if (!s1.rvalid) return fail2(AuthFailure.Failed, 'the controller did not send its response (RVALID 0)');
    const expected = dhchapResponse('controller', {
      hashId: h.id,
      key: transformKey(a.ctrlKey!, subsysnqn),
      challenge: sessionKey ? augmentChallenge(h.id, sessionKey, c2!) : c2!,
      seqnum: s2,
      tid,
      hostnqn: this.hostnqn,
      subsysnqn,
    });
    if (!responsesEqual(expected, s1.rval)) return fail2(AuthFailure.Failed, 'controller response mismatch (wrong dhchapCtrlKey, or not the controller we think)');
    await this.authSend(q, qid, encodeSuccess2(tid));
  }

  private async authSend(q: HostQueue, qid: number, msg: Buffer): Promise<void> {
    const r = await q.submit(encodeAuthSendSqe(0, msg.length), { data: msg, inCapsule: true });
    if (r.cqe.status !== 0) throw new NvmeStatusError(`AUTH_Send (qid ${qid})`, r.cqe);
  }

  /** AUTH_Receive the `want` message; AUTH_Failure1 from the controller becomes NvmeAuthError. */
  private async authReceive<K extends 'challenge' | 'success1'>(
    q: HostQueue,
    qid: number,
    tid: number,
    want: K,
    fail2: (explanation: number, why: string) => Promise<never>,
  ): Promise<Extract<AuthMessage, { kind: K }>> {
    const r = await q.submit(encodeAuthReceiveSqe(0, AUTH_BUF), { readLength: AUTH_BUF });
    if (r.cqe.status !== 0) throw new NvmeStatusError(`AUTH_Receive (qid ${qid})`, r.cqe);
    let m: AuthMessage;
    try {
      m = decodeAuthMessage(r.data!);
    } catch (e) {
      return fail2(AuthFailure.IncorrectPayload, `bad message from the controller: ${(e as Error).message}`);
    }
    if (m.kind === 'failure1') throw new NvmeAuthError(qid, `the controller refused: ${FAILURE_NAMES[m.explanation] ?? `explanation 0x${m.explanation.toString(16)}`}`, m.explanation);
    if (m.kind !== want) return fail2(AuthFailure.IncorrectMessage, `expected ${want}, got ${m.kind}`);
    if (m.tid !== tid) return fail2(AuthFailure.IncorrectMessage, `transaction id ${m.tid}, expected ${tid}`);
    return m as Extract<AuthMessage, { kind: K }>;
  }

  // ---- properties ----

  async propertyGet(offset: number, size8: boolean): Promise<bigint> {
    const r = await this.admin.submit(encodePropertyGetSqe(0, offset, size8));
    check(r, `Property Get 0x${offset.toString(16)}`);
    return size8 ? BigInt(r.cqe.dw0 >>> 0) | (BigInt(r.cqe.dw1 >>> 0) << 32n) : BigInt(r.cqe.dw0 >>> 0);
  }

  async propertySet(offset: number, value: bigint, size8: boolean): Promise<void> {
    const r = await this.admin.submit(encodePropertySetSqe(0, offset, value, size8));
    check(r, `Property Set 0x${offset.toString(16)}`);
  }

  /** Poll CSTS until (CSTS & mask) === want, within CAP.TO (at least 500 ms). */
  private async waitCsts(mask: number, want: number, what: string, capMs?: number): Promise<void> {
    const limit = Math.max(500, (this.cap?.timeout500ms ?? 0) * 500);
    const deadline = Date.now() + (capMs !== undefined ? Math.min(capMs, limit) : limit);
    let delay = 1;
    for (;;) {
      const csts = Number(await this.propertyGet(Property.CSTS, false));
      if (csts & Csts.CFS) throw new Error(`controller fatal status (CSTS=0x${csts.toString(16)}) while waiting for ${what}`);
      if ((csts & mask) === want) return;
      if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what} (CSTS=0x${csts.toString(16)})`);
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }

  // ---- raw commands ----

  /** Submit any admin command; the CQE status is returned, not thrown. */
  adminCommand(sqe: SqeInput, opts?: SubmitOptions): Promise<SubmitResult> {
    return this.admin.submit(toSqe(sqe), opts);
  }

  /** Submit any command on I/O queue `qid` (1..N); the CQE status is returned, not thrown. */
  ioCommand(qid: number, sqe: SqeInput, opts?: SubmitOptions): Promise<SubmitResult> {
    return this.ioQueue(qid).submit(toSqe(sqe), opts);
  }

  /** I/O queue by qid, or the next one round-robin. */
  ioQueue(qid?: number): HostQueue {
    const n = this.ioQueues.length;
    if (n === 0) throw new Error('no I/O queues connected');
    if (qid === undefined) {
      const q = this.ioQueues[this.rr]!;
      this.rr = this.rr + 1 === n ? 0 : this.rr + 1;
      return q;
    }
    const q = this.ioQueues[qid - 1];
    if (!q) throw new RangeError(`no I/O queue ${qid} (have 1..${n})`);
    return q;
  }

  // ---- admin helpers ----

  async identify(cns: number, o: { nsid?: number; csi?: number; cntid?: number } = {}): Promise<Buffer> {
    const r = await this.admin.submit(encodeIdentifySqe(this.sqe, cns, o), { readLength: 4096 });
    check(r, `Identify CNS 0x${cns.toString(16)}`);
    return r.data!;
  }

  async getLogPage(
    lid: number,
    length: number,
    o: { offset?: number | bigint; nsid?: number; lsp?: number; rae?: boolean; lsi?: number; csi?: number } = {},
  ): Promise<Buffer> {
    const r = await this.admin.submit(encodeGetLogPageSqe(this.sqe, lid, length, o), { readLength: length });
    check(r, `Get Log Page 0x${lid.toString(16)}`);
    return r.data!;
  }

  async getFeatures(fid: number, o: { nsid?: number; sel?: number; cdw11?: number; dataLength?: number } = {}): Promise<FeatureResult> {
    const r = await this.admin.submit(encodeGetFeaturesSqe(this.sqe, fid, o), o.dataLength ? { readLength: o.dataLength } : undefined);
    check(r, `Get Features 0x${fid.toString(16)}`);
    return r.data ? { dw0: r.cqe.dw0, dw1: r.cqe.dw1, data: r.data } : { dw0: r.cqe.dw0, dw1: r.cqe.dw1 };
  }

  async setFeatures(
    fid: number,
    cdw11: number,
    o: { nsid?: number; save?: boolean; data?: Buffer; cdw12?: number; cdw13?: number; cdw14?: number; cdw15?: number } = {},
  ): Promise<FeatureResult> {
    const r = await this.admin.submit(encodeSetFeaturesSqe(this.sqe, fid, cdw11, o), o.data ? { data: o.data } : undefined);
    check(r, `Set Features 0x${fid.toString(16)}`);
    return { dw0: r.cqe.dw0, dw1: r.cqe.dw1 };
  }

  /** Send one Keep Alive now. */
  async keepAlive(): Promise<void> {
    const r = await this.admin.submit(encodeKeepAliveSqe(this.sqe));
    check(r, 'Keep Alive');
  }

  private keepAliveTick(): void {
    if (this.closing || this.admin.closed) {
      this.stopKeepAlive();
      return;
    }
    this.keepAlive().then(
      () => {
        this.keepAliveError = null;
      },
      (e: Error) => {
        this.keepAliveError = e;
      },
    );
  }

  private stopKeepAlive(): void {
    if (this.kaTimer) clearInterval(this.kaTimer);
    this.kaTimer = null;
  }

  /** Active namespace IDs (Identify CNS 02h). */
  async activeNamespaces(): Promise<number[]> {
    return decodeNsList(await this.identify(IdentifyCns.ActiveNsList, { nsid: 0 }));
  }

  /** Size and LBA format of a namespace (Identify Namespace, cached per NSID). */
  async namespaceInfo(nsid: number, o: { refresh?: boolean } = {}): Promise<NamespaceLbaInfo> {
    if (!o.refresh) {
      const c = this.nsCache.get(nsid);
      if (c) return c;
      const l = this.nsLoading.get(nsid);
      if (l) return l;
    }
    const p = this.identify(IdentifyCns.Namespace, { nsid }).then((b) => {
      const info = decodeIdentifyNamespaceLba(b);
      if (info.lbaSize === 0) throw new Error(`namespace ${nsid}: Identify Namespace reports no usable LBA format (LBADS ${info.lbads})`);
      this.nsCache.set(nsid, info);
      return info;
    });
    this.nsLoading.set(nsid, p);
    try {
      return await p;
    } finally {
      if (this.nsLoading.get(nsid) === p) this.nsLoading.delete(nsid);
    }
  }

  private async lbaSize(nsid: number): Promise<number> {
    return (this.nsCache.get(nsid) ?? (await this.namespaceInfo(nsid))).lbaSize;
  }

  // ---- NVM commands ----

  /** Read `nlb` logical blocks starting at `slba`. */
  async read(nsid: number, slba: bigint | number, nlb: number, o: QidOption & { fua?: boolean } = {}): Promise<Buffer> {
    const lbaSize = await this.lbaSize(nsid);
    const q = this.ioQueue(o.qid);
    const r = await q.submit(encodeRwSqe(this.sqe, NvmOpcode.Read, nsid, slba, nlb, o.fua ? RwFlag.FUA : 0), { readLength: nlb * lbaSize });
    check(r, 'Read');
    return r.data!;
  }

  /** Write `data` (a whole number of logical blocks) at `slba`. */
  async write(nsid: number, slba: bigint | number, data: Buffer, o: QidOption & { fua?: boolean } = {}): Promise<void> {
    const nlb = await this.blocksOf(nsid, data, 'write');
    const q = this.ioQueue(o.qid);
    const r = await q.submit(encodeRwSqe(this.sqe, NvmOpcode.Write, nsid, slba, nlb, o.fua ? RwFlag.FUA : 0), { data });
    check(r, 'Write');
  }

  async flush(nsid: number, o: QidOption = {}): Promise<void> {
    const r = await this.ioQueue(o.qid).submit(encodeFlushSqe(this.sqe, nsid));
    check(r, 'Flush');
  }

  async writeZeroes(nsid: number, slba: bigint | number, nlb: number, o: QidOption & { deallocate?: boolean; fua?: boolean } = {}): Promise<void> {
    const flags = (o.deallocate ? RwFlag.DEAC : 0) | (o.fua ? RwFlag.FUA : 0);
    const r = await this.ioQueue(o.qid).submit(encodeRwSqe(this.sqe, NvmOpcode.WriteZeroes, nsid, slba, nlb, flags));
    check(r, 'Write Zeroes');
  }

  /** Dataset Management with the Deallocate attribute. */
  async deallocate(nsid: number, ranges: readonly DsmRange[], o: QidOption = {}): Promise<void> {
    const data = encodeDsmRanges(ranges);
    const r = await this.ioQueue(o.qid).submit(encodeDsmSqe(this.sqe, nsid, ranges.length, DsmAttr.AD), { data });
    check(r, 'Dataset Management');
  }

  /** Compare: true when the media matches `data`, false on Compare Failure; other statuses throw. */
  async compare(nsid: number, slba: bigint | number, data: Buffer, o: QidOption = {}): Promise<boolean> {
    const nlb = await this.blocksOf(nsid, data, 'compare');
    const r = await this.ioQueue(o.qid).submit(encodeRwSqe(this.sqe, NvmOpcode.Compare, nsid, slba, nlb), { data });
    if ((r.cqe.status & 0x7ff) === (Status.CompareFailure & 0x7ff)) return false;
    check(r, 'Compare');
    return true;
  }

  async verify(nsid: number, slba: bigint | number, nlb: number, o: QidOption = {}): Promise<void> {
    const r = await this.ioQueue(o.qid).submit(encodeRwSqe(this.sqe, NvmOpcode.Verify, nsid, slba, nlb));
    check(r, 'Verify');
  }

  // ---- Zoned Namespace Command Set ----

  /** Zone Append `data` to the zone starting at `zslba`; resolves with the LBA the controller assigned. */
  async zoneAppend(nsid: number, zslba: bigint | number, data: Buffer, o: QidOption & { fua?: boolean } = {}): Promise<number> {
    const nlb = await this.blocksOf(nsid, data, 'zone append');
    const r = await this.ioQueue(o.qid).submit(encodeRwSqe(this.sqe, NvmOpcode.ZoneAppend, nsid, zslba, nlb, o.fua ? RwFlag.FUA : 0), { data });
    check(r, 'Zone Append');
    return r.cqe.dw0 + r.cqe.dw1 * 0x100000000;
  }

  /** Zone Management Send (open 3, close 1, finish 2, reset 4, offline 5; ZoneSendAction), one zone or all. */
  async zoneManagementSend(nsid: number, zslba: number, action: number, o: QidOption & { selectAll?: boolean; data?: Buffer } = {}): Promise<void> {
    const c = encodeZoneMgmtSendCdws({ slba: zslba, action, selectAll: o.selectAll ?? false });
    const r = await this.ioQueue(o.qid).submit(toSqe({ opcode: NvmOpcode.ZoneMgmtSend, nsid, ...c }), o.data ? { data: o.data } : undefined);
    check(r, `Zone Management Send 0x${action.toString(16)}`);
  }

  /**
   * Report zones from `slba` (Zone Management Receive) into a `bytes`-byte buffer: NZ and the
   * descriptors returned. `filter` is ZRASF (ZoneReportFilter), `extended` asks for descriptor
   * extensions of `extensionBytes` each.
   */
  async reportZones(
    nsid: number,
    slba: number,
    o: QidOption & { bytes?: number; filter?: number; partial?: boolean; extended?: boolean; extensionBytes?: number } = {},
  ): Promise<{ nrZones: number; zones: (ZoneDescriptor & { extension?: Buffer })[] }> {
    const bytes = o.bytes ?? 4096;
    const c = encodeZoneMgmtRecvCdws({ slba, bytes, action: o.extended ? 1 : 0, filter: o.filter ?? 0, partial: o.partial ?? false });
    const r = await this.ioQueue(o.qid).submit(toSqe({ opcode: NvmOpcode.ZoneMgmtReceive, nsid, ...c }), { readLength: bytes });
    check(r, 'Zone Management Receive');
    return decodeZoneReport(r.data!, o.extended ? (o.extensionBytes ?? 0) : 0);
  }

  private async blocksOf(nsid: number, data: Buffer, what: string): Promise<number> {
    const lbaSize = await this.lbaSize(nsid);
    if (data.length === 0 || data.length % lbaSize !== 0) throw new RangeError(`${what}: ${data.length} bytes is not a whole number of ${lbaSize}-byte blocks`);
    return data.length / lbaSize;
  }

  // ---- key-value commands (kv namespaces; `commandSet` default 'nvmevirt') ----

  /**
   * Store `value` under `key` (1..16 bytes). Options: mustExist / mustNotExist (vendor layout:
   * mustNotExist = the idempotent store option), append (vendor: the Append opcode 83h).
   */
  async kvStore(nsid: number, key: Buffer, value: Buffer, o: KvOptions & { mustExist?: boolean; mustNotExist?: boolean; append?: boolean } = {}): Promise<void> {
    const set = o.commandSet ?? 'nvmevirt';
    let opcode: number;
    let options = (o.mustNotExist ? KvOption.MustNotExist : 0) | (o.mustExist ? KvOption.MustExist : 0);
    if (set === 'nvmevirt') {
      if (o.mustExist) throw new RangeError('the nvmevirt command set has no must-exist store option');
      opcode = o.append ? KvVendorOpcode.Append : KvVendorOpcode.Store;
    } else {
      opcode = KvOpcode.Store;
      if (o.append) options |= KvOption.Append;
    }
    const zb = set === 'nvmevirt' && o.zeroBasedKeyLength === true;
    const sqe = encodeSqe({ ...kvSqeFields(set, { opcode, nsid, key, cdw10: value.length, options, zeroBasedKeyLength: zb }), cid: 0 });
    const r = await this.ioQueue(o.qid).submit(sqe, value.length > 0 ? { data: value } : undefined);
    check(r, 'KV Store');
  }

  /**
   * Retrieve the value of `key`: `bufferSize` bytes at most (default: 64 KiB, and again with the
   * full size if the value is larger). `size` is the full value size the device reports.
   */
  async kvRetrieve(nsid: number, key: Buffer, o: KvOptions & { bufferSize?: number } = {}): Promise<{ value: Buffer; size: number }> {
    const set = o.commandSet ?? 'nvmevirt';
    const opcode = set === 'nvmevirt' ? KvVendorOpcode.Retrieve : KvOpcode.Retrieve;
    const get = async (len: number): Promise<{ value: Buffer; size: number }> => {
      const sqe = encodeSqe({ ...kvSqeFields(set, { opcode, nsid, key, cdw10: len, zeroBasedKeyLength: set === 'nvmevirt' && o.zeroBasedKeyLength === true }), cid: 0 });
      const r = await this.ioQueue(o.qid).submit(sqe, len > 0 ? { readLength: len } : undefined);
      check(r, 'KV Retrieve');
      const size = r.cqe.dw0 >>> 0;
      return { value: (r.data ?? Buffer.alloc(0)).subarray(0, Math.min(size, len)), size };
    };
    const first = await get(o.bufferSize ?? 65536);
    if (o.bufferSize !== undefined || first.size <= first.value.length) return first;
    return get(first.size);
  }

  /**
   * Delete `key`; a missing key fails with Key Does Not Exist (vendor: the check-exist option, and
   * the vendor status 310h; every vendor-layout error is one of the Status.KvVendor* codes).
   */
  async kvDelete(nsid: number, key: Buffer, o: KvOptions = {}): Promise<void> {
    const set = o.commandSet ?? 'nvmevirt';
    const f = set === 'nvmevirt'
      ? kvSqeFields(set, { opcode: KvVendorOpcode.Delete, nsid, key, options: KvOption.VendorDeleteCheckExist, zeroBasedKeyLength: o.zeroBasedKeyLength === true })
      : kvSqeFields(set, { opcode: KvOpcode.Delete, nsid, key });
    const r = await this.ioQueue(o.qid).submit(encodeSqe({ ...f, cid: 0 }));
    check(r, 'KV Delete');
  }

  /**
   * Vendor batch (85h, nvmevirt layout): up to 8 stores (`value` given) and deletes (`value`
   * omitted) in one command, applied in order; resolves with how many were applied (all, or it
   * throws with the status of the first that failed).
   */
  async kvBatch(nsid: number, ops: readonly { key: Buffer; value?: Buffer; mustNotExist?: boolean }[], o: QidOption = {}): Promise<number> {
    const data = encodeKvBatch(
      ops.map((op) => ({
        opcode: op.value === undefined ? KvVendorOpcode.Delete : KvVendorOpcode.Store,
        key: op.key,
        value: op.value ?? Buffer.alloc(0),
        option: op.mustNotExist ? 0x02 : 0,
      })),
    );
    const sqe = encodeSqe({ opcode: KvVendorOpcode.Batch, nsid, cdw10: data.length / 4, cdw11: ops.length, cid: 0 });
    const r = await this.ioQueue(o.qid).submit(sqe, { data });
    check(r, 'KV Batch');
    return r.cqe.dw0 >>> 0;
  }

  /** Does `key` exist? (Key Does Not Exist -> false; other statuses throw.) */
  async kvExists(nsid: number, key: Buffer, o: KvOptions = {}): Promise<boolean> {
    const set = o.commandSet ?? 'nvmevirt';
    const opcode = set === 'nvmevirt' ? KvVendorOpcode.Exist : KvOpcode.Exist;
    const zb = set === 'nvmevirt' && o.zeroBasedKeyLength === true;
    const r = await this.ioQueue(o.qid).submit(encodeSqe({ ...kvSqeFields(set, { opcode, nsid, key, zeroBasedKeyLength: zb }), cid: 0 }));
    const sc = r.cqe.status & 0x7ff;
    if (sc === (Status.KvKeyDoesNotExist & 0x7ff) || sc === (Status.KvVendorKeyNotExist & 0x7ff)) return false;
    check(r, 'KV Exist');
    return true;
  }

  /**
   * Keys from `start` on (nvme-kv: List 06h; default from the first key), or with a `prefix`
   * (nvmevirt: iterate request/read/close). At most `max` keys (default all).
   */
  async kvList(nsid: number, o: KvOptions & { start?: Buffer; prefix?: Buffer; max?: number; bufferSize?: number } = {}): Promise<Buffer[]> {
    const set = o.commandSet ?? 'nvmevirt';
    const max = o.max ?? Infinity;
    const bufferSize = o.bufferSize ?? 65536;
    const q = this.ioQueue(o.qid);
    const out: Buffer[] = [];
    if (set === 'nvme-kv') {
      let start: Buffer | null = o.start ?? Buffer.alloc(0);
      while (start !== null) {
        const sqe = encodeSqe({ ...kvSqeFields(set, { opcode: KvOpcode.List, nsid, key: start, cdw10: bufferSize }), cid: 0 });
        const r = await q.submit(sqe, { readLength: bufferSize });
        check(r, 'KV List');
        const keys = decodeKvList(r.data!);
        if (keys.length === 0) return out;
        for (const k of keys) {
          if (o.prefix && !k.subarray(0, o.prefix.length).equals(o.prefix)) return out;
          out.push(k);
          if (out.length >= max) return out;
        }
        start = keyAfter(keys[keys.length - 1]!);
      }
      return out;
    }
    const prefix = o.prefix ?? Buffer.alloc(0);
    const open = await q.submit(encodeSqe({ ...kvSqeFields(set, { opcode: KvVendorOpcode.IterRequest, nsid, key: prefix, options: KvOption.VendorIterOpen }), cid: 0 }));
    check(open, 'KV Iterate open');
    const handle = open.cqe.dw0 >>> 0;
    try {
      for (;;) {
        const r = await q.submit(encodeSqe({ opcode: KvVendorOpcode.IterRead, nsid, cdw10: handle, cid: 0 }), { readLength: bufferSize });
        check(r, 'KV Iterate read');
        const keys = decodeIterRead(r.data!);
        for (const k of keys) {
          if (o.start && Buffer.compare(k, o.start) < 0) continue;
          out.push(k);
          if (out.length >= max) return out;
        }
        if (keys.length === 0) return out;
      }
    } finally {
      await q.submit(encodeSqe({ ...kvSqeFields(set, { opcode: KvVendorOpcode.IterRequest, nsid, key: Buffer.alloc(0), cdw10: handle, options: KvOption.VendorIterClose }), cid: 0 }));
    }
  }

  // ---- teardown ----

  /**
   * Orderly teardown: Fabrics Disconnect on every I/O queue, then (for an enabled controller,
   * unless `shutdown: false`) a normal shutdown through CC.SHN, then close all connections.
   * Failures along the way are ignored; the sockets are always closed.
   */
  async disconnect(o: { shutdown?: boolean; shutdownTimeoutMs?: number } = {}): Promise<void> {
    if (this.closing) return;
    this.stopKeepAlive();
    const ios = this.ioQueues.filter((q) => !q.closed);
    await Promise.allSettled(ios.map((q) => q.submit(encodeDisconnectSqe(Buffer.alloc(SQE_SIZE)))));
    if ((o.shutdown ?? true) && this.enabled && !this.admin.closed) {
      try {
        await this.propertySet(Property.CC, BigInt(ccEnableValue(this.css) | (1 << 14)), false);
        await this.waitCsts(0xc, Csts.SHST_COMPLETE, 'shutdown complete', o.shutdownTimeoutMs ?? 5000);
      } catch {
        /* best effort */
      }
    }
    await this.close();
  }

  /** Close every connection immediately; outstanding commands reject. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopKeepAlive();
    await Promise.all([this.admin.close(), ...this.ioQueues.map((q) => q.close())]);
  }
}

/** The smallest key greater than `k` in byte order (shorter first on a common prefix); null if none. */
export function keyAfter(k: Buffer): Buffer | null {
  if (k.length < KV_MAX_KEY_LENGTH) return Buffer.concat([k, Buffer.alloc(1)]);
  let n = k.length;
  while (n > 0 && k[n - 1] === 0xff) n--;
  if (n === 0) return null;
  const next = Buffer.from(k.subarray(0, n));
  next[n - 1]!++;
  return next;
}

function check(r: SubmitResult, what: string): void {
  if (r.cqe.status !== 0) throw new NvmeStatusError(what, r.cqe);
}

function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
