// DH-HMAC-CHAP on the target: which hosts must authenticate, and the per-queue transaction
// (negotiate -> challenge -> reply -> success1 [-> success2]) behind AUTH_Send / AUTH_Receive.
// The state machine follows Linux nvmet (drivers/nvme/target/fabrics-cmd-auth.c): a bad message
// is answered by AUTH_Failure1 on the next AUTH_Receive, after which the controller is torn down.
import { randomBytes, randomInt } from 'node:crypto';
import type { HostConfig } from '../config/topology.js';
import {
  AuthFailure,
  AuthProtocolError,
  AuthSqeOff,
  AUTH_SECP_DHCHAP,
  AUTH_SPSP,
  AuthMsg,
  DH_GROUPS,
  DHCHAP_AUTH_ID,
  DhchapDh,
  HASHES,
  MSG_HEADER,
  augmentChallenge,
  decodeAuthMessage,
  dhchapResponse,
  dhGroupInfo,
  encodeChallenge,
  encodeFailure,
  encodeSuccess1,
  hashInfo,
  parseDhchapKey,
  responsesEqual,
  transformKey,
  type AuthMessage,
  type DhchapKey,
} from '../protocol/auth.js';
import { Status } from '../protocol/status.js';
import type { Controller } from './controller.js';
import { sendData, type NvmeRequest } from './request.js';

/** A host's authentication settings, keys parsed (validated at start by the topology schema). */
export interface HostAuth {
  hostKey: DhchapKey;
  /** Set: the host may ask the controller to authenticate itself too. */
  ctrlKey: DhchapKey | null;
  /** Acceptable hash ids, most preferred first. */
  hashes: number[];
  /** Acceptable DH group ids, most preferred first. */
  dhgroups: number[];
}

/** nvmet defaults: SHA-256 and the null group first; every hash and group is acceptable. */
const DEFAULT_HASHES = HASHES.map((h) => h.id);
const DEFAULT_DHGROUPS = DH_GROUPS.map((g) => g.id);

export function hostAuthFrom(h: HostConfig): HostAuth | null {
  if (!h.dhchap_key) return null;
  return {
    hostKey: parseDhchapKey(h.dhchap_key),
    ctrlKey: h.dhchap_ctrl_key ? parseDhchapKey(h.dhchap_ctrl_key) : null,
    hashes: h.dhchap_hash ? h.dhchap_hash.map((n) => HASHES.find((x) => x.name === n)!.id) : DEFAULT_HASHES,
    dhgroups: h.dhchap_dhgroup ? h.dhchap_dhgroup.map((n) => DH_GROUPS.find((x) => x.name === n)!.id) : DEFAULT_DHGROUPS,
  };
}

/** Sequence numbers as Linux makes them: random start, then +1, never 0 (0 means "none"). */
let lastSeqnum = 0;
function nextSeqnum(): number {
  lastSeqnum = lastSeqnum === 0 ? randomInt(1, 0x100000000) : (lastSeqnum + 1) >>> 0 || 1;
  return lastSeqnum;
}

const Step = {
  Negotiate: AuthMsg.Negotiate,
  Challenge: AuthMsg.Challenge,
  Reply: AuthMsg.Reply,
  Success1: AuthMsg.Success1,
  Success2: AuthMsg.Success2,
  Failure1: AuthMsg.Failure1,
  /** Transaction over (authenticated) or the queue is being torn down. */
  Done: 0x100,
} as const;

/** Authentication state of one queue (admin or I/O) whose host must authenticate. */
export class QueueAuth {
  authenticated = false;
  private step: number = Step.Negotiate;
  private failed = false;
  private tid = 0;
  private hashId = 0;
  private dhgid = 0;
  private c1: Buffer = Buffer.alloc(0);
  private s1 = 0;
  private dh: DhchapDh | null = null;
  private sessionKey: Buffer | null = null;
  /** Controller challenge of a bidirectional transaction (null: unidirectional). */
  private c2: Buffer | null = null;
  private s2 = 0;
  private explanation = 0;

  constructor(
    private readonly ctrl: Controller,
    private readonly qid: number,
    private readonly cfg: HostAuth,
  ) {}

