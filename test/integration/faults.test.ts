// Injected media faults through the admin API: read errors on an LBA range, write failures and
// slow I/O, each reported to the host with the spec's status, in the error log (with the LBA) and
// as SMART media errors; removing them restores normal service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost } from '../../src/initiator/index.js';
import { LogPage } from '../../src/protocol/constants.js';
import { Status } from '../../src/protocol/status.js';
import { pattern } from '../helpers/pattern.js';
import { statusOf } from '../helpers/net.js';
import { loopbackTopology } from '../helpers/topology.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:faults';
let daemon: Daemon;
let host: NvmeHost;
let base: string;

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
const faults = `/subsystems/${encodeURIComponent(NQN)}/namespaces/1/faults`;


beforeAll(async () => {
  const t = loopbackTopology(NQN, [{ nsid: 1, emulation: { type: 'nvm', capacity: '8MiB', lba_size: 512 } }]);
  daemon = await startDaemon({ topology: t, http: { address: '127.0.0.1', port: 0, enabled: true }, engine: { workers: 1 } });
  base = `http://127.0.0.1:${daemon.httpPort}/api/v1`;
  host = await NvmeHost.connect({ host: '127.0.0.1', port: daemon.listeners[0]!.port, subnqn: NQN });
});

afterAll(async () => {
  await host?.disconnect().catch(() => {});
  await daemon?.stop();
});

describe('injected media faults', () => {
  it('read errors on a range: Unrecovered Read Error, error log with the LBA, SMART media errors', async () => {
    await host.write(1, 96, pattern(16 * 512, 1));
    const r = await api('POST', faults, { type: 'read_error', slba: 100, nlb: 10 });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ id: 1, type: 'read_error', slba: 100, nlb: 10, count: 0 });
    expect(await statusOf(host.read(1, 96, 8))).toBe(Status.UnrecoveredReadError); // 96..103 overlaps at 100
    expect(await statusOf(host.read(1, 110, 4))).toBe(0); // just past the range
    expect((await host.read(1, 90, 6)).length).toBe(3072);
    const log = await host.getLogPage(LogPage.ErrorInfo, 64);
    expect(log.readUInt16LE(12) >> 1).toBe(Status.UnrecoveredReadError & 0x7fff);
    expect(log.readBigUInt64LE(16)).toBe(100n);
    expect(log.readUInt32LE(24)).toBe(1);
    const smart = await host.getLogPage(LogPage.Smart, 512, { nsid: 0xffffffff });
    expect(smart.readBigUInt64LE(160)).toBe(1n);
    expect((await api('GET', faults)).json).toMatchObject([{ id: 1, hits: 1 }]);
    expect((await api('DELETE', `${faults}/1`)).status).toBe(204);
    expect((await host.read(1, 96, 16)).equals(pattern(16 * 512, 1))).toBe(true);
  });

  it('a write fault fires `count` times and writes nothing', async () => {
    await host.write(1, 200, pattern(512, 2));
    expect((await api('POST', faults, { type: 'write_error', slba: 200, nlb: 1, count: 1 })).status).toBe(201);
    expect(await statusOf(host.write(1, 200, pattern(512, 3)))).toBe(Status.WriteFault);
    expect((await host.read(1, 200, 1)).equals(pattern(512, 2))).toBe(true); // nothing written
    await host.write(1, 200, pattern(512, 4)); // used up: the next one succeeds
    expect((await host.read(1, 200, 1)).equals(pattern(512, 4))).toBe(true);
    expect((await api('GET', faults)).json).toEqual([]);
    expect(daemon.target.subsystems.get(NQN)!.namespaces.get(1)!.faults).toBeNull();
  });

  it('slow reads take at least the injected delay, and still return the data', async () => {
    expect((await api('POST', faults, { type: 'slow_read', slba: 0, nlb: 16384, delay_ms: 150 })).status).toBe(201);
    const t0 = performance.now();
    expect((await host.read(1, 200, 1)).equals(pattern(512, 4))).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140); // a lower bound only
    await host.write(1, 300, pattern(512, 5)); // writes are not slowed by a slow_read fault
    expect((await api('DELETE', faults)).status).toBe(204);
  });

  it('refuses bad fault definitions naming the field', async () => {
    expect((await api('POST', faults, { type: 'explode', slba: 0 })).json.field).toBe('type');
    expect((await api('POST', faults, { type: 'read_error', slba: 16384 })).json.field).toBe('slba');
    expect((await api('POST', faults, { type: 'read_error', slba: 16380, nlb: 10 })).json.field).toBe('nlb');
    expect((await api('POST', faults, { type: 'slow_write', slba: 0 })).json.field).toBe('delay_ms');
    expect((await api('POST', faults, { type: 'read_error', slba: 0, lba: 1 })).json.field).toBe('lba');
    expect((await api('DELETE', `${faults}/99`)).status).toBe(404);
  });
});
