// Discovery over real TCP: the discovery log page read through the discovery NQN, in pieces
// by LPO, filtered by host and port, never advertising a wildcard address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISCOVERY_NQN } from '../../src/protocol/constants.js';
import { RawClient, STATUS_SC, STATUS_SCT } from './helpers/raw-client.js';
import { openController, startTarget, type TestTarget } from './helpers/target.js';

const PUBLIC = 'nqn.2024-01.io.nvmf-emu:disc-public';
const RESTRICTED = 'nqn.2024-01.io.nvmf-emu:disc-restricted';
const WILD_ONLY = 'nqn.2024-01.io.nvmf-emu:disc-wildcard-port-only';
const HOST_A = 'nqn.2014-08.org.nvmexpress:uuid:eeeeeeee-0000-0000-0000-00000000000a';
const STRANGER = 'nqn.2014-08.org.nvmexpress:uuid:eeeeeeee-0000-0000-0000-00000000000b';

const ns = [{ nsid: 1, emulation: { type: 'nvm' as const, capacity: '4MiB' } }];
let t: TestTarget;

beforeAll(async () => {
  t = await startTarget({
    hosts: [{ nqn: HOST_A }],
    ports: [
      { portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [PUBLIC, RESTRICTED] },
      { portid: 7, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '0.0.0.0', trsvcid: 4421 }, subsystems: [PUBLIC, RESTRICTED, WILD_ONLY] },
    ],
    subsystems: [
      { nqn: PUBLIC, attr: { allow_any_host: 1 }, namespaces: ns },
      { nqn: RESTRICTED, attr: { allow_any_host: 0 }, allowed_hosts: [HOST_A], namespaces: ns },
      { nqn: WILD_ONLY, attr: { allow_any_host: 1 }, namespaces: ns },
    ],
  });
});

afterAll(async () => {
  await t?.stop();
});

interface Entry {
  trtype: number;
  adrfam: number;
  subtype: number;
  portid: number;
  cntlid: number;
  asqsz: number;
  trsvcid: string;
  subnqn: string;
  traddr: string;
  raw: Buffer;
}

function entry(b: Buffer): Entry {
  const nul = b.indexOf(0, 256);
  return {
    trtype: b[0]!,
    adrfam: b[1]!,
    subtype: b[2]!,
    portid: b.readUInt16LE(4),
    cntlid: b.readUInt16LE(6),
    asqsz: b.readUInt16LE(8),
    trsvcid: b.toString('latin1', 32, 64),
    subnqn: b.toString('utf8', 256, nul),
    traddr: b.toString('latin1', 512, 768),
    raw: b,
  };
}

/** Discovery controller: Connect to the discovery NQN, CC.EN. */
async function discoveryController(port: number, hostnqn: string, host = '127.0.0.1'): Promise<RawClient> {
  const c = await openController(port, { subnqn: DISCOVERY_NQN, hostnqn, host });
  return c.admin;
}

/** Header first, then the entries from LPO 1024 in `piece`-byte reads. */
async function readLogInPieces(c: RawClient, piece: number): Promise<{ genctr: bigint; numrec: number; recfmt: number; entries: Entry[]; bytes: Buffer }> {
  const hdr = await c.getLogPage(0x70, 1024);
  expect(hdr.cqe.status).toBe(0);
  const numrec = Number(hdr.data.readBigUInt64LE(8));
  const parts: Buffer[] = [hdr.data];
  for (let off = 1024; off < 1024 + numrec * 1024; off += piece) {
    const r = await c.getLogPage(0x70, piece, { offset: off });
    expect(r.cqe.status).toBe(0);
    parts.push(r.data);
  }
  const bytes = Buffer.concat(parts);
  const entries: Entry[] = [];
  for (let i = 0; i < numrec; i++) entries.push(entry(bytes.subarray(1024 + i * 1024, 2048 + i * 1024)));
  return { genctr: hdr.data.readBigUInt64LE(0), numrec, recfmt: hdr.data.readUInt16LE(16), entries, bytes };
}

const pad = (s: string, n: number): string => s + ' '.repeat(n - s.length);

