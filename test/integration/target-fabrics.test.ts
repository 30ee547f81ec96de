// Fabrics commands over real TCP: Connect (admin and I/O, and every way it can be refused, with
// the offending field's offset in dword 0), Property Get/Set, command ordering rules.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminOpcode, FabricsType, NVME_VERSION, SglId } from '../../src/protocol/constants.js';
import { encodeConnectData, encodeConnectSqe } from '../../src/protocol/fabrics.js';
import { encodeSqe } from '../../src/protocol/sqe.js';
import { RawClient, STATUS_DNR, STATUS_SC, STATUS_SCT } from './helpers/raw-client.js';
import { openController, startTarget, type TestTarget } from './helpers/target.js';

const OPEN = 'nqn.2024-01.io.nvmf-emu:fabrics-open';
const RESTRICTED = 'nqn.2024-01.io.nvmf-emu:fabrics-restricted';
const OTHER_PORT = 'nqn.2024-01.io.nvmf-emu:fabrics-other-port';
const ALLOWED = 'nqn.2014-08.org.nvmexpress:uuid:aaaaaaaa-0000-0000-0000-000000000001';
const STRANGER = 'nqn.2014-08.org.nvmexpress:uuid:bbbbbbbb-0000-0000-0000-000000000002';

const ns = [{ nsid: 1, emulation: { type: 'nvm' as const, capacity: '8MiB' } }];
let t: TestTarget;
let port: number;

beforeAll(async () => {
  t = await startTarget({
    hosts: [{ nqn: ALLOWED }],
    ports: [
      { portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [OPEN, RESTRICTED] },
      { portid: 2, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4421 }, subsystems: [OTHER_PORT] },
    ],
    subsystems: [
      { nqn: OPEN, attr: { allow_any_host: 1 }, namespaces: ns },
      { nqn: RESTRICTED, attr: { allow_any_host: 0 }, allowed_hosts: [ALLOWED], namespaces: ns },
      { nqn: OTHER_PORT, attr: { allow_any_host: 1 }, namespaces: ns },
    ],
  });
  port = t.port(1);
});

afterAll(async () => {
  await t?.stop();
});

const sc = (status: number): [number, number] => [STATUS_SCT(status), STATUS_SC(status)];

