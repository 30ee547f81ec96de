// DH-HMAC-CHAP in-band authentication (NVMe Base 2.0, 8.13.5; NVMe-oF "Authentication"): the
// AUTH_Send / AUTH_Receive SQE fields, the six protocol messages, DHHC-1 secrets, the key
// transformation, responses and the ffdhe Diffie-Hellman exchange. Byte layouts and the hash
// inputs follow Linux (include/linux/nvme.h, drivers/nvme/common/auth.c) so either side can talk
// to a kernel peer.
import { createDiffieHellman, createHash, createHmac, randomBytes, timingSafeEqual, type DiffieHellman } from 'node:crypto';
import { crc32 } from '@node-rs/crc32';
import { AdminOpcode, FabricsType, SglId } from './constants.js';
import { FFDHE_PRIMES } from './ffdhe.js';
import { encodeSqe } from './sqe.js';

/** Security protocol of DH-HMAC-CHAP (SECP) and the SPSP0/SPSP1 values the spec fixes. */
export const AUTH_SECP_DHCHAP = 0xe9;
export const AUTH_SPSP = 0x01;

/** AUTH_Send / AUTH_Receive SQE offsets: SPSP0, SPSP1, SECP, and TL (send) / AL (receive). */
export const AuthSqeOff = { spsp0: 41, spsp1: 42, secp: 43, length: 44 } as const;

/** Connect response dword 0 AUTHREQ: authentication transaction required, secure channel required. */
export const CONNECT_AUTHREQ_ATR = 1 << 17;
export const CONNECT_AUTHREQ_ASCR = 1 << 18;

export const AuthType = { Common: 0x00, Dhchap: 0x01 } as const;
export const AuthMsg = {
  Negotiate: 0x00,
  Challenge: 0x01,
  Reply: 0x02,
  Success1: 0x03,
  Success2: 0x04,
  Failure2: 0xf0,
  Failure1: 0xf1,
} as const;

/** AUTH_Failure reason code (the only one defined) and its explanations. */
export const AUTH_REASON_FAILED = 0x01;
export const AuthFailure = {
  Failed: 0x01,
  NotUsable: 0x02,
  ConcatMismatch: 0x03,
  HashUnusable: 0x04,
  DhgroupUnusable: 0x05,
  IncorrectPayload: 0x06,
  IncorrectMessage: 0x07,
} as const;

/** Protocol descriptor AUTHID of DH-HMAC-CHAP. */
export const DHCHAP_AUTH_ID = 0x01;
/** Hash and DH group id slots in a protocol descriptor's IDLIST. */
export const MAX_HASH_IDS = 30;
export const MAX_DH_IDS = 30;
export const NEGOTIATE_HEADER = 8;
export const PROTOCOL_DESCRIPTOR_SIZE = 64;
/** Fixed part of challenge, reply, success1 and success2; failures are 8 bytes. */
export const MSG_HEADER = 16;
export const FAILURE_SIZE = 8;

export const AuthHash = { Sha256: 1, Sha384: 2, Sha512: 3 } as const;
export const DhGroup = { Null: 0, Ffdhe2048: 1, Ffdhe3072: 2, Ffdhe4096: 3, Ffdhe6144: 4, Ffdhe8192: 5 } as const;

interface HashInfo {
  id: number;
  /** node:crypto digest name. */
  digest: 'sha256' | 'sha384' | 'sha512';
  /** nvmet configfs spelling (dhchap_hash). */
  name: string;
  len: number;
}
export const HASHES: readonly HashInfo[] = [
  { id: 1, digest: 'sha256', name: 'hmac(sha256)', len: 32 },
  { id: 2, digest: 'sha384', name: 'hmac(sha384)', len: 48 },
  { id: 3, digest: 'sha512', name: 'hmac(sha512)', len: 64 },
];
export const hashInfo = (id: number): HashInfo | undefined => HASHES.find((h) => h.id === id);

interface DhGroupInfo {
  id: number;
  /** nvmet configfs spelling (dhchap_dhgroup). */
  name: string;
  /** Prime size in bytes (0 = no DH). */
  bytes: number;
}
export const DH_GROUPS: readonly DhGroupInfo[] = [
  { id: 0, name: 'null', bytes: 0 },
  { id: 1, name: 'ffdhe2048', bytes: 256 },
  { id: 2, name: 'ffdhe3072', bytes: 384 },
  { id: 3, name: 'ffdhe4096', bytes: 512 },
  { id: 4, name: 'ffdhe6144', bytes: 768 },
  { id: 5, name: 'ffdhe8192', bytes: 1024 },
];
export const dhGroupInfo = (id: number): DhGroupInfo | undefined => DH_GROUPS.find((g) => g.id === id);

