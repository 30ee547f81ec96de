// The admin API changes the running target: subsystems, namespaces (with the Namespace Attribute
// Changed event a Linux host rescans on), allowed hosts and ports, each validated like the file
// with errors naming the body's field; the running configuration exports as a file that starts
// an equal daemon; the bearer token guards all but probes and metrics.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerTimingCommand } from '../../src/cli/runtime-commands.js';
import { validateTopology } from '../../src/config/topology.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost, NvmeStatusError } from '../../src/initiator/index.js';
import { discover } from '../../src/initiator/discovery.js';
import { AdminOpcode, AsyncEvent, FeatureId, IdentifyCns, LogPage, Oaes } from '../../src/protocol/constants.js';
import { Status } from '../../src/protocol/status.js';
import { pattern } from '../helpers/pattern.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';

const A = 'nqn.2024-01.io.nvmf-emu:api-a';
const B = 'nqn.2024-01.io.nvmf-emu:api-b';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000a1';
const TOKEN = 's3cret';

let daemon: Daemon;
let base: string;

async function api(method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
const enc = encodeURIComponent;


beforeAll(async () => {
  const topology = validateTopology({
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [A] }],
    subsystems: [{ nqn: A, attr: { allow_any_host: 1 }, namespaces: [{ nsid: 1, emulation: { type: 'nvm', capacity: '16MiB', lba_size: 4096 } }] }],
  });
  topology.ports[0]!.addr.trsvcid = 0;
  daemon = await startDaemon({ topology, http: { address: '127.0.0.1', port: 0, enabled: true, token: TOKEN }, engine: { workers: 1 } });
  base = `http://127.0.0.1:${daemon.httpPort}/api/v1`;
});

afterAll(async () => {
  await daemon?.stop();
});

const port1 = (): number => daemon.listeners.find((l) => l.portid === 1)!.port;

describe('bearer token', () => {
  it('is required for the API, not for probes and metrics', async () => {
    expect((await api('GET', '/config', undefined, null)).status).toBe(401);
    expect((await api('GET', '/config', undefined, 'wrong')).status).toBe(401);
    expect((await api('GET', '/config')).status).toBe(200);
    for (const p of ['/livez', '/readyz', '/metrics']) expect((await fetch(`http://127.0.0.1:${daemon.httpPort}${p}`)).status, p).toBe(200);
  });
});

describe('running configuration', () => {
  it('exports the topology with the port actually bound', async () => {
    const { status, json } = await api('GET', '/config');
    expect(status).toBe(200);
    expect(json.ports[0].addr.trsvcid).toBe(port1());
    expect(json.subsystems.map((s: { nqn: string }) => s.nqn)).toEqual([A]);
    expect(json.subsystems[0].namespaces[0]).toMatchObject({ nsid: 1, emulation: { type: 'nvm', capacity: 16 * 2 ** 20 } });
  });
});