describe('discovery log page', () => {
  it('header, then entries from offset 1024 in pieces; byte-identical to one whole read', async () => {
    const port = t.port(1);
    const c = await discoveryController(port, STRANGER);
    const log = await readLogInPieces(c, 256);
    expect(log.genctr).toBeGreaterThanOrEqual(1n);
    expect(log.recfmt).toBe(0);
    expect(log.numrec).toBe(2); // the current discovery subsystem + PUBLIC
    expect(log.bytes.subarray(18, 1024).equals(Buffer.alloc(1024 - 18))).toBe(true);
    const whole = await c.getLogPage(0x70, 1024 + log.numrec * 1024);
    expect(whole.data.equals(log.bytes)).toBe(true);

    const [disc, pub] = log.entries;
    expect(disc!.subtype).toBe(3); // current discovery subsystem
    expect(disc!.subnqn).toBe(DISCOVERY_NQN);
    expect(pub!.subtype).toBe(2); // NVM subsystem
    expect(pub!.subnqn).toBe(PUBLIC);
    for (const e of log.entries) {
      expect(e.trtype).toBe(3);
      expect(e.adrfam).toBe(1);
      expect(e.portid).toBe(1);
      expect(e.cntlid).toBe(0xffff);
      expect(e.asqsz).toBe(32);
      expect(e.trsvcid).toBe(pad(String(port), 32));
      expect(e.traddr).toBe(pad('127.0.0.1', 256));
      // SUBNQN is NUL padded to 256 bytes.
      expect(e.raw.subarray(256 + Buffer.byteLength(e.subnqn), 512).equals(Buffer.alloc(256 - Buffer.byteLength(e.subnqn)))).toBe(true);
    }
    await c.close();
  });

  it('a restricted subsystem is absent for an unlisted host and present for a listed one', async () => {
    const port = t.port(1);
    const s = await discoveryController(port, STRANGER);
    const strangers = (await readLogInPieces(s, 1024)).entries.map((e) => e.subnqn);
    expect(strangers).not.toContain(RESTRICTED);
    expect(strangers).toContain(PUBLIC);
    const h = await discoveryController(port, HOST_A);
    const listed = (await readLogInPieces(h, 512)).entries.map((e) => e.subnqn);
    expect(listed).toContain(RESTRICTED);
    expect(listed).toContain(PUBLIC);
    // Only subsystems exported on the port the host asked through.
    expect(listed).not.toContain(WILD_ONLY);
    await Promise.all([s.close(), h.close()]);
  });

  it('a port listening on 0.0.0.0 advertises the address the host connected to, never 0.0.0.0', async () => {
    const port = t.port(7);
    for (const host of process.platform === 'linux' ? ['127.0.0.1', '127.0.0.2'] : ['127.0.0.1']) {
      const c = await discoveryController(port, HOST_A, host);
      const log = await readLogInPieces(c, 1024);
      expect(log.entries.map((e) => e.subnqn).sort()).toEqual([DISCOVERY_NQN, PUBLIC, RESTRICTED, WILD_ONLY].sort());
      for (const e of log.entries) {
        expect(e.traddr).toBe(pad(host, 256));
        expect(e.traddr).not.toContain('0.0.0.0');
        expect(e.portid).toBe(7);
        expect(e.trsvcid).toBe(pad(String(port), 32));
      }
      await c.close();
    }
  });

  it('LPO not dword aligned or beyond the log -> Invalid Field', async () => {
    const c = await discoveryController(t.port(1), STRANGER);
    const r1 = await c.getLogPage(0x70, 16, { offset: 1026 });
    expect([STATUS_SCT(r1.cqe.status), STATUS_SC(r1.cqe.status)]).toEqual([0, 0x02]);
    const r2 = await c.getLogPage(0x70, 16, { offset: 1024 * 64 });
    expect([STATUS_SCT(r2.cqe.status), STATUS_SC(r2.cqe.status)]).toEqual([0, 0x02]);
    await c.close();
  });
});

describe('discovery controller', () => {
  it('identifies as a discovery controller and refuses what a discovery controller does not do', async () => {
    const c = await discoveryController(t.port(1), STRANGER);
    const id = await c.identify(1);
    expect(id.cqe.status).toBe(0);
    expect(id.data[111]).toBe(2); // CNTRLTYPE: discovery
    expect(id.data.toString('utf8', 768, id.data.indexOf(0, 768))).toBe(DISCOVERY_NQN);
    expect(id.data.readUInt32LE(516)).toBe(0); // NN
    const smart = await c.getLogPage(0x02, 512);
    expect([STATUS_SCT(smart.cqe.status), STATUS_SC(smart.cqe.status)]).toEqual([1, 0x09]); // Invalid Log Page
    expect(STATUS_SC((await c.identify(0, 1)).cqe.status)).toBe(0x02);
    expect(STATUS_SC((await c.exec({ opcode: 0x08, cid: 0 })).cqe.status)).toBe(0x01); // Abort
    await c.close();
  });

  it('the discovery NQN is reachable on every port and needs no allowed_hosts entry', async () => {
    for (const p of [t.port(1), t.port(7)]) {
      const c = await RawClient.connect(p);
      const r = await c.connect({ subnqn: DISCOVERY_NQN, hostnqn: STRANGER });
      expect(r.status).toBe(0);
      await c.close();
    }
  });
});