// ---------------------------------------------------------------------------------------- SQEs

export interface AuthSqeFields {
  fctype: number;
  spsp0: number;
  spsp1: number;
  secp: number;
  /** TL (AUTH_Send) or AL (AUTH_Receive). */
  length: number;
}

function encodeAuthSqe(cid: number, fctype: number, length: number, sglType: number): Buffer {
  const sqe = encodeSqe({ opcode: AdminOpcode.Fabrics, cid, sgl: { length, type: sglType } });
  sqe[4] = fctype;
  sqe[AuthSqeOff.spsp0] = AUTH_SPSP;
  sqe[AuthSqeOff.spsp1] = AUTH_SPSP;
  sqe[AuthSqeOff.secp] = AUTH_SECP_DHCHAP;
  sqe.writeUInt32LE(length >>> 0, AuthSqeOff.length);
  return sqe;
}

/** AUTH_Send (fctype 05h) carrying `tl` bytes of message. */
export const encodeAuthSendSqe = (cid: number, tl: number): Buffer => encodeAuthSqe(cid, FabricsType.AuthSend, tl, SglId.DataBlockOffset);
/** AUTH_Receive (fctype 06h) with an allocation length of `al` bytes. */
export const encodeAuthReceiveSqe = (cid: number, al: number): Buffer => encodeAuthSqe(cid, FabricsType.AuthReceive, al, SglId.TransportDataBlock);

export function decodeAuthSqe(sqe: Buffer): AuthSqeFields {
  return {
    fctype: sqe[4]!,
    spsp0: sqe[AuthSqeOff.spsp0]!,
    spsp1: sqe[AuthSqeOff.spsp1]!,
    secp: sqe[AuthSqeOff.secp]!,
    length: sqe.readUInt32LE(AuthSqeOff.length),
  };
}

// ------------------------------------------------------------------------------------ messages

/** A message that cannot be accepted; `explanation` is the AUTH_Failure reason code explanation. */
export class AuthProtocolError extends Error {
  override readonly name = 'AuthProtocolError';
  constructor(
    readonly explanation: number,
    message: string,
  ) {
    super(message);
  }
}

export interface DhchapProtocol {
  authid: number;
  hashes: number[];
  dhgroups: number[];
}

export type AuthMessage =
  | { kind: 'negotiate'; tid: number; scC: number; protocols: DhchapProtocol[] }
  | { kind: 'challenge'; tid: number; hashId: number; dhgid: number; seqnum: number; cval: Buffer; dhv: Buffer }
  | { kind: 'reply'; tid: number; rval: Buffer; cvalid: boolean; seqnum: number; c2: Buffer; dhv: Buffer }
  | { kind: 'success1'; tid: number; hl: number; rvalid: boolean; rval: Buffer }
  | { kind: 'success2'; tid: number }
  | { kind: 'failure1' | 'failure2'; tid: number; rescode: number; explanation: number };

function header(size: number, type: number, id: number, tid: number): Buffer {
  const b = Buffer.alloc(size);
  b[0] = type;
  b[1] = id;
  b.writeUInt16LE(tid & 0xffff, 4);
  return b;
}

export function encodeNegotiate(tid: number, protocols: readonly DhchapProtocol[], scC = 0): Buffer {
  const b = header(NEGOTIATE_HEADER + PROTOCOL_DESCRIPTOR_SIZE * protocols.length, AuthType.Common, AuthMsg.Negotiate, tid);
  b[6] = scC;
  b[7] = protocols.length;
  protocols.forEach((p, i) => {
    if (p.hashes.length > MAX_HASH_IDS || p.dhgroups.length > MAX_DH_IDS) throw new RangeError('too many hash or DH group ids');
    const o = NEGOTIATE_HEADER + i * PROTOCOL_DESCRIPTOR_SIZE;
    b[o] = p.authid;
    b[o + 2] = p.hashes.length;
    b[o + 3] = p.dhgroups.length;
    p.hashes.forEach((h, j) => (b[o + 4 + j] = h));
    p.dhgroups.forEach((g, j) => (b[o + 4 + MAX_HASH_IDS + j] = g));
  });
  return b;
}