  /** AUTH_Send: take one message from the host. */
  send(req: NvmeRequest): number {
    const bad = checkSqe(req);
    if (bad !== 0) return bad;
    if (this.failed) return Status.CommandSequenceError; // the controller is going away
    let m: AuthMessage;
    try {
      m = decodeAuthMessage(req.data!);
    } catch (e) {
      return this.fail1((e as AuthProtocolError).explanation, (e as Error).message);
    }
    if (m.kind === 'negotiate') return this.negotiate(m);
    if (m.kind === 'failure2') {
      this.teardown(`host sent AUTH_Failure2 (explanation 0x${m.explanation.toString(16)})`);
      return Status.Success;
    }
    const expected = m.kind === 'reply' ? Step.Reply : m.kind === 'success2' ? Step.Success2 : -1;
    if (expected !== this.step) return this.fail1(AuthFailure.IncorrectMessage, `unexpected ${m.kind} message`);
    if (m.tid !== this.tid) return this.fail1(AuthFailure.IncorrectPayload, `transaction id ${m.tid}, expected ${this.tid}`);
    if (m.kind === 'reply') return this.reply(m);
    this.succeed();
    return Status.Success;
  }

  /** AUTH_Receive: hand the host the next message (challenge, success1 or failure1). */
  receive(req: NvmeRequest): number {
    const bad = checkSqe(req);
    if (bad !== 0) return bad;
    const al = req.dataLength;
    if (this.step === Step.Challenge) {
      const hl = hashInfo(this.hashId)!.len;
      const dhBytes = dhGroupInfo(this.dhgid)!.bytes;
      if (al < MSG_HEADER + hl + dhBytes) return Status.InvalidField; // too small for the challenge: the host may retry
      this.c1 = randomBytes(hl);
      this.s1 = nextSeqnum();
      this.dh = this.dhgid !== 0 ? new DhchapDh(this.dhgid) : null;
      sendData(req, encodeChallenge({ tid: this.tid, hashId: this.hashId, dhgid: this.dhgid, seqnum: this.s1, cval: this.c1, ...(this.dh ? { dhv: this.dh.publicValue } : {}) }));
      this.step = Step.Reply;
      return Status.Success;
    }
    if (this.step === Step.Success1) {
      const hl = hashInfo(this.hashId)!.len;
      if (al < MSG_HEADER + hl) return Status.InvalidField;
      let rval: Buffer | undefined;
      if (this.c2 !== null) {
        rval = dhchapResponse('controller', {
          hashId: this.hashId,
          key: transformKey(this.cfg.ctrlKey!, this.ctrl.subsys.nqn),
          challenge: this.sessionKey ? augmentChallenge(this.hashId, this.sessionKey, this.c2) : this.c2,
          seqnum: this.s2,
          tid: this.tid,
          hostnqn: this.ctrl.hostnqn,
          subsysnqn: this.ctrl.subsys.nqn,
        });
      }
      sendData(req, encodeSuccess1({ tid: this.tid, hl, ...(rval ? { rval } : {}) }));
      if (this.c2 !== null) this.step = Step.Success2;
      else this.step = Step.Done; // authenticated already at the reply
      return Status.Success;
    }
    // Failure1, or a receive out of sequence: report it, then the controller goes (as nvmet).
    if (this.step !== Step.Failure1) {
      this.explanation = AuthFailure.IncorrectMessage;
      this.log(`AUTH_Receive out of sequence (step 0x${this.step.toString(16)})`);
    }
    if (al < 8) return Status.InvalidField;
    sendData(req, encodeFailure(AuthMsg.Failure1, this.tid, this.explanation));
    this.teardown(`authentication failed (explanation 0x${this.explanation.toString(16)})`);
    return Status.Success;
  }

  private negotiate(m: Extract<AuthMessage, { kind: 'negotiate' }>): number {
    // A new negotiate restarts the transaction (re-authentication included).
    this.tid = m.tid;
    this.c2 = null;
    this.s2 = 0;
    this.dh = null;
    this.sessionKey = null;
    if (m.scC !== 0) return this.fail1(AuthFailure.ConcatMismatch, 'secure channel concatenation is not supported');
    if (m.protocols.length !== 1) return this.fail1(AuthFailure.HashUnusable, `${m.protocols.length} protocol descriptors (exactly one expected)`);
    const p = m.protocols[0]!;
    if (p.authid !== DHCHAP_AUTH_ID) return this.fail1(AuthFailure.IncorrectPayload, `unknown AUTHID ${p.authid}`);
    const hash = this.cfg.hashes.find((h) => p.hashes.includes(h));
    if (hash === undefined) return this.fail1(AuthFailure.HashUnusable, `no acceptable hash among [${p.hashes.join(',')}]`);
    const group = this.cfg.dhgroups.find((g) => p.dhgroups.includes(g));
    if (group === undefined) return this.fail1(AuthFailure.DhgroupUnusable, `no acceptable DH group among [${p.dhgroups.join(',')}]`);
    this.hashId = hash;
    this.dhgid = group;
    this.step = Step.Challenge;
    return Status.Success;
  }