describe('Connect refusals carry the Connect status and the offending field', () => {
  it('unknown subsystem NQN -> SCT 1 SC 82h (Invalid Parameters), dw0 = data offset 256 (SUBNQN)', async () => {
    const c = await RawClient.connect(port);
    const r = await c.connect({ subnqn: 'nqn.2024-01.io.nvmf-emu:no-such-thing', hostnqn: ALLOWED });
    expect(sc(r.status)).toEqual([1, 0x82]);
    expect(STATUS_DNR(r.status)).toBe(true);
    expect(r.dw0).toBe((1 << 16) | 256);
    // The queue is still unconnected and usable for another Connect.
    const ok = await c.connect({ subnqn: OPEN, hostnqn: ALLOWED });
    expect(ok.status).toBe(0);
    await c.close();
  });

  it('a subsystem not exported on this port is unknown here', async () => {
    const c = await RawClient.connect(port);
    const r = await c.connect({ subnqn: OTHER_PORT, hostnqn: ALLOWED });
    expect(sc(r.status)).toEqual([1, 0x82]);
    expect(r.dw0).toBe((1 << 16) | 256);
    await c.close();
    const c2 = await RawClient.connect(t.port(2));
    expect((await c2.connect({ subnqn: OTHER_PORT, hostnqn: ALLOWED })).status).toBe(0);
    await c2.close();
  });

  it('host not in allowed_hosts -> SCT 1 SC 84h (Invalid Host), dw0 = data offset 512 (HOSTNQN)', async () => {
    const c = await RawClient.connect(port);
    const r = await c.connect({ subnqn: RESTRICTED, hostnqn: STRANGER });
    expect(sc(r.status)).toEqual([1, 0x84]);
    expect(STATUS_DNR(r.status)).toBe(true);
    expect(r.dw0).toBe((1 << 16) | 512);
    await c.close();
    const c2 = await RawClient.connect(port);
    const ok = await c2.connect({ subnqn: RESTRICTED, hostnqn: ALLOWED });
    expect(ok.status).toBe(0);
    expect(ok.dw0 & 0xffff).toBeGreaterThan(0);
    await c2.close();
  });

  it('I/O queue Connect naming an unknown controller -> SC 82h, dw0 = data offset 16 (CNTLID)', async () => {
    const c = await RawClient.connect(port);
    const r = await c.connect({ subnqn: OPEN, hostnqn: ALLOWED, qid: 1, cntlid: 0x4321 });
    expect(sc(r.status)).toEqual([1, 0x82]);
    expect(r.dw0).toBe((1 << 16) | 16);
    await c.close();
  });

  it('SQSIZE 0 -> SC 82h, dw0 = SQE offset 44 (SQSIZE)', async () => {
    const c = await RawClient.connect(port);
    const r = await c.connect({ subnqn: OPEN, hostnqn: ALLOWED, sqsize: 0 });
    expect(sc(r.status)).toEqual([1, 0x82]);
    expect(r.dw0).toBe(44);
    await c.close();
  });

  it('I/O Connect: before CC.EN -> Command Sequence Error; qid beyond the granted queues -> SC 82h at offset 42 (QID); qid in use -> Command Sequence Error', async () => {
    const ctl = await openController(port, { subnqn: OPEN, hostnqn: ALLOWED, enable: false });
    const early = await RawClient.connect(port);
    expect(sc((await early.connect({ subnqn: OPEN, hostnqn: ALLOWED, qid: 1, cntlid: ctl.cntlid })).status)).toEqual([0, 0x0c]);
    await early.close();
    expect((await ctl.admin.enable()).status).toBe(0);
    expect((await ctl.admin.setFeatures(0x07, 0x00010001)).dw0).toBe(0x00010001); // 2 queues
    const q3 = await RawClient.connect(port);
    const r3 = await q3.connect({ subnqn: OPEN, hostnqn: ALLOWED, qid: 3, cntlid: ctl.cntlid });
    expect(sc(r3.status)).toEqual([1, 0x82]);
    expect(r3.dw0).toBe(42);
    const q1 = await RawClient.connect(port);
    const r1 = await q1.connect({ subnqn: OPEN, hostnqn: ALLOWED, qid: 1, cntlid: ctl.cntlid });
    expect(r1.status).toBe(0);
    expect(r1.dw0 & 0xffff).toBe(ctl.cntlid);
    const dup = await RawClient.connect(port);
    expect(sc((await dup.connect({ subnqn: OPEN, hostnqn: ALLOWED, qid: 1, cntlid: ctl.cntlid })).status)).toEqual([0, 0x0c]);
    // A different host NQN cannot attach a queue to this controller.
    const other = await RawClient.connect(port);
    const ro = await other.connect({ subnqn: OPEN, hostnqn: STRANGER, qid: 2, cntlid: ctl.cntlid });
    expect(sc(ro.status)).toEqual([1, 0x82]);
    expect(ro.dw0).toBe((1 << 16) | 512);
    await Promise.all([q3.close(), q1.close(), dup.close(), other.close(), ctl.close()]);
  });

  it('each admin Connect gets its own controller ID in dw0', async () => {
    const a = await openController(port, { subnqn: OPEN, hostnqn: ALLOWED, enable: false });
    const b = await openController(port, { subnqn: OPEN, hostnqn: ALLOWED, enable: false });
    expect(a.cntlid).toBeGreaterThanOrEqual(1);
    expect(a.cntlid).toBeLessThanOrEqual(0xffef);
    expect(b.cntlid).not.toBe(a.cntlid);
    await Promise.all([a.close(), b.close()]);
  });

  it('RECFMT other than 0 -> SC 80h (Incompatible Format)', async () => {
    const c = await RawClient.connect(port);
    const sqe = encodeConnectSqe({ cid: 0, qid: 0, sqsize: 31, kato: 0, recfmt: 1 });
    const data = encodeConnectData({ hostid: Buffer.alloc(16, 1), cntlid: 0xffff, subnqn: OPEN, hostnqn: ALLOWED });
    const r = await c.exec(sqe, { data, inCapsule: true });
    expect(sc(r.cqe.status)).toEqual([1, 0x80]);
    await c.close();
  });
});