export function encodeChallenge(m: { tid: number; hashId: number; dhgid: number; seqnum: number; cval: Buffer; dhv?: Buffer }): Buffer {
  const dhv = m.dhv ?? Buffer.alloc(0);
  const b = header(MSG_HEADER + m.cval.length + dhv.length, AuthType.Dhchap, AuthMsg.Challenge, m.tid);
  b[6] = m.cval.length;
  b[8] = m.hashId;
  b[9] = m.dhgid;
  b.writeUInt16LE(dhv.length, 10);
  b.writeUInt32LE(m.seqnum >>> 0, 12);
  m.cval.copy(b, MSG_HEADER);
  dhv.copy(b, MSG_HEADER + m.cval.length);
  return b;
}

/** Reply: response, then C2 (zeros when not bidirectional), then the host's DH value. */
export function encodeReply(m: { tid: number; rval: Buffer; cvalid: boolean; seqnum: number; c2?: Buffer; dhv?: Buffer }): Buffer {
  const hl = m.rval.length;
  const dhv = m.dhv ?? Buffer.alloc(0);
  const b = header(MSG_HEADER + 2 * hl + dhv.length, AuthType.Dhchap, AuthMsg.Reply, m.tid);
  b[6] = hl;
  b[8] = m.cvalid ? 1 : 0;
  b.writeUInt16LE(dhv.length, 10);
  b.writeUInt32LE(m.seqnum >>> 0, 12);
  m.rval.copy(b, MSG_HEADER);
  if (m.c2) m.c2.copy(b, MSG_HEADER + hl, 0, hl);
  dhv.copy(b, MSG_HEADER + 2 * hl);
  return b;
}

/** Success1: HL is the hash length; the response field is only meaningful when RVALID is set. */
export function encodeSuccess1(m: { tid: number; hl: number; rval?: Buffer }): Buffer {
  const b = header(MSG_HEADER + m.hl, AuthType.Dhchap, AuthMsg.Success1, m.tid);
  b[6] = m.hl;
  if (m.rval) {
    b[8] = 1;
    m.rval.copy(b, MSG_HEADER, 0, m.hl);
  }
  return b;
}

export const encodeSuccess2 = (tid: number): Buffer => header(MSG_HEADER, AuthType.Dhchap, AuthMsg.Success2, tid);

export function encodeFailure(id: typeof AuthMsg.Failure1 | typeof AuthMsg.Failure2, tid: number, explanation: number): Buffer {
  const b = header(FAILURE_SIZE, AuthType.Common, id, tid);
  b[6] = AUTH_REASON_FAILED;
  b[7] = explanation;
  return b;
}

const need = (b: Buffer, n: number, what: string): void => {
  if (b.length < n) throw new AuthProtocolError(AuthFailure.IncorrectPayload, `${what}: ${b.length} bytes, needs ${n}`);
};

/**
 * Decode any DH-HMAC-CHAP message, checking that every length field fits in `b`. Throws
 * AuthProtocolError (Incorrect Payload / Incorrect Protocol Message) for what cannot be parsed.
 */
