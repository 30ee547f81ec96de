// End-to-end: a real Linux 6.1 NVMe/TCP host (QEMU guest, see test/e2e/host/) against nvmf-emu.
//
// One guest boot runs test/e2e/guest/core.sh: discovery, connect, Identify, logs, features, fio
// with verification, discard, persistence across reconnect, digests, queue counts, access
// control, and the same Identify commands against the guest kernel's own target (nvmet) for a
// field-by-field comparison (written to test/e2e/out/identify-diff.txt).
//
// The topology is test/e2e/fixtures/core.json (nvmetcli save-file shape) with its port replaced
// by a free one; the runtime copy is test/e2e/out/core.json.
//
// env: E2E_SELFTEST=1   no daemon: the guest's nvmet emulates the fixture on its own 127.0.0.1
//                       (proves the harness and the expectations against the reference target)
//      E2E_GUEST_ECHO=1 stream the guest console to stderr
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REPO_ROOT,
  GUEST_GATEWAY,
  ensureHost,
  freePort,
  guestScript,
  parseSteps,
  runGuest,
  startDaemon,
  type Daemon,
  type GuestResult,
  type GuestStep,
} from './lib/guest.js';

const SELFTEST = process.env.E2E_SELFTEST === '1';
const OPEN = 'nqn.2024-01.io.nvmf-emu:e2e-open';
const CLOSED = 'nqn.2024-01.io.nvmf-emu:e2e-closed';
const REF_PORT = 4421; // the guest's own nvmet, on the guest's loopback
const GUEST_TIMEOUT_S = Number(process.env.E2E_GUEST_TIMEOUT ?? 600);
const E2E_DIR = join(REPO_ROOT, 'test/e2e');
const OUT_DIR = join(E2E_DIR, 'out');

type Json = Record<string, unknown>;

let daemon: Daemon | undefined;
let guest: GuestResult;
let steps: Map<string, GuestStep>;
let target = '';
let port = 0;

function tail(s: string, lines = 60): string {
  return s.split('\n').slice(-lines).join('\n');
}

function step(name: string): GuestStep {
  const s = steps.get(name);
  if (!s) {
    throw new Error(
      `guest step "${name}" missing from the console output (guest exit ${guest.exitCode}, qemu ${guest.qemuStatus});` +
        ` console tail:\n${tail(guest.output)}`,
    );
  }
  return s;
}

/** The step must have exited 0; the failure message carries its output and the guest's dmesg. */
function ok(name: string): GuestStep {
  const s = step(name);
  if (s.rc !== 0) {
    throw new Error(`guest step "${name}" failed (rc=${s.rc})\n--- output\n${s.out}\n--- guest dmesg | grep -i nvme\n${s.dmesg}`);
  }
  return s;
}

function jsonOf(name: string): Json {
  const s = ok(name);
  const a = s.out.indexOf('{');
  const b = s.out.lastIndexOf('}');
  if (a < 0 || b < a) throw new Error(`step "${name}": no JSON in output:\n${s.out}`);
  try {
    return JSON.parse(s.out.slice(a, b + 1)) as Json;
  } catch (e) {
    throw new Error(`step "${name}": bad JSON (${String(e)}):\n${s.out}`);
  }
}