  private reply(m: Extract<AuthMessage, { kind: 'reply' }>): number {
    const hl = hashInfo(this.hashId)!.len;
    if (m.rval.length !== hl) return this.fail1(AuthFailure.IncorrectPayload, `HL ${m.rval.length}, the hash needs ${hl}`);
    let challenge = this.c1;
    if (this.dh) {
      try {
        this.sessionKey = this.dh.sessionKey(m.dhv);
      } catch (e) {
        return this.fail1((e as AuthProtocolError).explanation ?? AuthFailure.IncorrectPayload, (e as Error).message);
      }
      challenge = augmentChallenge(this.hashId, this.sessionKey, this.c1);
    } else if (m.dhv.length !== 0) {
      return this.fail1(AuthFailure.IncorrectPayload, 'DH value sent for the null group');
    }
    const expected = dhchapResponse('host', {
      hashId: this.hashId,
      key: transformKey(this.cfg.hostKey, this.ctrl.hostnqn),
      challenge,
      seqnum: this.s1,
      tid: this.tid,
      hostnqn: this.ctrl.hostnqn,
      subsysnqn: this.ctrl.subsys.nqn,
    });
    if (!responsesEqual(expected, m.rval)) return this.fail1(AuthFailure.Failed, 'host response mismatch (wrong key?)');
    // SEQNUM 0 with CVALID means "C2 only for a PSK" (Base 2.1): no controller authentication.
    if (m.cvalid && m.seqnum !== 0) {
      if (!this.cfg.ctrlKey) return this.fail1(AuthFailure.Failed, 'host asked for bidirectional authentication but no dhchap_ctrl_key is configured');
      this.c2 = m.c2;
      this.s2 = m.seqnum;
      this.step = Step.Success1;
    } else {
      this.step = Step.Success1;
      this.succeed();
    }
    return Status.Success;
  }

  private succeed(): void {
    if (!this.authenticated) {
      this.ctrl.target.counters.authSuccesses++;
      if (this.qid === 0) {
        this.ctrl.target.log.info(
          { subnqn: this.ctrl.subsys.nqn, cntlid: this.ctrl.cntlid, hostnqn: this.ctrl.hostnqn, hash: hashInfo(this.hashId)!.name, dhgroup: dhGroupInfo(this.dhgid)!.name, bidirectional: this.c2 !== null },
          'host authenticated',
        );
      }
    }
    this.authenticated = true;
    if (this.step === Step.Success2) this.step = Step.Done;
    this.dh = null;
    this.sessionKey = null;
  }

  /** Remember the failure; the host gets AUTH_Failure1 on its next AUTH_Receive. */
  private fail1(explanation: number, why: string): number {
    this.step = Step.Failure1;
    this.explanation = explanation;
    this.log(why);
    return Status.Success;
  }

  private log(why: string): void {
    this.ctrl.target.log.warn({ subnqn: this.ctrl.subsys.nqn, cntlid: this.ctrl.cntlid, qid: this.qid, hostnqn: this.ctrl.hostnqn, reason: why }, 'authentication failed');
  }

  /** The command completes first (its response goes out), then the controller is torn down. */
  private teardown(reason: string): void {
    if (this.failed) return;
    this.failed = true;
    this.authenticated = false;
    this.step = Step.Done;
    this.ctrl.target.counters.authFailures++;
    setImmediate(() => this.ctrl.fatal(reason));
  }
}

/** SECP, SPSP0/1 and TL/AL as nvmet checks them; TL/AL must match the SGL length. */
function checkSqe(req: NvmeRequest): number {
  const sqe = req.sqe;
  if (sqe[AuthSqeOff.secp] !== AUTH_SECP_DHCHAP || sqe[AuthSqeOff.spsp0] !== AUTH_SPSP || sqe[AuthSqeOff.spsp1] !== AUTH_SPSP) return Status.InvalidField;
  const len = sqe.readUInt32LE(AuthSqeOff.length);
  if (len === 0) return Status.InvalidField;
  if (len !== req.dataLength) return Status.DataSglLengthInvalid;
  return 0;
}