export function decodeAuthMessage(b: Buffer): AuthMessage {
  need(b, FAILURE_SIZE, 'message');
  const type = b[0]!;
  const id = b[1]!;
  const tid = b.readUInt16LE(4);
  if (type === AuthType.Common) {
    if (id === AuthMsg.Negotiate) {
      const napd = b[7]!;
      need(b, NEGOTIATE_HEADER + PROTOCOL_DESCRIPTOR_SIZE * napd, 'negotiate');
      const protocols: DhchapProtocol[] = [];
      for (let i = 0; i < napd; i++) {
        const o = NEGOTIATE_HEADER + i * PROTOCOL_DESCRIPTOR_SIZE;
        const halen = b[o + 2]!;
        const dhlen = b[o + 3]!;
        if (halen > MAX_HASH_IDS || dhlen > MAX_DH_IDS) throw new AuthProtocolError(AuthFailure.IncorrectPayload, `negotiate: HALEN ${halen} / DHLEN ${dhlen} exceed 30`);
        protocols.push({
          authid: b[o]!,
          hashes: [...b.subarray(o + 4, o + 4 + halen)],
          dhgroups: [...b.subarray(o + 4 + MAX_HASH_IDS, o + 4 + MAX_HASH_IDS + dhlen)],
        });
      }
      return { kind: 'negotiate', tid, scC: b[6]!, protocols };
    }
    if (id === AuthMsg.Failure1 || id === AuthMsg.Failure2) {
      return { kind: id === AuthMsg.Failure1 ? 'failure1' : 'failure2', tid, rescode: b[6]!, explanation: b[7]! };
    }
    throw new AuthProtocolError(AuthFailure.IncorrectMessage, `unknown common message id 0x${id.toString(16)}`);
  }
  if (type !== AuthType.Dhchap) throw new AuthProtocolError(AuthFailure.IncorrectMessage, `unknown message type 0x${type.toString(16)}`);
  need(b, MSG_HEADER, 'message');
  const hl = b[6]!;
  switch (id) {
    case AuthMsg.Challenge: {
      const dhvlen = b.readUInt16LE(10);
      need(b, MSG_HEADER + hl + dhvlen, 'challenge');
      return {
        kind: 'challenge',
        tid,
        hashId: b[8]!,
        dhgid: b[9]!,
        seqnum: b.readUInt32LE(12),
        cval: Buffer.from(b.subarray(MSG_HEADER, MSG_HEADER + hl)),
        dhv: Buffer.from(b.subarray(MSG_HEADER + hl, MSG_HEADER + hl + dhvlen)),
      };
    }
    case AuthMsg.Reply: {
      const dhvlen = b.readUInt16LE(10);
      need(b, MSG_HEADER + 2 * hl + dhvlen, 'reply');
      return {
        kind: 'reply',
        tid,
        cvalid: (b[8]! & 1) !== 0,
        seqnum: b.readUInt32LE(12),
        rval: Buffer.from(b.subarray(MSG_HEADER, MSG_HEADER + hl)),
        c2: Buffer.from(b.subarray(MSG_HEADER + hl, MSG_HEADER + 2 * hl)),
        dhv: Buffer.from(b.subarray(MSG_HEADER + 2 * hl, MSG_HEADER + 2 * hl + dhvlen)),
      };
    }
    case AuthMsg.Success1: {
      const rvalid = (b[8]! & 1) !== 0;
      if (rvalid) need(b, MSG_HEADER + hl, 'success1');
      return { kind: 'success1', tid, hl, rvalid, rval: Buffer.from(b.subarray(MSG_HEADER, rvalid ? MSG_HEADER + hl : MSG_HEADER)) };
    }
    case AuthMsg.Success2:
      return { kind: 'success2', tid };
    default:
      throw new AuthProtocolError(AuthFailure.IncorrectMessage, `unknown DH-HMAC-CHAP message id 0x${id.toString(16)}`);
  }
}

// ------------------------------------------------------------------------------ DHHC-1 secrets

export interface DhchapKey {
  /** Hash used to transform the secret (0 = none, 1..3 = SHA-256/384/512). */
  hash: number;
  /** The secret: 32, 48 or 64 bytes. */
  secret: Buffer;
}

/**
 * Parse `DHHC-1:<hh>:<base64 of secret + CRC-32 (LE)>:` as nvme-cli writes it. The CRC is the
 * zlib CRC-32 of the secret. Throws an Error saying what is wrong (never echoing the secret).
 */
export function parseDhchapKey(s: string): DhchapKey {
  const m = /^DHHC-1:([0-9]{2}):([A-Za-z0-9+/]+={0,2}):?$/.exec(s);
  if (!m) return bad('must be a DHHC-1 secret: "DHHC-1:<hh>:<base64>:" (see `nvmf-emu gen-dhchap-key`)');
  const hash = Number(m[1]);
  if (hash > 3) return bad(`unknown key transformation hash ${m[1]} (00 none, 01 SHA-256, 02 SHA-384, 03 SHA-512)`);
  const raw = Buffer.from(m[2]!, 'base64');
  if (m[2]!.length % 4 !== 0 || raw.toString('base64') !== m[2]) return bad('the base64 part is malformed');
  if (raw.length !== 36 && raw.length !== 52 && raw.length !== 68) return bad(`the secret must be 32, 48 or 64 bytes plus a 4-byte CRC (decoded ${raw.length} bytes)`);
  const secret = raw.subarray(0, raw.length - 4);
  if ((crc32(secret) >>> 0) !== raw.readUInt32LE(raw.length - 4)) return bad('CRC-32 mismatch: the secret is corrupted or mistyped');
  return { hash, secret: Buffer.from(secret) };
}

function bad(message: string): never {
  throw new Error(message);
}

export function formatDhchapKey(k: DhchapKey): string {
  const raw = Buffer.alloc(k.secret.length + 4);
  k.secret.copy(raw);
  raw.writeUInt32LE(crc32(k.secret) >>> 0, k.secret.length);
  return `DHHC-1:${k.hash.toString().padStart(2, '0')}:${raw.toString('base64')}:`;
}