function kv(out: string, key: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${key}=(\\S*)`, 'm').exec(out);
  return m?.[1];
}

function num(j: Json, k: string): number {
  const v = j[k];
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  throw new Error(`field ${k} is not a number: ${JSON.stringify(v)}`);
}

function big(j: Json, k: string): bigint {
  const v = j[k];
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))) return BigInt(v);
  throw new Error(`field ${k} is not an integer: ${JSON.stringify(v)}`);
}

function featureValue(name: string): number {
  const s = ok(name);
  const m = /Current value:\s*(0x[0-9a-fA-F]+)/.exec(s.out);
  if (!m) throw new Error(`step "${name}": no "Current value" in:\n${s.out}`);
  return Number(m[1]);
}

function inUseLbaf(ns: Json): { ms: number; ds: number } {
  const lbafs = ns.lbafs as Array<{ ms: number; ds: number }>;
  const f = lbafs[num(ns, 'flbas') & 0xf];
  if (!f) throw new Error(`flbas ${num(ns, 'flbas')} points past lbafs ${JSON.stringify(lbafs)}`);
  return f;
}

function fioOk(name: string): void {
  const s = ok(name);
  expect(s.out, `fio ${name} reported verify errors:\n${s.out}`).not.toMatch(/verify: bad|verify failed|crc32c: verify/);
  expect(s.out, `fio ${name} job error:\n${s.out}`).toMatch(/err= 0/);
  expect(s.out, `fio ${name} job error:\n${s.out}`).not.toMatch(/err=\s*[1-9]/);
}

beforeAll(async () => {
  await ensureHost();
  await mkdir(OUT_DIR, { recursive: true });
  const fixture = JSON.parse(await readFile(join(E2E_DIR, 'fixtures/core.json'), 'utf8')) as {
    ports: Array<{ addr: { trsvcid: string } }>;
  };
  if (SELFTEST) {
    target = '127.0.0.1';
    port = 4500;
  } else {
    target = GUEST_GATEWAY;
    port = await freePort();
    const p0 = fixture.ports[0];
    if (!p0) throw new Error('fixture has no port');
    p0.addr.trsvcid = String(port);
    const cfg = join(OUT_DIR, 'core.json');
    await writeFile(cfg, JSON.stringify(fixture, null, 2) + '\n');
    // The guest reaches our 127.0.0.1 listener through QEMU's NAT as 10.0.2.2; the daemon cannot
    // see that address on the socket, so it is told what to put in discovery log entries.
    daemon = await startDaemon(cfg, [
      '--advertise-address',
      GUEST_GATEWAY,
      '--log-level',
      process.env.E2E_DAEMON_LOG_LEVEL ?? 'info',
    ]);
  }
  const script = await guestScript('core', { TGT: target, PORT: port, OPEN, CLOSED, REF_PORT, SELFTEST: SELFTEST ? 1 : 0 });
  try {
    guest = await runGuest(script, GUEST_TIMEOUT_S);
  } finally {
    await writeFile(join(OUT_DIR, 'core-guest.log'), guest?.output ?? '(no guest output)');
    if (daemon) await writeFile(join(OUT_DIR, 'core-daemon.log'), daemon.logs());
  }
  steps = parseSteps(guest.output);
  const t0 = /===E2E-CORE-START=== (\d+)/.exec(guest.output);
  const t1 = /===E2E-CORE-END=== (\d+)/.exec(guest.output);
  console.log(
    `[e2e core] guest ran ${steps.size} steps in ${(guest.durationMs / 1000).toFixed(1)} s` +
      (t0 && t1 ? ` (${Number(t1[1]) - Number(t0[1])} s inside the guest)` : '') +
      `, exit ${guest.exitCode}; console log: test/e2e/out/core-guest.log`,
  );
});

afterAll(async () => {
  if (daemon) {
    await daemon.stop();
    await writeFile(join(OUT_DIR, 'core-daemon.log'), daemon.logs());
  }
});

describe(`Linux 6.1 NVMe/TCP host against ${SELFTEST ? "the guest's own nvmet (E2E_SELFTEST=1)" : 'nvmf-emu'}`, () => {
  it('the guest script ran to the end', () => {
    expect(guest.exitCode, `guest did not finish; console tail:\n${tail(guest.output)}`).toBe(0);
    expect(steps.has('dmesg'), tail(guest.output)).toBe(true);
  });

  it.skipIf(SELFTEST)('the daemon is still running after the guest run', () => {
    expect(daemon?.proc.exitCode ?? null, `daemon exited; its log:\n${daemon?.logs() ?? ''}`).toBeNull();
    expect(daemon?.proc.signalCode ?? null, `daemon killed; its log:\n${daemon?.logs() ?? ''}`).toBeNull();
  });

  it('nvme discover lists the subsystems with the address the host used', () => {
    const s = ok('discover');
    const entries = s.out.split(/=====Discovery Log Entry \d+======/).slice(1);
    expect(entries.length, s.out).toBeGreaterThan(0);
    const field = (e: string, k: string): string => (new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(e)?.[1] ?? '').trim();
    const nqns = entries.map((e) => field(e, 'subnqn'));
    for (const e of entries) {
      expect(field(e, 'trtype'), e).toBe('tcp');
      expect(field(e, 'adrfam'), e).toBe('ipv4');
      expect(field(e, 'traddr'), `traddr must be the address the host connected to, never a wildcard:\n${e}`).not.toBe('0.0.0.0');
      expect(field(e, 'traddr'), e).toBe(target);
      expect(field(e, 'trsvcid'), e).toBe(String(port));
    }
    expect(nqns, s.out).toContain(OPEN);
    // Only what this host may connect to is listed (as Linux nvmet does): the closed subsystem does
    // not allow the guest's host NQN, so it must not appear.
    expect(nqns, `a subsystem this host may not access was advertised\n${s.out}`).not.toContain(CLOSED);
  });

  it('nvme connect creates a live controller with two namespaces of the configured geometry', () => {
    const s = ok('connect');
    expect(kv(s.out, 'STATE'), s.out).toBe('live');
    expect(kv(s.out, 'TRANSPORT'), s.out).toBe('tcp');
    expect(kv(s.out, 'N1_LBS'), s.out).toBe('512');
    expect(kv(s.out, 'N1_BYTES'), s.out).toBe(String(256 * 2 ** 20));
    expect(kv(s.out, 'N2_LBS'), s.out).toBe('4096');
    expect(kv(s.out, 'N2_BYTES'), s.out).toBe(String(64 * 2 ** 20));
    const qc = Number(kv(s.out, 'QUEUE_COUNT'));
    expect(qc, s.out).toBeGreaterThanOrEqual(2);
    expect(Number(kv(s.out, 'MQ')), s.out).toBe(qc - 1);
  });

  it('nvme list shows both namespaces with our serial and model', () => {
    const c = ok('connect');
    const s = ok('list');
    for (const dev of [kv(c.out, 'N1'), kv(c.out, 'N2')]) {
      const line = s.out.split('\n').find((l) => l.startsWith(`/dev/${dev} `));
      expect(line, `no line for /dev/${dev} in:\n${s.out}`).toBeDefined();
      expect(line).toContain('E2EOPEN0001');
      expect(line).toContain('nvmf-emu e2e');
    }
  });

  it('Identify Controller', () => {
    const c = jsonOf('id-ctrl');
    ok('id-ctrl-text');
    expect(String(c.sn).trim()).toBe('E2EOPEN0001');
    expect(String(c.mn).trim()).toBe('nvmf-emu e2e');
    expect(c.subnqn).toBe(OPEN);
    expect(num(c, 'mdts')).toBeGreaterThanOrEqual(0);
    expect(num(c, 'mdts')).toBeLessThanOrEqual(20);
    expect(num(c, 'kas'), 'fabrics controllers must support keep alive (KAS != 0)').toBeGreaterThan(0);
    expect(num(c, 'sgls') & 0x3, 'NVMe/TCP requires SGL support').not.toBe(0);
    expect(num(c, 'cntrltype'), 'I/O controller').toBe(1);
    expect(num(c, 'sqes')).toBe(0x66);
    expect(num(c, 'cqes')).toBe(0x44);
    expect(num(c, 'ioccsz')).toBeGreaterThanOrEqual(4);
    expect(num(c, 'iorcsz')).toBe(1);
    expect(num(c, 'icdoff')).toBe(0);
    expect(num(c, 'ctratt') & 1, '128-bit Host Identifier is required over fabrics').toBe(1);
    expect(num(c, 'nn')).toBeGreaterThanOrEqual(2);
  });

  it('Identify Namespace (512 B and 4 KiB LBA formats)', () => {
    const n1 = jsonOf('id-ns1');
    expect(num(n1, 'nsze')).toBe((256 * 2 ** 20) / 512);
    expect(num(n1, 'ncap')).toBeLessThanOrEqual(num(n1, 'nsze'));
    expect(inUseLbaf(n1)).toMatchObject({ ds: 9, ms: 0 });
    const n2 = jsonOf('id-ns2');
    expect(num(n2, 'nsze')).toBe((64 * 2 ** 20) / 4096);
    expect(num(n2, 'ncap')).toBeLessThanOrEqual(num(n2, 'nsze'));
    expect(inUseLbaf(n2)).toMatchObject({ ds: 12, ms: 0 });
  });

  it('Namespace Identification Descriptors identify each namespace uniquely', () => {
    const s = ok('ns-descs');
    const [a, b] = s.out.split('---- n2');
    const ids = [a, b].map((part) => {
      const p = part ?? '';
      const j = JSON.parse(p.slice(p.indexOf('{'), p.lastIndexOf('}') + 1)) as { 'ns-descs': Array<Json> };
      const d = j['ns-descs'].filter((x) => ['eui64', 'nguid', 'uuid'].includes(String(x.type)));
      expect(d.length, `no EUI64/NGUID/UUID descriptor:\n${p}`).toBeGreaterThan(0);
      return JSON.stringify(d.map((x) => x[String(x.type)]));
    });
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('SMART / Health log counts the writes', () => {
    const before = jsonOf('smart-before');
    const after = jsonOf('smart-after');
    expect(big(after, 'data_units_written') > big(before, 'data_units_written'), JSON.stringify({ before, after })).toBe(true);
    expect(big(after, 'host_write_commands') > big(before, 'host_write_commands'), JSON.stringify({ before, after })).toBe(true);
    expect(big(after, 'host_read_commands') > big(before, 'host_read_commands'), JSON.stringify({ before, after })).toBe(true);
  });

  it('Error Information log page is readable', () => {
    ok('error-log');
  });

  it('Get Features: Number of Queues, Volatile Write Cache, Keep Alive Timer', () => {
    const qc = Number(kv(ok('connect').out, 'QUEUE_COUNT'));
    const nq = featureValue('feat-nq');
    const nsqa = (nq & 0xffff) + 1;
    const ncqa = ((nq >>> 16) & 0xffff) + 1;
    expect(nsqa, `NSQA+1 must cover the ${qc - 1} I/O queues in use`).toBeGreaterThanOrEqual(qc - 1);
    expect(ncqa).toBeGreaterThanOrEqual(qc - 1);
    const vwcPresent = (num(jsonOf('id-ctrl'), 'vwc') & 1) === 1;
    if (vwcPresent) expect([0, 1]).toContain(featureValue('feat-vwc') & 1);
    // Linux sends KATO = 5 s in Connect; Get Features returns it in milliseconds.
    expect(featureValue('feat-kato')).toBe(5000);
  });

  describe('fio with crc32c verification', () => {
    it('randwrite 4k on n1', () => fioOk('fio-4k'));
    it('randwrite 512 B on n1', () => fioOk('fio-512'));
    it('sequential write 64k on n1', () => fioOk('fio-64k'));
    it('sequential write 1M on n1 (R2T, several H2CData PDUs)', () => fioOk('fio-1m'));
    it('randwrite bsrange 512-128k on n1', () => fioOk('fio-bsrange'));
    it('randwrite bsrange 4k-256k on n2 (4 KiB LBA)', () => fioOk('fio-n2'));
  });

  it('blkdiscard: a discarded range and a discarded device read back as zeroes', () => {
    const s = ok('discard');
    expect(s.out).toContain('RANGE-ZERO-OK');
    expect(s.out).toContain('FULL-ZERO-OK');
  });

  it('data written before a disconnect reads back identically after reconnecting', () => {
    const s = ok('persist');
    const written = kv(s.out.replace(/SHA-(\S+) /g, 'SHA-$1='), 'SHA-WRITTEN');
    expect(written, s.out).toMatch(/^[0-9a-f]{64}$/);
    const flat = s.out.replace(/SHA-(\S+) /g, 'SHA-$1=');
    expect(kv(flat, 'SHA-N1-READ'), s.out).toBe(written);
    expect(kv(flat, 'SHA-N2-READ'), s.out).toBe(written);
    ok('disconnect');
  });

  it('header and data digests (CRC32C) with fio verification', () => {
    ok('digest');
  });

  it('nvme connect -i 1 / -i 2: the host gets exactly that many I/O queues', () => {
    ok('queues-1');
    ok('queues-2');
  });

  it('a host not allowed on a subsystem cannot connect to it', () => {
    const s = ok('closed');
    expect(Number(kv(s.out, 'CONNECT-RC')), s.out).not.toBe(0);
  });

  it('Identify matches the Linux kernel target (nvmet) where the specification leaves no choice', async () => {
    ok('ref-setup');
    const ours = jsonOf('id-ctrl');
    const ref = jsonOf('ref-id-ctrl');
    const refNs = jsonOf('ref-id-ns');
    // compare with our namespace of the same LBA size as nvmet's (tmpfs file: 4 KiB)
    const n1 = jsonOf('id-ns1');
    const n2 = jsonOf('id-ns2');
    const oursNs = inUseLbaf(refNs).ds === inUseLbaf(n2).ds ? n2 : n1;
    const oursNsName = oursNs === n2 ? 'n2' : 'n1';

    // VER is each implementation's own (we report 2.0, nvmet 6.1 reports 1.3): report-only.
    const mustCtrl = ['sqes', 'cqes', 'iorcsz', 'icdoff', 'cntrltype', 'fcatt', 'msdbd'];
    const mustNs = ['mc', 'dpc', 'dps'];
    const rows: Array<[string, string, string, string]> = [];
    const failures: string[] = [];
    const show = (v: unknown): string => (v === undefined ? '(absent)' : typeof v === 'string' ? v.trim() : JSON.stringify(v));
    // nested values (psds, lbafs) are flattened to psds[0].max_power etc.
    const flatten = (j: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> => {
      if (Array.isArray(j)) j.forEach((v, i) => flatten(v, `${prefix}[${i}]`, out));
      else if (j !== null && typeof j === 'object') {
        for (const [k, v] of Object.entries(j)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
      } else out[prefix] = j;
      return out;
    };
    const compare = (kind: string, ja: Json, jb: Json, must: string[]): void => {
      const a = flatten(ja);
      const b = flatten(jb);
      const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])];
      for (const k of keys) {
        const va = show(a[k]);
        const vb = show(b[k]);
        if (va === vb) continue;
        const isMust = must.includes(k);
        rows.push([`${kind}.${k}`, va, vb, isMust ? 'MUST MATCH' : '']);
        if (isMust) failures.push(`${kind}.${k}: nvmf-emu ${va} vs nvmet ${vb}`);
      }
    };
    compare('id-ctrl', ours, ref, mustCtrl);
    compare(`id-ns(${oursNsName})`, oursNs, refNs, mustNs);
    for (const [f, r] of [
      ['feat-nq', 'ref-feat-nq'],
      ['feat-vwc', 'ref-feat-vwc'],
      ['feat-kato', 'ref-feat-kato'],
    ] as const) {
      const get = (n: string): string => {
        const s = steps.get(n);
        return s ? (s.rc === 0 ? (/Current value:\s*(\S+)/.exec(s.out)?.[1] ?? '?') : `rc=${s.rc}`) : 'missing';
      };
      if (get(f) !== get(r)) rows.push([`get-feature ${f.slice(5)}`, get(f), get(r), '']);
    }
    // ioccsz: any value >= 4 (64 bytes) is allowed; recorded in the table if it differs
    expect(num(ours, 'ioccsz')).toBeGreaterThanOrEqual(4);
    expect(inUseLbaf(oursNs).ms).toBe(0);

    const w = [0, 0, 0];
    const header: [string, string, string, string] = ['field', 'nvmf-emu', 'nvmet (Linux 6.1)', ''];
    for (const r of [header, ...rows]) for (let i = 0; i < 3; i++) w[i] = Math.max(w[i] ?? 0, (r[i] ?? '').length);
    const fmt = (r: [string, string, string, string]): string =>
      `${r[0].padEnd(w[0] ?? 0)}  ${r[1].padEnd(w[1] ?? 0)}  ${r[2].padEnd(w[2] ?? 0)}  ${r[3]}`.trimEnd();
    const table = [
      `# Identify differences: nvmf-emu (${SELFTEST ? 'SELFTEST: nvmet' : 'daemon'}) vs the Linux 6.1 kernel target (nvmet-tcp, file-backed on tmpfs)`,
      `# id-ns compared: our ${oursNsName} vs nvmet nsid 1; "MUST MATCH" rows fail the test`,
      fmt(header),
      ...rows.map(fmt),
      '',
    ].join('\n');
    await writeFile(join(OUT_DIR, 'identify-diff.txt'), table);
    console.log(table);
    expect(failures, table).toEqual([]);
  });
});
