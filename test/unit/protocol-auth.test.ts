// DH-HMAC-CHAP codecs: SQE fields, message layouts byte by byte (Linux include/linux/nvme.h
// nvmf_auth_*), DHHC-1 secrets (real nvme-cli keys from public test suites), key transformation,
// responses and the ffdhe exchange, each recomputed here from the spec's formulas with node:crypto.
import { checkPrimeSync, createDiffieHellman, createHash, createHmac } from 'node:crypto';
import { crc32 } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import {
  AUTH_REASON_FAILED,
  AuthFailure,
  AuthMsg,
  AuthProtocolError,
  augmentChallenge,
  CONNECT_AUTHREQ_ATR,
  decodeAuthMessage,
  decodeAuthSqe,
  DH_GROUPS,
  DhchapDh,
  dhchapResponse,
  encodeAuthReceiveSqe,
  encodeAuthSendSqe,
  encodeChallenge,
  encodeFailure,
  encodeNegotiate,
  encodeReply,
  encodeSuccess1,
  encodeSuccess2,
  formatDhchapKey,
  generateDhchapKey,
  HASHES,
  parseDhchapKey,
  transformKey,
} from '../../src/protocol/auth.js';
import { FFDHE_PRIMES } from '../../src/protocol/ffdhe.js';
import { Status } from '../../src/protocol/status.js';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:22207d09-d8af-4ed2-84ec-a6d80b0cf7e0';
const SUBNQN = 'nqn.2016-06.io.spdk:cnode1';
const bytes = (n: number, start = 1): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));

describe('AUTH_Send / AUTH_Receive SQEs', () => {
  it('AUTH_Send: opcode 7Fh, fctype 05h, SPSP0=SPSP1=01h, SECP E9h at 41..43, TL at 44, SGL in-capsule', () => {
    const s = encodeAuthSendSqe(0x1234, 72);
    expect(s[0]).toBe(0x7f);
    expect(s.readUInt16LE(2)).toBe(0x1234);
    expect(s[4]).toBe(0x05);
    expect([s[40], s[41], s[42], s[43]]).toEqual([0, 0x01, 0x01, 0xe9]);
    expect(s.readUInt32LE(44)).toBe(72);
    expect(s.readUInt32LE(32)).toBe(72); // SGL length
    expect(s[39]).toBe(0x01); // data block, offset
    expect(decodeAuthSqe(s)).toEqual({ fctype: 5, spsp0: 1, spsp1: 1, secp: 0xe9, length: 72 });
  });

  it('AUTH_Receive: fctype 06h, AL at 44, SGL transport data block', () => {
    const s = encodeAuthReceiveSqe(7, 4096);
    expect(s[4]).toBe(0x06);
    expect(s.readUInt32LE(44)).toBe(4096);
    expect(s[39]).toBe(0x5a);
    expect(decodeAuthSqe(s).length).toBe(4096);
  });

  it('Connect AUTHREQ.ATR is dword 0 bit 17; Authentication Required is SCT 1 SC 91h', () => {
    expect(CONNECT_AUTHREQ_ATR).toBe(0x20000);
    expect(Status.AuthRequired & 0x7ff).toBe(0x191);
  });
});