describe('subsystems', () => {
  it('rejects an invalid subsystem naming the field, and a duplicate with 409', async () => {
    const bad = await api('POST', '/subsystems', { nqn: B, namespaces: [{ nsid: 1, emulation: { type: 'nvm', capacity: 'lots' } }] });
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe('namespaces[0].emulation.capacity');
    const typo = await api('POST', '/subsystems', { nqn: B, atr: {} });
    expect(typo.status).toBe(400);
    expect(typo.json.errors.map((e: { field: string }) => e.field)).toContain('atr');
    expect((await api('POST', '/subsystems', { nqn: A })).status).toBe(409);
    expect(daemon.target.subsystems.has(B)).toBe(false);
  });

  it('adds a subsystem that a host can use once it is exported on a port', async () => {
    const r = await api('POST', '/subsystems', {
      nqn: B,
      attr: { allow_any_host: 0, serial: 'APIB0001' },
      allowed_hosts: [HOST],
      namespaces: [{ nsid: 1, emulation: { type: 'conv', preset: 'samsung-970pro', capacity: '32MiB', pages_per_block: 4 } }],
    });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ nqn: B, allowed_hosts: [HOST] });
    const before = await discover({ host: '127.0.0.1', port: port1(), hostnqn: HOST });
    expect(before.entries.map((e) => e.subnqn)).not.toContain(B);
    expect((await api('PUT', `/ports/1/subsystems/${enc(B)}`)).status).toBe(204);
    const after = await discover({ host: '127.0.0.1', port: port1(), hostnqn: HOST });
    expect(after.entries.map((e) => e.subnqn)).toContain(B);
    // Only the allowed host sees it, and only it may connect.
    const other = await discover({ host: '127.0.0.1', port: port1() });
    expect(other.entries.map((e) => e.subnqn)).not.toContain(B);
    await expect(NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: B })).rejects.toBeInstanceOf(NvmeStatusError);
    const h = await NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: B, hostnqn: HOST });
    try {
      const data = pattern(64 * 1024, 5);
      await h.write(1, 0, data);
      expect((await h.read(1, 0, 128)).equals(data)).toBe(true);
      // The conv model was built on the running engine: its FTL counted the write.
      expect(daemon.target.subsystems.get(B)!.namespaces.get(1)!.counters().hostWrittenBytes).toBe(64 * 1024);
    } finally {
      await h.disconnect();
    }
  });

  it('changes allowed hosts and allow_any_host', async () => {
    const other = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000b2';
    await expect(NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: B, hostnqn: other })).rejects.toBeInstanceOf(NvmeStatusError);
    expect((await api('PUT', `/subsystems/${enc(B)}/hosts/${enc(other)}`)).status).toBe(204);
    await (await NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: B, hostnqn: other })).disconnect();
    expect((await api('DELETE', `/subsystems/${enc(B)}/hosts/${enc(other)}`)).status).toBe(204);
    expect((await api('DELETE', `/subsystems/${enc(B)}/hosts/${enc(other)}`)).status).toBe(404);
    await expect(NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: B, hostnqn: other })).rejects.toBeInstanceOf(NvmeStatusError);
    expect((await api('PATCH', `/subsystems/${enc(B)}`, { allow_any_host: true })).status).toBe(204);
    await (await NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: B, hostnqn: other })).disconnect();
    expect((await api('PATCH', `/subsystems/${enc(B)}`, { serial: 'X' })).json.field).toBe('serial');
    const bad = await api('PUT', `/subsystems/${enc(B)}/hosts/not-an-nqn`);
    expect(bad.status).toBe(400);
  });
});

describe('namespaces', () => {
  it('adds and removes namespaces under a connected host, which gets Namespace Attribute Changed', async () => {
    const h = await NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: A });
    try {
      await h.setFeatures(FeatureId.AsyncEventConfig, Oaes.NsAttr);
      const aen = h.adminCommand({ opcode: AdminOpcode.AsyncEventRequest });
      const r = await api('POST', `/subsystems/${enc(A)}/namespaces`, { nsid: 2, emulation: { type: 'nvm', capacity: '8MiB', lba_size: 512, read_latency_ns: 50_000 } });
      expect(r.status).toBe(201);
      const ev = (await aen).cqe.dw0;
      expect(ev & 0x7).toBe(AsyncEvent.TypeNotice);
      expect((ev >> 8) & 0xff).toBe(AsyncEvent.InfoNsAttrChanged);
      expect((ev >> 16) & 0xff).toBe(LogPage.ChangedNsList);
      const changed = await h.getLogPage(LogPage.ChangedNsList, 4096);
      expect(changed.readUInt32LE(0)).toBe(2);
      const list = await h.identify(IdentifyCns.ActiveNsList);
      expect([list.readUInt32LE(0), list.readUInt32LE(4)]).toEqual([1, 2]);
      const data = pattern(4096, 9);
      await h.write(2, 8, data);
      expect((await h.read(2, 8, 8)).equals(data)).toBe(true);
      expect(daemon.target.subsystems.get(A)!.namespaces.get(2)!.model!.inline).toBe(false); // 50 µs reads: on the worker

      expect((await api('POST', `/subsystems/${enc(A)}/namespaces`, { nsid: 2, emulation: { type: 'nvm', capacity: '8MiB' } })).status).toBe(409);
      const bad = await api('POST', `/subsystems/${enc(A)}/namespaces`, { nsid: 3, emulation: { type: 'nvm', capacity: '8MiB', lba_size: 1000 } });
      expect(bad.status).toBe(400);
      expect(bad.json.field).toBe('emulation.lba_size');

      const aen2 = h.adminCommand({ opcode: AdminOpcode.AsyncEventRequest });
      expect((await api('DELETE', `/subsystems/${enc(A)}/namespaces/2`)).status).toBe(204);
      expect(((await aen2).cqe.dw0 >> 8) & 0xff).toBe(AsyncEvent.InfoNsAttrChanged);
      const gone = await h.ioCommand(1, { opcode: 0x02, nsid: 2, cdw10: 0, cdw12: 0 }, { readLength: 512 });
      expect(gone.cqe.status).toBe(Status.InvalidNamespace);
      expect((await api('DELETE', `/subsystems/${enc(A)}/namespaces/2`)).status).toBe(404);
      expect((await api('DELETE', `/subsystems/${enc(A)}/namespaces/x`)).status).toBe(400);
    } finally {
      await h.disconnect();
    }
  });

  it('resets a namespace statistics', async () => {
    const ns = daemon.target.subsystems.get(A)!.namespaces.get(1)!;
    const h = await NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: A });
    await h.write(1, 0, pattern(4096, 1));
    await h.disconnect();
    expect(ns.stats.writeCommands).toBeGreaterThan(0);
    expect((await api('DELETE', `/subsystems/${enc(A)}/namespaces/1/stats`)).status).toBe(204);
    expect(ns.stats.writeCommands).toBe(0);
    expect(ns.stats.writeLatency.count).toBe(0);
  });
});