describe('command ordering', () => {
  it('anything but Connect on an unconnected queue -> Invalid Opcode', async () => {
    const c = await RawClient.connect(port);
    const id = await c.identify(1);
    expect(sc(id.cqe.status)).toEqual([0, 0x01]);
    expect(id.c2h.length).toBe(0);
    const pg = await c.propertyGet(0x08, false);
    expect(sc(pg.status)).toEqual([0, 0x01]);
    const io = await c.exec({ opcode: 0x02, cid: 0, nsid: 1, cdw12: 0 }, { readLength: 512 });
    expect(sc(io.cqe.status)).toEqual([0, 0x01]);
    expect(c.isOpen).toBe(true);
    await c.close();
  });

  it('admin commands before CC.EN -> Command Sequence Error; Property Get/Set are allowed', async () => {
    const ctl = await openController(port, { subnqn: OPEN, hostnqn: ALLOWED, enable: false });
    const a = ctl.admin;
    const id = await a.identify(1);
    expect(sc(id.cqe.status)).toEqual([0, 0x0c]);
    expect(id.c2h.length).toBe(0);
    expect(sc((await a.getFeatures(0x07)).status)).toEqual([0, 0x0c]);
    expect(sc((await a.getLogPage(0x02, 512, { nsid: 0xffffffff })).cqe.status)).toEqual([0, 0x0c]);
    expect((await a.propertyGet(0x1c, false)).status).toBe(0);
    expect((await a.enable()).status).toBe(0);
    expect((await a.identify(1)).cqe.status).toBe(0);
    await ctl.close();
  });

  it('a second Connect on a connected queue -> Command Sequence Error', async () => {
    const ctl = await openController(port, { subnqn: OPEN, hostnqn: ALLOWED, enable: false });
    const r = await ctl.admin.connect({ subnqn: OPEN, hostnqn: ALLOWED });
    expect(sc(r.status)).toEqual([0, 0x0c]);
    await ctl.close();
  });
});