describe('messages', () => {
  it('negotiate: 8-byte header + one 64-byte descriptor, hash ids at byte 12 (IDLIST), DH ids at IDLIST+30 (byte 42)', () => {
    const b = encodeNegotiate(0x0102, [{ authid: 1, hashes: [1, 2, 3], dhgroups: [0, 1, 2, 3, 4, 5] }]);
    expect(b.length).toBe(72);
    expect(b.subarray(0, 8).toString('hex')).toBe('0000000002010001'); // type 0, id 0, rsvd, tid 0102h LE, sc_c 0, napd 1
    expect(b.subarray(8, 12).toString('hex')).toBe('01000306'); // authid, rsvd, halen, dhlen
    expect([...b.subarray(12, 15)]).toEqual([1, 2, 3]);
    expect([...b.subarray(42, 48)]).toEqual([0, 1, 2, 3, 4, 5]);
    expect(decodeAuthMessage(b)).toEqual({ kind: 'negotiate', tid: 0x0102, scC: 0, protocols: [{ authid: 1, hashes: [1, 2, 3], dhgroups: [0, 1, 2, 3, 4, 5] }] });
  });

  it('challenge: hl at 6, hashid 8, dhgid 9, dhvlen 10, seqnum 12, then C1 and the DH value', () => {
    const b = encodeChallenge({ tid: 5, hashId: 2, dhgid: 1, seqnum: 0xa1b2c3d4, cval: bytes(48), dhv: bytes(256, 0x80) });
    expect(b.length).toBe(16 + 48 + 256);
    expect(b.subarray(0, 16).toString('hex')).toBe('01010000050030000201' + '0001' + 'd4c3b2a1');
    expect(b.subarray(16, 64)).toEqual(bytes(48));
    expect(b.subarray(64)).toEqual(bytes(256, 0x80));
    const m = decodeAuthMessage(b);
    expect(m).toMatchObject({ kind: 'challenge', tid: 5, hashId: 2, dhgid: 1, seqnum: 0xa1b2c3d4 });
  });

  it('reply: response, C2, DH value; cvalid at 8, seqnum (S2) at 12', () => {
    const b = encodeReply({ tid: 9, rval: bytes(32), cvalid: true, seqnum: 77, c2: bytes(32, 0x40), dhv: bytes(4, 0xf0) });
    expect(b.length).toBe(16 + 64 + 4);
    expect(b.subarray(0, 16).toString('hex')).toBe('0102000009002000010004004d000000');
    expect(b.subarray(16, 48)).toEqual(bytes(32));
    expect(b.subarray(48, 80)).toEqual(bytes(32, 0x40));
    expect(b.subarray(80)).toEqual(bytes(4, 0xf0));
    expect(decodeAuthMessage(b)).toMatchObject({ kind: 'reply', tid: 9, cvalid: true, seqnum: 77, rval: bytes(32), c2: bytes(32, 0x40), dhv: bytes(4, 0xf0) });
    // Unidirectional: C2 is zeros, cvalid 0.
    const u = encodeReply({ tid: 9, rval: bytes(32), cvalid: false, seqnum: 0 });
    expect(u[8]).toBe(0);
    expect(u.subarray(48, 80)).toEqual(Buffer.alloc(32));
  });

  it('success1 (rvalid at 8, response at 16), success2 (16 bytes), failures (8 bytes, common type)', () => {
    const s1 = encodeSuccess1({ tid: 3, hl: 64, rval: bytes(64) });
    expect(s1.length).toBe(80);
    expect(s1.subarray(0, 16).toString('hex')).toBe('01030000030040000100000000000000');
    expect(decodeAuthMessage(s1)).toMatchObject({ kind: 'success1', tid: 3, hl: 64, rvalid: true, rval: bytes(64) });
    const s1u = encodeSuccess1({ tid: 3, hl: 32 });
    expect(s1u.length).toBe(48);
    expect(s1u[8]).toBe(0);
    expect(encodeSuccess2(0x4321).toString('hex')).toBe('01040000' + '2143' + '00'.repeat(10));
    expect(decodeAuthMessage(encodeSuccess2(1))).toEqual({ kind: 'success2', tid: 1 });
    const f1 = encodeFailure(AuthMsg.Failure1, 0x0a0b, AuthFailure.HashUnusable);
    expect(f1.toString('hex')).toBe('00f100000b0a0104');
    expect(decodeAuthMessage(f1)).toEqual({ kind: 'failure1', tid: 0x0a0b, rescode: AUTH_REASON_FAILED, explanation: 4 });
    expect(encodeFailure(AuthMsg.Failure2, 1, AuthFailure.Failed)[1]).toBe(0xf0);
  });

  it('rejects what does not fit or is unknown, with the failure explanation to report', () => {
    const code = (b: Buffer): number => {
      try {
        decodeAuthMessage(b);
      } catch (e) {
        expect(e).toBeInstanceOf(AuthProtocolError);
        return (e as AuthProtocolError).explanation;
      }
      return -1;
    };
    expect(code(Buffer.alloc(4))).toBe(AuthFailure.IncorrectPayload);
    expect(code(Buffer.from('0000000001000001', 'hex'))).toBe(AuthFailure.IncorrectPayload); // napd 1, no descriptor
    const neg = encodeNegotiate(1, [{ authid: 1, hashes: [1], dhgroups: [0] }]);
    neg[10] = 31; // HALEN > 30
    expect(code(neg)).toBe(AuthFailure.IncorrectPayload);
    const rep = encodeReply({ tid: 1, rval: bytes(32), cvalid: false, seqnum: 0 });
    expect(code(rep.subarray(0, 60))).toBe(AuthFailure.IncorrectPayload);
    const big = Buffer.from(rep);
    big.writeUInt16LE(1000, 10); // dhvlen past the end
    expect(code(big)).toBe(AuthFailure.IncorrectPayload);
    expect(code(Buffer.from('0207000001000000' + '00'.repeat(8), 'hex'))).toBe(AuthFailure.IncorrectMessage);
    expect(code(Buffer.from('0500000001000000', 'hex'))).toBe(AuthFailure.IncorrectMessage);
    expect(code(Buffer.from('0003000001000000', 'hex'))).toBe(AuthFailure.IncorrectMessage);
  });
});