describe('timing and statistics', () => {
  const timingPath = `/subsystems/${enc(A)}/namespaces/1/timing`;

  it('reads and changes a namespace timing while it runs; the next command takes the new time', async () => {
    const ns = daemon.target.subsystems.get(A)!.namespaces.get(1)!;
    const got = await api('GET', timingPath);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ read_latency_ns: 0, write_latency_ns: 0 });
    const set = await api('PATCH', timingPath, { read_latency_ns: 300_000 });
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({ read_latency_ns: 300_000, write_latency_ns: 0 });
    const h = await NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: A });
    try {
      const [sum, count] = [ns.stats.mediaReadLatency.sum, ns.stats.mediaReadLatency.count];
      await h.read(1, 0, 1);
      expect(ns.stats.mediaReadLatency.count).toBe(count + 1);
      expect(ns.stats.mediaReadLatency.sum - sum).toBeCloseTo(300e-6, 9); // the model's own time
    } finally {
      await h.disconnect();
    }
    expect((await api('PATCH', timingPath, { read_latency_ns: 0 })).status).toBe(200);
  });

  it('refuses bad timing changes naming the field', async () => {
    expect((await api('PATCH', timingPath, { nope: 1 })).json).toMatchObject({ field: 'nope' });
    const neg = await api('PATCH', timingPath, { read_latency_ns: -1 });
    expect(neg.status).toBe(400);
    expect(neg.json).toMatchObject({ field: 'read_latency_ns', message: 'must be a finite number >= 0' });
    expect((await api('PATCH', timingPath, [1])).status).toBe(400);
    expect((await api('GET', `/subsystems/${enc(A)}/namespaces/9/timing`)).status).toBe(404);
  });

  it('`nvmf-emu timing` shows and sets it through the API, with the token', async () => {
    const run = async (...args: string[]): Promise<{ out: string; err: string; code: number }> => {
      const r = await runCli(registerTimingCommand, ['timing', '-n', A, '--http', `http://127.0.0.1:${daemon.httpPort}`, ...args]);
      return { ...r, out: r.out.toString() };
    };
    const refused = await run('write_latency_ns=5000');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/401/);
    const set = await run('--token', TOKEN, 'write_latency_ns=5000');
    expect(set.code).toBe(0);
    expect(set.out).toMatch(/^write_latency_ns = 5000$/m);
    const shown = await run('--token', TOKEN);
    expect(shown.out).toMatch(/^write_latency_ns = 5000$/m);
    expect((await run('--token', TOKEN, 'write_latency_ns=x')).err).toMatch(/expected KEY=NUMBER/);
    await run('--token', TOKEN, 'write_latency_ns=0');
  });

  it('POST /stats/reset clears every namespace counters and histograms (device state kept)', async () => {
    const ns = daemon.target.subsystems.get(A)!.namespaces.get(1)!;
    const h = await NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: A });
    await h.write(1, 0, pattern(4096, 2));
    await h.read(1, 0, 1);
    await h.disconnect();
    expect(ns.stats.writeCommands).toBeGreaterThan(0);
    expect((await api('POST', '/stats/reset', undefined, null)).status).toBe(401);
    expect((await api('POST', '/stats/reset')).status).toBe(204);
    for (const s of daemon.target.subsystems.values()) {
      for (const n of s.namespaces.values()) {
        expect(n.stats.writeCommands + n.stats.readCommands).toBe(0);
        expect(n.stats.readLatency.count + n.stats.writeLatency.count).toBe(0);
      }
    }
  });
});

