// DH-HMAC-CHAP over real TCP with our initiator (the Linux 6.1 e2e guest has no CONFIG_NVME_AUTH,
// so no kernel host is tested here): unidirectional and bidirectional authentication on the admin
// and every I/O queue, each hash, the null group and ffdhe groups, wrong keys, missing keys,
// commands before authentication (Authentication Required), and malformed messages answered with
// AUTH_Failure1 while the daemon keeps serving other hosts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NvmeAuthError, NvmeHost, type NvmeHostOptions } from '../../src/initiator/index.js';
import {
  AuthFailure,
  AuthMsg,
  CONNECT_AUTHREQ_ATR,
  decodeAuthMessage,
  encodeAuthReceiveSqe,
  encodeAuthSendSqe,
  encodeFailure,
  encodeNegotiate,
  encodeReply,
  formatDhchapKey,
  generateDhchapKey,
} from '../../src/protocol/auth.js';
import { IdentifyCns, Property } from '../../src/protocol/constants.js';
import { Status } from '../../src/protocol/status.js';
import { createMetricsRegistry } from '../../src/metrics/families.js';
import { parsePrometheusText } from '../helpers/prom-text.js';
import { RawClient, STATUS_DNR, STATUS_SC, STATUS_SCT } from './helpers/raw-client.js';
import { pattern, sleep, startTarget, type TestTarget } from './helpers/target.js';

const SUB = 'nqn.2024-01.io.nvmf-emu:auth';
const OPEN = 'nqn.2024-01.io.nvmf-emu:auth-open';
const uuidNqn = (n: number): string => `nqn.2014-08.org.nvmexpress:uuid:0000000${n}-0000-4000-8000-000000000000`;
const HOST_A = uuidNqn(1); // host key only
const HOST_B = uuidNqn(2); // host and controller keys
const HOST_C = uuidNqn(3); // no key: not configured for authentication
const HOST_P = uuidNqn(4); // key, target accepts only SHA-512 and ffdhe3072

const KEY_A = formatDhchapKey(generateDhchapKey(1, 32));
const KEY_B = formatDhchapKey(generateDhchapKey(2, 48));
const CTRL_KEY_B = formatDhchapKey(generateDhchapKey(3, 64));
const KEY_P = formatDhchapKey(generateDhchapKey(0, 32));
const OTHER_KEY = formatDhchapKey(generateDhchapKey(1, 32));

const sc = (status: number): [number, number] => [STATUS_SCT(status), STATUS_SC(status)];
const AUTH_REQUIRED: [number, number] = [1, 0x91];

let t: TestTarget;
let port: number;

beforeAll(async () => {
  t = await startTarget({
    hosts: [
      { nqn: HOST_A, dhchap_key: KEY_A },
      { nqn: HOST_B, dhchap_key: KEY_B, dhchap_ctrl_key: CTRL_KEY_B },
      { nqn: HOST_C },
      { nqn: HOST_P, dhchap_key: KEY_P, dhchap_hash: 'hmac(sha512)', dhchap_dhgroup: ['ffdhe3072'] },
    ],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [SUB, OPEN] }],
    subsystems: [
      { nqn: SUB, attr: { allow_any_host: 0 }, allowed_hosts: [HOST_A, HOST_B, HOST_C, HOST_P], namespaces: [{ nsid: 1, emulation: { type: 'nvm', capacity: '8MiB' } }] },
      { nqn: OPEN, attr: { allow_any_host: 1 }, namespaces: [{ nsid: 1, emulation: { type: 'nvm', capacity: '8MiB' } }] },
    ],
  });
  port = t.port(1);
});

afterAll(async () => {
  await t?.stop();
});

const counters = (): { ok: number; bad: number } => ({ ok: t.daemon.target.counters.authSuccesses, bad: t.daemon.target.counters.authFailures });
const subsys = () => t.daemon.target.subsystems.get(SUB)!;

async function connect(o: Partial<NvmeHostOptions> & { hostnqn: string }): Promise<NvmeHost> {
  return NvmeHost.connect({ host: '127.0.0.1', port, subnqn: SUB, kato: 0, ...o });
}

/** Write then read back a pattern on every I/O queue. */
async function verifyIo(h: NvmeHost): Promise<void> {
  for (const q of h.ioQueues) {
    const data = pattern(4096, q.qid * 7);
    await h.write(1, q.qid * 8, data, { qid: q.qid });
    expect((await h.read(1, q.qid * 8, 8, { qid: q.qid })).equals(data)).toBe(true);
  }
}