describe('properties', () => {
  it('CAP (8 bytes), VS, CC, CSTS before and after CC.EN', async () => {
    const ctl = await openController(port, { subnqn: OPEN, hostnqn: ALLOWED, enable: false });
    const a = ctl.admin;
    const cap = await a.propertyGet(0x00, true);
    expect(cap.status).toBe(0);
    const v = BigInt(cap.dw0 >>> 0) | (BigInt(cap.dw1 >>> 0) << 32n);
    expect(Number(v & 0xffffn)).toBe(1023); // MQES: 1024 entries, zero-based
    expect((v >> 16n) & 1n).toBe(1n); // CQR
    expect(Number((v >> 24n) & 0xffn)).toBe(15); // TO: 7.5 s
    expect((v >> 37n) & 1n).toBe(1n); // CSS: NVM command set
    expect((v >> 43n) & 1n).toBe(1n); // CSS: I/O command sets
    expect(Number((v >> 48n) & 0xfn)).toBe(0); // MPSMIN 4 KiB
    expect(Number((v >> 52n) & 0xfn)).toBe(0); // MPSMAX 4 KiB
    // CAP is an 8-byte property: a 4-byte read is an invalid field.
    expect(sc((await a.propertyGet(0x00, false)).status)).toEqual([0, 0x02]);
    const vs = await a.propertyGet(0x08, false);
    expect(vs.status).toBe(0);
    expect(vs.dw0 >>> 0).toBe(0x00020000);
    expect(vs.dw0 >>> 0).toBe(NVME_VERSION);
    expect((await a.propertyGet(0x1c, false)).dw0).toBe(0); // CSTS: not ready
    expect((await a.propertyGet(0x14, false)).dw0).toBe(0); // CC
    const cc = 1 | (6 << 4) | (6 << 16) | (4 << 20);
    expect((await a.propertySet(0x14, cc)).status).toBe(0);
    expect((await a.propertyGet(0x14, false)).dw0 >>> 0).toBe(cc);
    expect((await a.propertyGet(0x1c, false)).dw0).toBe(1); // CSTS.RDY
    // Unknown property offset, and writing a read-only property.
    expect(sc((await a.propertyGet(0x04, false)).status)).toEqual([0, 0x02]);
    expect(sc((await a.propertySet(0x1c, 0)).status)).toEqual([0, 0x02]);
    await ctl.close();
  });

  it('CC.SHN = 01b -> CSTS.SHST = 10b (shutdown complete); clearing SHN clears SHST', async () => {
    const ctl = await openController(port, { subnqn: OPEN, hostnqn: ALLOWED });
    const a = ctl.admin;
    const en = 1 | (6 << 4) | (6 << 16) | (4 << 20);
    expect((await a.propertySet(0x14, en | (1 << 14))).status).toBe(0);
    const csts = (await a.propertyGet(0x1c, false)).dw0;
    expect((csts >> 2) & 3).toBe(2);
    expect(csts & 2).toBe(0); // no CFS
    expect((await a.propertySet(0x14, en)).status).toBe(0);
    expect(((await a.propertyGet(0x1c, false)).dw0 >> 2) & 3).toBe(0);
    await ctl.close();
  });

  it('CC.EN with an unsupported MPS sets CSTS.CFS instead of RDY', async () => {
    const ctl = await openController(port, { subnqn: OPEN, hostnqn: ALLOWED, enable: false });
    const bad = 1 | (6 << 4) | (1 << 7) | (6 << 16) | (4 << 20); // MPS = 1 (8 KiB)
    expect((await ctl.admin.propertySet(0x14, bad)).status).toBe(0);
    const csts = (await ctl.admin.propertyGet(0x1c, false)).dw0;
    expect(csts & 2).toBe(2);
    expect(csts & 1).toBe(0);
    await ctl.close();
  });
});

describe('Disconnect', () => {
  it('completes on an I/O queue, then that connection closes; the controller lives on', async () => {
    const ctl = await openController(port, { subnqn: OPEN, hostnqn: ALLOWED, ioQueues: 1 });
    const q = ctl.io[0]!;
    const sqe = encodeSqe({ opcode: AdminOpcode.Fabrics, cid: 0, sgl: { length: 0, type: SglId.TransportDataBlock } });
    sqe[4] = FabricsType.Disconnect;
    const r = await q.exec(sqe, { keepSgl: true });
    expect(r.cqe.status).toBe(0);
    await q.closed;
    expect((await ctl.admin.identify(1)).cqe.status).toBe(0);
    // The qid is free again.
    const q2 = await RawClient.connect(port);
    expect((await q2.connect({ subnqn: OPEN, hostnqn: ALLOWED, qid: 1, cntlid: ctl.cntlid })).status).toBe(0);
    await q2.close();
    await ctl.close();
  });

  it('closing the admin queue removes the controller (its ID is unknown to a later I/O Connect)', async () => {
    const ctl = await openController(port, { subnqn: OPEN, hostnqn: ALLOWED });
    await ctl.admin.close();
    // Wait until the target has processed the close (the controller leaves the subsystem map).
    const subsys = t.daemon.target.subsystems.get(OPEN)!;
    for (let i = 0; i < 200 && subsys.controllers.has(ctl.cntlid); i++) await new Promise((r) => setTimeout(r, 10));
    const q = await RawClient.connect(port);
    const r = await q.connect({ subnqn: OPEN, hostnqn: ALLOWED, qid: 1, cntlid: ctl.cntlid });
    expect(sc(r.status)).toEqual([1, 0x82]);
    expect(r.dw0).toBe((1 << 16) | 16);
    await q.close();
  });
});