/** A new random secret as nvme-cli's gen-dhchap-key makes one (length 32, 48 or 64). */
export function generateDhchapKey(hash: number, length: number): DhchapKey {
  return { hash, secret: randomBytes(length) };
}

/**
 * Key transformation: with a hash, HMAC(secret, NQN || "NVMe-over-Fabrics"); without one, the
 * secret itself. The host key is transformed with the host NQN, the controller key with the
 * subsystem NQN.
 */
export function transformKey(k: DhchapKey, nqn: string): Buffer {
  if (k.hash === 0) return Buffer.from(k.secret);
  const h = hashInfo(k.hash)!;
  return createHmac(h.digest, k.secret).update(nqn, 'utf8').update('NVMe-over-Fabrics', 'latin1').digest();
}

/** Augmented challenge for a DH exchange: HMAC(H(session key), C). */
export function augmentChallenge(hashId: number, sessionKey: Buffer, challenge: Buffer): Buffer {
  const h = hashInfo(hashId)!;
  const hashed = createHash(h.digest).update(sessionKey).digest();
  return createHmac(h.digest, hashed).update(challenge).digest();
}

export interface ResponseInput {
  hashId: number;
  /** Transformed key (transformKey). */
  key: Buffer;
  /** C1 or C2, already augmented when a DH group is in use. */
  challenge: Buffer;
  seqnum: number;
  tid: number;
  hostnqn: string;
  subsysnqn: string;
}

/**
 * Host response: HMAC(Kh, C1 || S1 || T_ID || SC_C(0) || "HostHost" || NQNh || 00h || NQNc).
 * Controller response: HMAC(Kc, C2 || S2 || T_ID || SC_C(0) || "Controller" || NQNc || 00h || NQNh).
 */
export function dhchapResponse(role: 'host' | 'controller', r: ResponseInput): Buffer {
  const h = hashInfo(r.hashId)!;
  const num = Buffer.alloc(7);
  num.writeUInt32LE(r.seqnum >>> 0, 0);
  num.writeUInt16LE(r.tid & 0xffff, 4);
  // num[6] = 0: no secure channel concatenation
  const [label, first, second] = role === 'host' ? ['HostHost', r.hostnqn, r.subsysnqn] : ['Controller', r.subsysnqn, r.hostnqn];
  return createHmac(h.digest, r.key)
    .update(r.challenge.subarray(0, h.len))
    .update(num)
    .update(label, 'latin1')
    .update(first, 'utf8')
    .update(Buffer.alloc(1))
    .update(second, 'utf8')
    .digest();
}

/** Constant-time comparison of two responses. */
export const responsesEqual = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

// ------------------------------------------------------------------------------ Diffie-Hellman

/** One side of an ffdhe exchange: a fresh key pair, public value padded to the prime size. */
export class DhchapDh {
  private readonly dh: DiffieHellman;
  private readonly prime: bigint;
  readonly bytes: number;
  readonly publicValue: Buffer;

  constructor(readonly dhgid: number) {
    const g = dhGroupInfo(dhgid);
    if (!g || g.bytes === 0) throw new RangeError(`DH group ${dhgid} is not an ffdhe group`);
    const hex = FFDHE_PRIMES[(g.bytes * 8) as keyof typeof FFDHE_PRIMES];
    this.dh = createDiffieHellman(Buffer.from(hex, 'hex'), 2);
    this.prime = BigInt(`0x${hex}`);
    this.bytes = g.bytes;
    // OpenSSL picks a short private exponent for the RFC 7919 primes (2x the security strength).
    this.publicValue = padTo(this.dh.generateKeys(), g.bytes);
  }

  /** Session key g^xy mod p (prime-sized) from the peer's value, which must be 1 < y < p-1. */
  sessionKey(peer: Buffer): Buffer {
    if (peer.length !== this.bytes) throw new AuthProtocolError(AuthFailure.IncorrectPayload, `DH value is ${peer.length} bytes, the group needs ${this.bytes}`);
    const y = BigInt(`0x${peer.toString('hex')}`);
    if (y <= 1n || y >= this.prime - 1n) throw new AuthProtocolError(AuthFailure.IncorrectPayload, 'DH value out of range (must be 1 < y < p-1)');
    try {
      return padTo(this.dh.computeSecret(peer), this.bytes);
    } catch (e) {
      throw new AuthProtocolError(AuthFailure.IncorrectPayload, `DH value rejected: ${(e as Error).message}`);
    }
  }
}

function padTo(b: Buffer, n: number): Buffer {
  if (b.length >= n) return b;
  const out = Buffer.alloc(n);
  b.copy(out, n - b.length);
  return out;
}