describe('ports', () => {
  it('adds a port (listening at once), refuses a duplicate or a busy address, and removes it', async () => {
    const p = await freePort();
    const r = await api('POST', '/ports', { portid: 2, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: p }, subsystems: [A] });
    expect(r.status).toBe(201);
    const h = await NvmeHost.connect({ host: '127.0.0.1', port: p, subnqn: A });
    await h.read(1, 0, 1);
    expect((await api('POST', '/ports', { portid: 2, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: p } })).status).toBe(409);
    // The same address as a configured port: the validator's cross-check.
    const dup = await api('POST', '/ports', { portid: 3, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: p } });
    expect(dup.status).toBe(400);
    expect(dup.json).toMatchObject({ field: 'addr', message: expect.stringContaining('conflicts with ports[1]') });
    // An address some other program holds: the listener's own failure, same field naming.
    const other = net.createServer();
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      const busy = await api('POST', '/ports', { portid: 3, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: (other.address() as net.AddressInfo).port } });
      expect(busy.status).toBe(400);
      expect(busy.json).toMatchObject({ field: 'addr.trsvcid', message: expect.stringContaining('already in use') });
    } finally {
      other.close();
    }
    const typo = await api('POST', '/ports', { portid: 3, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 70000 } });
    expect(typo.json.field).toBe('addr.trsvcid');
    expect((await api('DELETE', '/ports/2')).status).toBe(204);
    // Its connections went with it.
    await expect(h.read(1, 0, 1)).rejects.toThrow();
    await h.close().catch(() => {});
    expect((await api('DELETE', '/ports/2')).status).toBe(404);
    expect(daemon.listeners.map((l) => l.portid)).toEqual([1]);
  });
});

describe('export and restart', () => {
  it('exports a configuration that starts an equal daemon', async () => {
    const cfg = (await api('GET', '/config?download')).json;
    const t = validateTopology(cfg);
    expect(t.subsystems.map((s) => s.nqn)).toEqual([A, B]);
    expect(t.ports[0]!.subsystems).toEqual([A, B]);
    for (const p of t.ports) p.addr.trsvcid = 0;
    const d2 = await startDaemon({ topology: t, engine: { workers: 1 } });
    try {
      expect([...d2.target.subsystems.get(B)!.namespaces.keys()]).toEqual([1]);
      expect(d2.target.subsystems.get(B)!.namespaces.get(1)!.device.kind).toBe('conv');
      expect(d2.target.subsystems.get(B)!.allowAnyHost).toBe(true);
    } finally {
      await d2.stop();
    }
  });

  it('removes a subsystem, dropping its controllers', async () => {
    const h = await NvmeHost.connect({ host: '127.0.0.1', port: port1(), subnqn: B });
    expect((await api('DELETE', `/subsystems/${enc(B)}`)).status).toBe(204);
    await expect(h.read(1, 0, 1)).rejects.toThrow();
    await h.close().catch(() => {});
    expect((await api('GET', `/subsystems/${enc(B)}`)).status).toBe(404);
    expect((await api('GET', '/config')).json.ports[0].subsystems).toEqual([A]);
    const disc = await discover({ host: '127.0.0.1', port: port1() });
    expect(disc.entries.map((e) => e.subnqn)).not.toContain(B);
  });
});