/** Wait until the controller `cntlid` is gone from the subsystem (torn down after a failure). */
async function gone(cntlid: number): Promise<boolean> {
  for (let i = 0; i < 100 && subsys().controllers.has(cntlid); i++) await sleep(10);
  return !subsys().controllers.has(cntlid);
}

async function stillServes(): Promise<void> {
  const h = await connect({ hostnqn: HOST_A, dhchapKey: KEY_A, ioQueues: 1 });
  await verifyIo(h);
  await h.disconnect();
}

describe('successful authentication', () => {
  it('unidirectional: admin and every I/O queue authenticate, then I/O works', async () => {
    const before = counters();
    const h = await connect({ hostnqn: HOST_A, dhchapKey: KEY_A, ioQueues: 3 });
    expect(h.ioQueues.length).toBe(3);
    await verifyIo(h);
    expect(counters().ok - before.ok).toBe(4);
    expect(counters().bad).toBe(before.bad);
    await h.disconnect();
  });

  it('bidirectional: the host checks the controller response too (success2 completes it)', async () => {
    const before = counters();
    const h = await connect({ hostnqn: HOST_B, dhchapKey: KEY_B, dhchapCtrlKey: CTRL_KEY_B, ioQueues: 2 });
    await verifyIo(h);
    expect(counters().ok - before.ok).toBe(3);
    await h.disconnect();
  });

  it('a host with a controller key configured may still authenticate one way', async () => {
    const h = await connect({ hostnqn: HOST_B, dhchapKey: KEY_B, ioQueues: 1 });
    await verifyIo(h);
    await h.disconnect();
  });

  describe.each(['hmac(sha256)', 'hmac(sha384)', 'hmac(sha512)'])('%s', (hash) => {
    it.each(['null', 'ffdhe2048'])('with DH group %s', async (group) => {
      const h = await connect({ hostnqn: HOST_B, dhchapKey: KEY_B, dhchapCtrlKey: CTRL_KEY_B, dhchapHashes: [hash], dhchapDhgroups: [group], ioQueues: 1 });
      await verifyIo(h);
      await h.disconnect();
    });
  });

  it('ffdhe8192 (1 KiB DH values), unidirectional and bidirectional', async () => {
    for (const o of [{ hostnqn: HOST_A, dhchapKey: KEY_A }, { hostnqn: HOST_B, dhchapKey: KEY_B, dhchapCtrlKey: CTRL_KEY_B }]) {
      const h = await connect({ ...o, dhchapHashes: ['hmac(sha384)'], dhchapDhgroups: ['ffdhe8192'], ioQueues: 2 });
      await verifyIo(h);
      await h.disconnect();
    }
  });

  it("the target's dhchap_hash / dhchap_dhgroup choose among what the host offers", async () => {
    // The host offers everything; the target accepts only SHA-512 with ffdhe3072 for HOST_P.
    const h = await connect({ hostnqn: HOST_P, dhchapKey: KEY_P, ioQueues: 1 });
    await verifyIo(h);
    await h.disconnect();
    const e = await connect({ hostnqn: HOST_P, dhchapKey: KEY_P, dhchapHashes: ['hmac(sha256)'] }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NvmeAuthError);
    expect((e as NvmeAuthError).explanation).toBe(AuthFailure.HashUnusable);
    const g = await connect({ hostnqn: HOST_P, dhchapKey: KEY_P, dhchapDhgroups: ['null', 'ffdhe2048'] }).catch((x: unknown) => x);
    expect((g as NvmeAuthError).explanation).toBe(AuthFailure.DhgroupUnusable);
  });
});

