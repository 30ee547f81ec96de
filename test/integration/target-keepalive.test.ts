// Keep-alive over real TCP: a controller whose host goes silent for KATO is torn down (all its
// connections close and its controller ID is gone); one that keeps talking is not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminOpcode } from '../../src/protocol/constants.js';
import { RawClient, STATUS_SC, STATUS_SCT } from './helpers/raw-client.js';
import { openController, sleep, startTarget, type TestTarget } from './helpers/target.js';

const SUBNQN = 'nqn.2024-01.io.nvmf-emu:target-keepalive';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:ffffffff-0000-0000-0000-00000000000f';
/** Generous bound on "closes within a few seconds" for KATO = 1 s. */
const BOUND_MS = 10_000;

let t: TestTarget;
let port: number;

beforeAll(async () => {
  t = await startTarget({
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [SUBNQN] }],
    subsystems: [{ nqn: SUBNQN, attr: { allow_any_host: 1 }, namespaces: [{ nsid: 1, emulation: { type: 'nvm', capacity: '4MiB' } }] }],
  });
  port = t.port();
});

afterAll(async () => {
  await t?.stop();
});

/** Resolves true when `p` settles within `ms`, false otherwise. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([p.then(() => true), new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms)))]);
  clearTimeout(timer);
  return r;
}

describe('keep-alive', () => {
  it('KATO 1000 ms and a silent host: admin and I/O connections close, the controller is gone', async () => {
    const before = t.daemon.target.counters.keepAliveTimeouts;
    const ctl = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN, kato: 1000, ioQueues: 1 });
    expect(await within(Promise.all([ctl.admin.closed, ctl.io[0]!.closed]), BOUND_MS)).toBe(true);
    expect(t.daemon.target.counters.keepAliveTimeouts).toBe(before + 1);
    expect(t.daemon.target.subsystems.get(SUBNQN)!.controllers.has(ctl.cntlid)).toBe(false);
    const q = await RawClient.connect(port);
    const r = await q.connect({ subnqn: SUBNQN, hostnqn: HOSTNQN, qid: 1, cntlid: ctl.cntlid });
    expect([STATUS_SCT(r.status), STATUS_SC(r.status)]).toEqual([1, 0x82]);
    expect(r.dw0).toBe((1 << 16) | 16);
    await q.close();
  });

  it('a KATO beyond Node timers (2^31 ms and more) does not expire a silent controller early', async () => {
    // Found by the fuzzer: setInterval(2^31) fires after 1 ms.
    const before = t.daemon.target.counters.keepAliveTimeouts;
    const ctl = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN, kato: 0xfffffff0 });
    await sleep(300);
    expect(ctl.admin.isOpen).toBe(true);
    expect(t.daemon.target.subsystems.get(SUBNQN)!.controllers.has(ctl.cntlid)).toBe(true);
    expect(t.daemon.target.counters.keepAliveTimeouts).toBe(before);
    await ctl.close();
  });

  it('a silent controller that never enabled is torn down as well', async () => {
    const ctl = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN, kato: 1000, enable: false });
    expect(await within(ctl.admin.closed, BOUND_MS)).toBe(true);
  });

  it('Keep Alive commands every 250 ms keep a KATO 1000 ms controller connected', async () => {
    const ctl = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN, kato: 1000 });
    for (let i = 0; i < 10; i++) {
      await sleep(250);
      const r = await ctl.admin.exec({ opcode: AdminOpcode.KeepAlive, cid: 0 });
      expect(r.cqe.status).toBe(0);
    }
    expect(ctl.admin.isOpen).toBe(true);
    await ctl.close();
  });

  it('KATO 0: no keep-alive timer, the controller stays', async () => {
    const ctl = await openController(port, { subnqn: SUBNQN, hostnqn: HOSTNQN, kato: 0 });
    expect(await within(ctl.admin.closed, 2500)).toBe(false);
    expect((await ctl.admin.identify(1)).cqe.status).toBe(0);
    await ctl.close();
  });
});