describe('DHHC-1 secrets', () => {
  // Produced by nvme-cli gen-dhchap-key, from public test suites (ceph-nvmeof, a kernel patch).
  const REAL = [
    ['DHHC-1:00:RbgmpCGRaCwY1m4SexVxhf7tsJCXuAg77iH0Z18Ys25TgI/K:', 0, 32],
    ['DHHC-1:01:vYcm5QemILkz5zSIeZidb4nPGcxongu2l/OaWMRgM9iIk/2A:', 1, 32],
    ['DHHC-1:02:Hi9ha9idssh3FgURRbfMUvOY7NlHiApDCmHhmIRCdhdlNQwebHEt/7DHoag3SmCHFvei/Q==:', 2, 48],
    ['DHHC-1:02:7CRgseaehU2SWsm7t7/ZZttCs1GO2XUkxvuLohyhhG8AkuGTnmf91nAvPOiN0W1IM+J9Jg==:', 2, 48],
    ['DHHC-1:00:ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2n:', 0, 32],
  ] as const;

  it.each(REAL)('parses %s (CRC-32 little-endian after the secret)', (s, hash, len) => {
    const k = parseDhchapKey(s);
    expect(k.hash).toBe(hash);
    expect(k.secret.length).toBe(len);
    expect(formatDhchapKey(k)).toBe(s);
  });

  it('round-trips generated keys of every length and hash', () => {
    for (const [hash, len] of [[0, 32], [1, 32], [2, 48], [3, 64], [0, 64]] as const) {
      const k = generateDhchapKey(hash, len);
      const s = formatDhchapKey(k);
      expect(s).toMatch(/^DHHC-1:0\d:[A-Za-z0-9+/=]+:$/);
      const raw = Buffer.from(s.split(':')[2]!, 'base64');
      expect(raw.readUInt32LE(len)).toBe(crc32(k.secret) >>> 0);
      expect(parseDhchapKey(s)).toEqual(k);
    }
  });

  it('names what is wrong', () => {
    const good = REAL[1][0];
    const raw = Buffer.from(good.split(':')[2]!, 'base64');
    raw[0]! ^= 1;
    expect(() => parseDhchapKey(`DHHC-1:01:${raw.toString('base64')}:`)).toThrow(/CRC-32 mismatch/);
    expect(() => parseDhchapKey('DHHC-2:01:abcd:')).toThrow(/DHHC-1 secret/);
    expect(() => parseDhchapKey(good.replace(':01:', ':04:'))).toThrow(/unknown key transformation hash 04/);
    expect(() => parseDhchapKey(`DHHC-1:00:${Buffer.alloc(20).toString('base64')}:`)).toThrow(/32, 48 or 64 bytes/);
    expect(() => parseDhchapKey('DHHC-1:00:abc*:')).toThrow(/DHHC-1 secret/);
    expect(() => parseDhchapKey('DHHC-1:00:abcde:')).toThrow(/malformed/);
  });
});