describe('refusals', () => {
  it('wrong host key: AUTH_Failure1 (Authentication Failed), the controller is torn down', async () => {
    const before = counters();
    const e = await connect({ hostnqn: HOST_A, dhchapKey: OTHER_KEY }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NvmeAuthError);
    expect((e as NvmeAuthError).explanation).toBe(AuthFailure.Failed);
    expect((e as Error).message).toMatch(/qid 0: DH-HMAC-CHAP authentication failed: the controller refused: authentication failed/);
    expect(counters().bad - before.bad).toBe(1);
    for (let i = 0; i < 100 && [...subsys().controllers.values()].some((c) => c.hostnqn === HOST_A); i++) await sleep(10);
    expect([...subsys().controllers.values()].some((c) => c.hostnqn === HOST_A)).toBe(false);
    await stillServes();
  });

  it('wrong controller key on the host: the host refuses the controller (AUTH_Failure2) and the target tears down', async () => {
    const before = counters();
    const e = await connect({ hostnqn: HOST_B, dhchapKey: KEY_B, dhchapCtrlKey: OTHER_KEY }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NvmeAuthError);
    expect((e as Error).message).toMatch(/controller response mismatch/);
    for (let i = 0; i < 100 && counters().bad === before.bad; i++) await sleep(10);
    expect(counters().bad - before.bad).toBe(1);
    await stillServes();
  });

  it('bidirectional asked of a host entry with no dhchap_ctrl_key fails', async () => {
    const e = await connect({ hostnqn: HOST_A, dhchapKey: KEY_A, dhchapCtrlKey: CTRL_KEY_B }).catch((x: unknown) => x);
    expect((e as NvmeAuthError).explanation).toBe(AuthFailure.Failed);
  });

  it('a host without a key on an entry that has one cannot get past Connect', async () => {
    const e = await connect({ hostnqn: HOST_A }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NvmeAuthError);
    expect((e as Error).message).toMatch(/requires authentication .* no dhchapKey/);
  });

  it('before authentication every other command gets Authentication Required (SCT 1, SC 91h, DNR)', async () => {
    const c = await RawClient.connect(port);
    const r = await c.connect({ subnqn: SUB, hostnqn: HOST_A });
    expect(r.status).toBe(0);
    expect(r.dw0 & CONNECT_AUTHREQ_ATR).toBe(CONNECT_AUTHREQ_ATR);
    const cntlid = r.dw0 & 0xffff;
    const pg = await c.propertyGet(Property.CAP, true);
    expect(sc(pg.status)).toEqual(AUTH_REQUIRED);
    expect(STATUS_DNR(pg.status)).toBe(true);
    expect(sc((await c.propertySet(Property.CC, 1)).status)).toEqual(AUTH_REQUIRED);
    expect(sc((await c.identify(IdentifyCns.Controller)).cqe.status)).toEqual(AUTH_REQUIRED);
    expect(subsys().controllers.get(cntlid)?.ready).toBe(false);
    await c.close();
  });

  it('an I/O queue authenticates on its own: I/O before that is refused', async () => {
    const h = await connect({ hostnqn: HOST_A, dhchapKey: KEY_A, ioQueues: 2 });
    // Free qid 2 for a raw connection of our own.
    await h.ioQueues.pop()!.close();
    const ctrl = subsys().controllers.get(h.cntlid)!;
    for (let i = 0; i < 100 && ctrl.queues.has(2); i++) await sleep(10);
    const q = await RawClient.connect(port);
    const r = await q.connect({ subnqn: SUB, hostnqn: HOST_A, qid: 2, sqsize: 31, cntlid: h.cntlid });
    expect(r.status).toBe(0);
    expect(r.dw0 & CONNECT_AUTHREQ_ATR).toBe(CONNECT_AUTHREQ_ATR);
    const rd = await q.exec({ cid: 0, opcode: 0x02, nsid: 1, cdw10: 0, cdw12: 0 }, { readLength: 512 });
    expect(sc(rd.cqe.status)).toEqual(AUTH_REQUIRED);
    await q.close();
    await verifyIo(h); // the authenticated queues are unaffected
    await h.disconnect();
  });

  it('a host not configured for authentication is unaffected (no AUTHREQ, AUTH_Send is Invalid Opcode)', async () => {
    const h = await connect({ hostnqn: HOST_C, ioQueues: 1 });
    await verifyIo(h);
    await h.disconnect();
    const c = await RawClient.connect(port);
    const r = await c.connect({ subnqn: SUB, hostnqn: HOST_C });
    expect(r.dw0 & CONNECT_AUTHREQ_ATR).toBe(0);
    const neg = encodeNegotiate(1, [{ authid: 1, hashes: [1], dhgroups: [0] }]);
    const s = await c.exec(encodeAuthSendSqe(0, neg.length), { data: neg, inCapsule: true });
    expect(s.cqe.status).toBe(Status.InvalidOpcode);
    await c.close();
  });

  it('as nvmet, allow_any_host subsystems and discovery do not authenticate', async () => {
    const h = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: OPEN, hostnqn: HOST_A, kato: 0, ioQueues: 1 });
    await verifyIo(h);
    await h.disconnect();
  });

  it('a host asking to authenticate the controller refuses a target that does not authenticate', async () => {
    const e = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: OPEN, hostnqn: HOST_B, kato: 0, dhchapKey: KEY_B, dhchapCtrlKey: CTRL_KEY_B }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NvmeAuthError);
  });
});

