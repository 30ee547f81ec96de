// End-to-end: key-value namespaces driven from a real Linux host with nvme-cli io-passthru:
// the seed's NVMeVirt store/retrieve script (15-byte key, then 16 bytes), delete then exist, and
// a CSI 01h namespace that the kernel exposes only as the generic device /dev/ngXnY, answering
// NVMe KV Store/Retrieve/Exist/Delete.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, DAEMON_MAIN, ensureHost, freePort, GUEST_GATEWAY, type GuestResult, guestScript, type GuestStep, parseSteps, REPO_ROOT, runGuest, startDaemon } from './lib/guest.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:e2e-kv';
const OUT_DIR = join(REPO_ROOT, 'test/e2e/out');

let daemon: Daemon;
let guest: GuestResult;
let steps: Map<string, GuestStep>;
let subsystems: unknown;
let port: number;
interface KvNsStats {
  host: Record<string, number>;
  device: Record<string, number>;
  kv: { keys: number; usedBytes: number; capacityBytes: number; commands: Record<string, number> };
}
const nsStats: Record<number, KvNsStats> = {};

function ok(name: string): GuestStep {
  const s = steps.get(name);
  if (!s) throw new Error(`guest step ${name} missing; console tail:\n${guest.output.split('\n').slice(-60).join('\n')}`);
  expect(s.rc, `${name} failed:\n${s.out}\n${s.dmesg}`).toBe(0);
  return s;
}

/** Bytes of nvme-cli's hex dump (`0000: 33 66 ... "3f..."` lines) in `text` after `from`. */
function hexDump(text: string, from = 0): Buffer {
  const bytes: number[] = [];
  const re = /^[0-9a-f]{4}:((?: [0-9a-f]{2})+)/gm;
  re.lastIndex = from;
  for (let m = re.exec(text); m; m = re.exec(text)) for (const h of m[1]!.trim().split(' ')) bytes.push(parseInt(h, 16));
  return Buffer.from(bytes);
}

const valOf = (out: string): string => /^VAL=(\S+)$/m.exec(out)?.[1] ?? '(no VAL)';

beforeAll(async () => {
  await ensureHost();
  await mkdir(OUT_DIR, { recursive: true });
  port = await freePort();
  const fixture = JSON.parse(await readFile(join(REPO_ROOT, 'test/e2e/fixtures/kv.json'), 'utf8')) as { ports: Array<{ addr: { trsvcid: string } }> };
  fixture.ports[0]!.addr.trsvcid = String(port);
  const cfg = join(OUT_DIR, 'kv.json');
  await writeFile(cfg, JSON.stringify(fixture, null, 2));
  daemon = await startDaemon(cfg, ['--advertise-address', GUEST_GATEWAY]);
  try {
    guest = await runGuest(await guestScript('kv', { TGT: GUEST_GATEWAY, PORT: port, NQN }), 600);
  } finally {
    await writeFile(join(OUT_DIR, 'kv-guest.log'), guest?.output ?? '(no output)');
  }
  steps = parseSteps(guest.output);
  subsystems = await (await fetch(`http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems`)).json();
  for (const nsid of [1, 2]) {
    const res = await fetch(`http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems/${encodeURIComponent(NQN)}/namespaces/${nsid}/stats`);
    nsStats[nsid] = (await res.json()) as KvNsStats;
  }
  await writeFile(join(OUT_DIR, 'kv-stats.json'), JSON.stringify(nsStats, null, 2));
});

afterAll(async () => {
  if (daemon) {
    await daemon.stop();
    await writeFile(join(OUT_DIR, 'kv-daemon.log'), daemon.logs());
  }
});

