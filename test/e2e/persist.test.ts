// End-to-end: a file-backed conv namespace (device.path) under a real Linux host that stays
// connected while the daemon is killed (SIGKILL) and started again, then stopped cleanly (SIGTERM)
// and started again: the host reconnects by itself each time and fio verifies what it wrote
// (ending with a Flush) before the kill. The clean restart brings the FTL state back. Finally
// two controller resets under fio verify.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, ensureHost, freePort, GUEST_GATEWAY, type GuestResult, guestScript, type GuestStep, parseSteps, REPO_ROOT, runGuest, startDaemon } from './lib/guest.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:e2e-persist';
const SIZE_MB = 16;
const OUT_DIR = join(REPO_ROOT, 'test/e2e/out');
const IMG = join(OUT_DIR, 'persist.img');

let guest: GuestResult;
let steps: Map<string, GuestStep>;
const daemons: Daemon[] = [];
const logs: string[] = [];
let sequence: Promise<void> = Promise.resolve();

function ok(name: string): GuestStep {
  const s = steps.get(name);
  if (!s) throw new Error(`guest step ${name} missing; console tail:\n${guest.output.split('\n').slice(-60).join('\n')}`);
  expect(s.rc, `${name} failed:\n${s.out}\n${s.dmesg}`).toBe(0);
  return s;
}

beforeAll(async () => {
  await ensureHost();
  await mkdir(OUT_DIR, { recursive: true });
  await rm(IMG, { force: true });
  await rm(`${IMG}.model`, { force: true });
  const port = await freePort();
  const cfg = join(OUT_DIR, 'persist.json');
  await writeFile(
    cfg,
    JSON.stringify({
      hosts: [],
      ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: String(port) }, subsystems: [NQN] }],
      subsystems: [
        {
          nqn: NQN,
          attr: { allow_any_host: '1' },
          namespaces: [{ nsid: 1, enable: 1, device: { path: IMG }, emulation: { type: 'conv', preset: 'samsung-970pro', capacity: `${SIZE_MB}MiB`, pages_per_block: 4 } }],
        },
      ],
    }),
  );
  const args = ['--advertise-address', GUEST_GATEWAY];
  daemons.push(await startDaemon(cfg, args));
  // The guest prints a marker; the daemon is then killed or stopped and started again on the same port.
  let seen = '';
  const restart = (how: 'SIGKILL' | 'SIGTERM'): void => {
    sequence = sequence.then(async () => {
      const d = daemons.at(-1)!;
      if (how === 'SIGKILL') {
        d.proc.kill('SIGKILL');
        await new Promise<void>((r) => (d.proc.exitCode !== null || d.proc.signalCode !== null ? r() : d.proc.once('exit', () => r())));
      } else {
        await d.stop();
      }
      logs.push(d.logs());
      await new Promise((r) => setTimeout(r, 2000)); // down long enough for the host to notice
      daemons.push(await startDaemon(cfg, args));
    });
  };
  try {
    guest = await runGuest(await guestScript('persist', { TGT: GUEST_GATEWAY, PORT: port, NQN, SIZE_MB }), 900, (text) => {
      const before = seen;
      seen += text;
      if (!before.includes('===KILL-NOW===') && seen.includes('===KILL-NOW===')) restart('SIGKILL');
      if (!before.includes('===RESTART-NOW===') && seen.includes('===RESTART-NOW===')) restart('SIGTERM');
    });
  } finally {
    await writeFile(join(OUT_DIR, 'persist-guest.log'), guest?.output ?? '(no output)');
  }
  await sequence;
  steps = parseSteps(guest.output);
});

afterAll(async () => {
  for (const d of daemons) await d.stop();
  logs.push(daemons.at(-1)?.logs() ?? '');
  await writeFile(join(OUT_DIR, 'persist-daemon.log'), logs.join('\n---- restart ----\n'));
});

describe('Linux host on a file-backed namespace across daemon restarts', () => {
  it('writes the namespace and flushes', () => {
    ok('connect');
    ok('write');
  });

  it('after kill -9 and a restart, the host reconnects by itself and reads back every block', () => {
    ok('reconnect-after-kill');
    ok('verify-after-kill');
    // The killed daemon could not save its FTL: the next one says it starts fresh.
    expect(logs[0]).not.toMatch(/namespace saved/);
    expect(daemons[1]!.logs()).toMatch(/no saved model state/);
  });

  it('after a clean stop and a restart, the data and the FTL state are back', () => {
    ok('reconnect-after-restart');
    ok('verify-after-restart');
    expect(logs[1]).toMatch(/namespace saved/);
    expect(daemons[2]!.logs()).toMatch(/model state restored from the last clean shutdown/);
  });

  it('survives controller resets under fio verify', () => {
    const s = ok('reset-under-io');
    expect(s.out).toMatch(/reset 1: 0/);
    expect(s.out).toMatch(/reset 2: 0/);
    ok('disconnect');
  });
});