describe('malformed messages', () => {
  /** Admin queue connected for HOST_A, not authenticated yet. */
  async function rawAdmin(): Promise<{ c: RawClient; cntlid: number }> {
    const c = await RawClient.connect(port);
    const r = await c.connect({ subnqn: SUB, hostnqn: HOST_A });
    expect(r.status).toBe(0);
    return { c, cntlid: r.dw0 & 0xffff };
  }
  const send = (c: RawClient, msg: Buffer, tl = msg.length) => c.exec(encodeAuthSendSqe(0, tl), { data: msg, inCapsule: true });
  const receive = async (c: RawClient, al = 4096) => {
    const r = await c.exec(encodeAuthReceiveSqe(0, al), { readLength: al });
    return { status: r.cqe.status, msg: r.cqe.status === 0 ? decodeAuthMessage(r.data) : null };
  };
  const negotiate = (tid = 1, o: { authid?: number; hashes?: number[]; dhgroups?: number[]; scC?: number } = {}) =>
    encodeNegotiate(tid, [{ authid: o.authid ?? 1, hashes: o.hashes ?? [1], dhgroups: o.dhgroups ?? [0] }], o.scC ?? 0);

  /** The failure1 the controller answers after a bad AUTH_Send, and the controller goes. */
  async function expectFailure1(c: RawClient, cntlid: number, explanation: number): Promise<void> {
    const r = await receive(c);
    expect(r.status).toBe(0);
    expect(r.msg).toMatchObject({ kind: 'failure1', rescode: 1, explanation });
    expect(await gone(cntlid)).toBe(true);
    await c.closed;
  }

  it('bad SECP, SPSP0/1, zero TL/AL: Invalid Field; TL not the SGL length: Data SGL Length Invalid', async () => {
    const { c } = await rawAdmin();
    const neg = negotiate();
    for (const [off, v] of [[43, 0xea], [41, 0], [42, 2]] as const) {
      const sqe = encodeAuthSendSqe(0, neg.length);
      sqe[off] = v;
      expect((await c.exec(sqe, { data: neg, inCapsule: true })).cqe.status).toBe(Status.InvalidField);
      const rsqe = encodeAuthReceiveSqe(0, 64);
      rsqe[off] = v;
      expect((await c.exec(rsqe, { readLength: 64 })).cqe.status).toBe(Status.InvalidField);
    }
    expect((await send(c, neg, 0)).cqe.status).toBe(Status.InvalidField);
    expect((await send(c, neg, neg.length + 4)).cqe.status).toBe(Status.DataSglLengthInvalid);
    // None of that was a protocol message: the transaction can still start and succeed... up to the key.
    expect((await send(c, neg)).cqe.status).toBe(0);
    const ch = await receive(c, 20); // too small for a SHA-256 challenge: retry allowed
    expect(ch.status).toBe(Status.InvalidField);
    const ok = await receive(c);
    expect(ok.msg?.kind).toBe('challenge');
    await c.close();
  });

  it.each([
    ['an unknown AUTHID', () => negotiate(3, { authid: 9 }), AuthFailure.IncorrectPayload],
    ['secure channel concatenation', () => negotiate(3, { scC: 1 }), AuthFailure.ConcatMismatch],
    ['no hash the target knows', () => negotiate(3, { hashes: [7, 8] }), AuthFailure.HashUnusable],
    ['no DH group the target knows', () => negotiate(3, { dhgroups: [9] }), AuthFailure.DhgroupUnusable],
    ['two protocol descriptors', () => encodeNegotiate(3, [{ authid: 1, hashes: [1], dhgroups: [0] }, { authid: 1, hashes: [1], dhgroups: [0] }]), AuthFailure.HashUnusable],
    ['a truncated negotiate', () => negotiate(3).subarray(0, 20), AuthFailure.IncorrectPayload],
    ['an unknown message type', () => Buffer.from('7700000003000000', 'hex'), AuthFailure.IncorrectMessage],
    ['a reply before any negotiate', () => encodeReply({ tid: 3, rval: Buffer.alloc(32), cvalid: false, seqnum: 0 }), AuthFailure.IncorrectMessage],
  ])('%s: AUTH_Failure1 with the right explanation, controller torn down, daemon fine', async (_name, msg, explanation) => {
    const { c, cntlid } = await rawAdmin();
    expect((await send(c, msg())).cqe.status).toBe(0);
    await expectFailure1(c, cntlid, explanation);
    await stillServes();
  });

  it('reply with the wrong transaction id, bad HL, or a wrong response', async () => {
    for (const [mut, explanation] of [
      [(tid: number) => encodeReply({ tid: tid + 1, rval: Buffer.alloc(32), cvalid: false, seqnum: 0 }), AuthFailure.IncorrectPayload],
      [(tid: number) => encodeReply({ tid, rval: Buffer.alloc(48), cvalid: false, seqnum: 0 }), AuthFailure.IncorrectPayload],
      [(tid: number) => encodeReply({ tid, rval: Buffer.alloc(32, 0xab), cvalid: false, seqnum: 0 }), AuthFailure.Failed],
      [(tid: number) => encodeReply({ tid, rval: Buffer.alloc(32), cvalid: false, seqnum: 0, dhv: Buffer.alloc(8) }), AuthFailure.IncorrectPayload],
    ] as const) {
      const { c, cntlid } = await rawAdmin();
      expect((await send(c, negotiate(40))).cqe.status).toBe(0);
      expect((await receive(c)).msg?.kind).toBe('challenge');
      expect((await send(c, mut(40))).cqe.status).toBe(0);
      await expectFailure1(c, cntlid, explanation);
    }
    await stillServes();
  });

  it('a DH value out of range (ffdhe2048) is refused', async () => {
    const { c, cntlid } = await rawAdmin();
    expect((await send(c, negotiate(5, { dhgroups: [1] }))).cqe.status).toBe(0);
    const ch = await receive(c);
    expect(ch.msg).toMatchObject({ kind: 'challenge', dhgid: 1 });
    expect((await send(c, encodeReply({ tid: 5, rval: Buffer.alloc(32), cvalid: false, seqnum: 0, dhv: Buffer.alloc(256) }))).cqe.status).toBe(0);
    await expectFailure1(c, cntlid, AuthFailure.IncorrectPayload);
  });

  it('AUTH_Receive out of sequence answers AUTH_Failure1 (Incorrect Protocol Message)', async () => {
    const { c, cntlid } = await rawAdmin();
    await expectFailure1(c, cntlid, AuthFailure.IncorrectMessage);
  });

  it('AUTH_Failure2 from the host ends it; garbage in every field never takes the daemon down', async () => {
    const { c, cntlid } = await rawAdmin();
    expect((await send(c, negotiate(6))).cqe.status).toBe(0);
    expect((await send(c, encodeFailure(AuthMsg.Failure2, 6, AuthFailure.Failed))).cqe.status).toBe(0);
    expect(await gone(cntlid)).toBe(true);
    // Random messages of random sizes on fresh queues.
    let seed = 12345;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let i = 0; i < 20; i++) {
      const q = await rawAdmin();
      const m = Buffer.from(Array.from({ length: 1 + rnd(300) }, () => rnd(256)));
      if (i % 2) m[0] = rnd(2); // often a valid type
      const s = await send(q.c, m).catch(() => null);
      if (s) await receive(q.c).catch(() => null);
      await q.c.close();
    }
    await stillServes();
  });
});

describe('metrics', () => {
  it('nvmf_emu_auth_total{result} counts successes and failures', async () => {
    const d = t.daemon;
    const reg = createMetricsRegistry({ target: d.target, engine: d.engine, connections: () => d.connections(), listeners: () => [] });
    const scrape = parsePrometheusText(await reg.metrics());
    expect(scrape.types.get('nvmf_emu_auth_total')).toBe('counter');
    expect(scrape.sum('nvmf_emu_auth_total', { result: 'success' })).toBe(counters().ok);
    expect(scrape.sum('nvmf_emu_auth_total', { result: 'failure' })).toBe(counters().bad);
    expect(counters().ok).toBeGreaterThan(20);
    expect(counters().bad).toBeGreaterThan(10);
  });
});