describe('Linux host on kv namespaces', () => {
  it('connects; nsid 1 (vendor layout) is a block device, nsid 2 (CSI 01h) only /dev/ngXn2', () => {
    ok('connect');
    const d = ok('devices').out;
    const dev = d.slice(d.indexOf('--- /dev:'), d.indexOf('--- /sys/block:'));
    expect(dev).toMatch(/^nvme\dn1$/m);
    expect(dev).toMatch(/^ng\dn2$/m);
    expect(dev).not.toMatch(/^nvme\dn2$/m);
    // CNS 03h reports the CSI nvme-cli shows: 0 for the vendor layout, 1 for the KV command set.
    expect(d).toMatch(/csi\s*:\s*0\n[\s\S]*csi\s*:\s*0x1/);
    expect(d).toMatch(/block device for nsid 2 not supported \(csi 1\)/);
    expect(ok('kv-generic-only').out).toMatch(/only \/dev\/ng\dn2/);
    expect(JSON.stringify(subsystems)).toMatch(/kv/);
  });

  it("the seed's store_retrieve.sh (15-byte key) prints the stored value back", () => {
    const s = ok('seed-15');
    const val = valOf(s.out);
    expect(val).toMatch(/^[0-9a-f-]{36}$/);
    expect(s.out).toMatch(/^opcode\s*:\s*81$/m);
    expect(s.out).toMatch(/^opcode\s*:\s*90$/m);
    expect(s.out).toMatch(/^cdw11\s*:\s*0000000f$/m);
    expect(s.out).toMatch(/result: 0x00000024/); // Retrieve: dword 0 = the value size
    expect(hexDump(s.out).toString('latin1')).toBe(val);
  });

  it('the same with the full 16-byte key (NVMeVirt overflows there)', () => {
    const s = ok('seed-16');
    expect(s.out).toMatch(/^cdw11\s*:\s*00000010$/m);
    expect(hexDump(s.out).toString('latin1')).toBe(valOf(s.out));
  });

  it('delete then exist reports absence (vendor opcodes A1h, B3h: status 310h); retrieve then fails too', () => {
    const out = ok('vendor-del-exist').out;
    const before = out.slice(out.indexOf('exist-before:'), out.indexOf('delete:'));
    expect(before).toMatch(/rc=0/);
    const del = out.slice(out.indexOf('delete:'), out.indexOf('exist-after:'));
    expect(del).toMatch(/rc=0/);
    const after = out.slice(out.indexOf('exist-after:'), out.indexOf('retrieve-after:'));
    expect(after).toMatch(/rc=[1-9]/);
    expect(after).toMatch(/\(0x310\)/); // NVMeVirt's / Samsung's key-not-exist status
    const retrieve = out.slice(out.indexOf('retrieve-after:'));
    expect(retrieve).toMatch(/rc=[1-9]/);
    expect(retrieve).toMatch(/\(0x310\)/);
  });

  it('the CSI 01h namespace answers io-passthru Store 01h / Retrieve 02h / Exist 14h / List 06h / Delete 10h on /dev/ngXn2', () => {
    const out = ok('nvme-kv').out;
    const val = valOf(out);
    expect(/^RAW=(\S+)$/m.exec(out)?.[1]).toBe(val);
    expect(out).toMatch(/result: 0x0*24\b/); // Retrieve: dword 0 = the value size, 36
    // List 06h from the first key: count 1, then length 16 and the key, padded to 4 bytes.
    const list = /^LIST=([0-9a-f]+)$/m.exec(out)?.[1] ?? '';
    expect(list.slice(0, 8 + 4 + 32)).toBe('01000000' + '1000' + Buffer.from('nvme-kv-16-bytes').toString('hex'));
    const mne = out.slice(out.indexOf('must-not-exist store:'), out.indexOf('delete:'));
    expect(mne).toMatch(/\(0x4089\)/); // Key Exists (SCT 0, SC 89h, DNR)
    const after = out.slice(out.indexOf('exist-after:'));
    expect(after).toMatch(/rc=[1-9]/);
    expect(after).toMatch(/\(0x4087\)/); // Key Does Not Exist (SCT 0, SC 87h, DNR)
  });

  it('a value of MDTS (1 MiB, sent by R2T) round-trips; a 16-byte retrieve gets what fits and the full size; a larger buffer gets the value', () => {
    const out = ok('vendor-mdts').out;
    expect(out).toMatch(/MDTS-ROUNDTRIP-OK/);
    expect(out).toMatch(/SHORT-OK/);
    expect(out.slice(out.indexOf('short:'), out.indexOf('long:'))).toMatch(/result: 0x00100000/);
    expect(out.slice(out.indexOf('long:'))).toMatch(/result: 0x00000005/);
    expect(out).toMatch(/^LONG=small$/m);
  });

  it('our `nvmf-emu kv` CLI reads what the Linux host stored', async () => {
    const val = valOf(ok('seed-15').out);
    const key = val.replace(/-/g, '').slice(0, 15);
    const cli = (...a: string[]) => promisify(execFile)(process.execPath, [DAEMON_MAIN, 'kv', ...a, '-n', NQN, '-s', String(port), '--nsid', '1'], { encoding: 'latin1' });
    expect((await cli('get', key)).stdout).toBe(val);
    expect((await cli('list')).stdout.split('\n')).toEqual(expect.arrayContaining([key, 'big-value-key']));
  });

  it("the daemon's stats show the keys left, space reclaimed by deletes, and commands by op", () => {
    // nsid 1: two seed keys stored, the 16-byte one deleted; the 1 MiB value; the 5-byte one.
    expect(nsStats[1]!.kv).toMatchObject({ keys: 3, usedBytes: 15 + 36 + 13 + 2 ** 20 + 2 + 5, capacityBytes: 64 * 2 ** 20 });
    expect(nsStats[1]!.kv.commands).toMatchObject({ store: 4, retrieve: 6, delete: 1, exist: 2 });
    // nsid 2: stored, refused a must-not-exist store, deleted: nothing left.
    expect(nsStats[2]!.kv).toMatchObject({ keys: 0, usedBytes: 0, commands: { store: 2, retrieve: 1, delete: 1, exist: 2, list: 1 } });
    // Every command went through the kv model on the engine.
    expect(nsStats[1]!.device.hostWrittenBytes).toBe(72 + 2 ** 20 + 5);
    expect(nsStats[2]!.device.trimmedBytes).toBe(36);
  });

  it('disconnects', () => {
    ok('disconnect');
  });
});