describe('key transformation and responses', () => {
  it.each(HASHES)('transform with $digest: HMAC(secret, NQN || "NVMe-over-Fabrics")', (h) => {
    const k = { hash: h.id, secret: bytes(h.len) };
    const want = createHmac(h.digest, k.secret).update(Buffer.concat([Buffer.from(HOSTNQN), Buffer.from('NVMe-over-Fabrics')])).digest();
    expect(transformKey(k, HOSTNQN)).toEqual(want);
    expect(transformKey(k, HOSTNQN).length).toBe(h.len);
    // Hash 0: the secret is used as it is.
    expect(transformKey({ hash: 0, secret: k.secret }, HOSTNQN)).toEqual(k.secret);
  });

  it.each(HASHES)('host and controller responses with $digest (byte layout of the HMAC input)', (h) => {
    const key = bytes(h.len, 0x33);
    const c = bytes(h.len, 0x55);
    const host = dhchapResponse('host', { hashId: h.id, key, challenge: c, seqnum: 0x01020304, tid: 0x0506, hostnqn: HOSTNQN, subsysnqn: SUBNQN });
    const hostInput = Buffer.concat([c, Buffer.from('04030201' + '0605' + '00', 'hex'), Buffer.from('HostHost'), Buffer.from(HOSTNQN), Buffer.alloc(1), Buffer.from(SUBNQN)]);
    expect(host).toEqual(createHmac(h.digest, key).update(hostInput).digest());
    const ctrl = dhchapResponse('controller', { hashId: h.id, key, challenge: c, seqnum: 0x01020304, tid: 0x0506, hostnqn: HOSTNQN, subsysnqn: SUBNQN });
    const ctrlInput = Buffer.concat([c, Buffer.from('04030201' + '0605' + '00', 'hex'), Buffer.from('Controller'), Buffer.from(SUBNQN), Buffer.alloc(1), Buffer.from(HOSTNQN)]);
    expect(ctrl).toEqual(createHmac(h.digest, key).update(ctrlInput).digest());
  });

  it.each(HASHES)('augmented challenge with $digest: HMAC(H(session key), C)', (h) => {
    const sk = bytes(256, 7);
    const c = bytes(h.len, 9);
    const want = createHmac(h.digest, createHash(h.digest).update(sk).digest()).update(c).digest();
    expect(augmentChallenge(h.id, sk, c)).toEqual(want);
  });
});

describe('ffdhe groups', () => {
  it('the primes are the RFC 7919 ones: right size, 64 one-bits at both ends, safe primes (2048)', () => {
    for (const g of DH_GROUPS.filter((x) => x.bytes > 0)) {
      const hex = FFDHE_PRIMES[(g.bytes * 8) as keyof typeof FFDHE_PRIMES];
      expect(hex.length).toBe(g.bytes * 2);
      expect(hex.slice(0, 16)).toBe('FFFFFFFFFFFFFFFF');
      expect(hex.slice(-16)).toBe('FFFFFFFFFFFFFFFF');
    }
    const p = BigInt(`0x${FFDHE_PRIMES[2048]}`);
    expect(checkPrimeSync(p)).toBe(true);
    expect(checkPrimeSync((p - 1n) / 2n)).toBe(true);
    // The 2048-bit prime starts with the digits of e: FFFFFFFFFFFFFFFF ADF85458A2BB4A9A...
    expect(FFDHE_PRIMES[2048].slice(16, 32)).toBe('ADF85458A2BB4A9A');
  });

  it.each(DH_GROUPS.filter((g) => g.bytes > 0))('$name: both sides agree on g^xy mod p, values padded to the prime size', (g) => {
    const a = new DhchapDh(g.id);
    const b = new DhchapDh(g.id);
    expect(a.publicValue.length).toBe(g.bytes);
    const ka = a.sessionKey(b.publicValue);
    expect(ka.length).toBe(g.bytes);
    expect(ka).toEqual(b.sessionKey(a.publicValue));
    // Independently: a plain node:crypto DH with the same prime and generator 2.
    const c = createDiffieHellman(Buffer.from(FFDHE_PRIMES[(g.bytes * 8) as keyof typeof FFDHE_PRIMES], 'hex'), 2);
    c.generateKeys();
    const kc = c.computeSecret(a.publicValue);
    expect(a.sessionKey(Buffer.concat([Buffer.alloc(g.bytes - c.getPublicKey().length), c.getPublicKey()]))).toEqual(Buffer.concat([Buffer.alloc(g.bytes - kc.length), kc]));
  });

  it('refuses peer values of the wrong size or out of range (Incorrect Payload)', () => {
    const a = new DhchapDh(1);
    const p = Buffer.from(FFDHE_PRIMES[2048], 'hex');
    const pm1 = Buffer.from(p);
    pm1[255]! -= 1;
    for (const v of [Buffer.alloc(255, 1), Buffer.alloc(256), Buffer.concat([Buffer.alloc(255), Buffer.from([1])]), pm1, p, Buffer.alloc(256, 0xff)]) {
      expect(() => a.sessionKey(v)).toThrow(AuthProtocolError);
    }
  });
});
