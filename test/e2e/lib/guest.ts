// Helpers for the e2e tests: a real Linux NVMe/TCP host (Debian 6.1 kernel booted under QEMU,
// see test/e2e/host/) and the nvmf-emu daemon started from dist/.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const HOST_DIR = process.env.E2E_HOST_DIR ?? join(REPO_ROOT, '.e2e-cache/linux-host');
const BUILD_HOST = join(REPO_ROOT, 'test/e2e/host/build-host.sh');
const RUN_GUEST = join(REPO_ROOT, 'test/e2e/host/run-guest.sh');
export const DAEMON_MAIN = join(REPO_ROOT, 'dist/src/cli/main.js');

/** The guest's host NQN (baked into the initramfs as /etc/nvme/hostnqn). */
export const GUEST_HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000beef';
/** The QEMU host's 127.0.0.1 as seen from the guest (QEMU user-mode networking). */
export const GUEST_GATEWAY = '10.0.2.2';

interface RunResult {
  code: number | null;
  output: string;
}

function run(cmd: string, args: string[], opts: { echo?: boolean; onOutput?: (text: string) => void } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    const collect = (b: Buffer): void => {
      chunks.push(b);
      if (opts.echo) process.stderr.write(b);
      opts.onOutput?.(b.toString('utf8'));
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

let hostPromise: Promise<string> | undefined;

/** Builds (or finds cached) kernel + initramfs once per process; resolves to the directory. */
export function ensureHost(): Promise<string> {
  hostPromise ??= (async () => {
    const r = await run(BUILD_HOST, [HOST_DIR]);
    if (r.code !== 0) throw new Error(`build-host.sh failed (exit ${r.code}):\n${r.output}`);
    return HOST_DIR;
  })();
  return hostPromise;
}

export interface GuestResult {
  /** Serial console output with \r removed. */
  output: string;
  /** rc of the guest script (from ===TEST-EXIT=<rc>===), null if it never finished. */
  exitCode: number | null;
  /** QEMU/run-guest.sh exit status (124: timeout). */
  qemuStatus: number | null;
  durationMs: number;
}

/**
 * Boots the Linux host and runs `script` (a /bin/sh script, busybox ash) as /test.sh; `onOutput`
 * sees the console as it comes (to act on markers the script prints).
 * Set E2E_GUEST_ECHO=1 to stream the console to stderr while it runs.
 */
export async function runGuest(script: string, timeoutS: number, onOutput?: (text: string) => void): Promise<GuestResult> {
  await ensureHost();
  const dir = await mkdtemp(join(tmpdir(), 'nvmf-emu-guest-'));
  const file = join(dir, 'test.sh');
  const body = script.startsWith('#!') ? script : `#!/bin/sh\n${script}`;
  await writeFile(file, body, { mode: 0o755 });
  const started = Date.now();
  try {
    const r = await run(RUN_GUEST, [file, String(timeoutS)], { echo: process.env.E2E_GUEST_ECHO === '1', ...(onOutput ? { onOutput } : {}) });
    const output = r.output.replace(/\r/g, '');
    const m = /===TEST-EXIT=(\d+)===/.exec(output);
    return { output, exitCode: m ? Number(m[1]) : null, qemuStatus: r.code, durationMs: Date.now() - started };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The guest script test/e2e/guest/<name>.sh with `vars` set first and lib.sh's helpers before it. */
export async function guestScript(name: string, vars: Record<string, string | number>): Promise<string> {
  const dir = join(REPO_ROOT, 'test/e2e/guest');
  const [lib, body] = await Promise.all([readFile(join(dir, 'lib.sh'), 'utf8'), readFile(join(dir, `${name}.sh`), 'utf8')]);
  return ['#!/bin/sh', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), '', lib, body].join('\n');
}

export interface GuestStep {
  name: string;
  rc: number;
  /** Command output between ===BEGIN name=== and ===STEP name rc=N===. */
  out: string;
  /** `dmesg | grep -i nvme | tail -40` printed by the guest after a failed step. */
  dmesg: string;
}

/** Parses the ===BEGIN x=== ... ===STEP x rc=N=== [===DMESG x=== ... ===END-DMESG===] protocol. */
export function parseSteps(output: string): Map<string, GuestStep> {
  const steps = new Map<string, GuestStep>();
  const re = /^===BEGIN (\S+)===\n([\s\S]*?)^===STEP \1 rc=(\d+)===\n(?:===DMESG \1===\n([\s\S]*?)^===END-DMESG===)?/gm;
  for (let m = re.exec(output); m; m = re.exec(output)) {
    const name = m[1] as string;
    steps.set(name, { name, rc: Number(m[3]), out: m[2] ?? '', dmesg: m[4] ?? '' });
  }
  return steps;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('no port'));
        return;
      }
      const { port } = addr;
      srv.close(() => resolvePromise(port));
    });
  });
}

/** `n` distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

export interface Daemon {
  proc: ChildProcess;
  httpPort: number;
  stop(): Promise<void>;
  logs(): string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `node dist/src/cli/main.js --config <configPath> --http-port <free port> ...extraArgs`
 * from the repository root and waits (up to 20 s) for GET /readyz to answer 200.
 */
export async function startDaemon(configPath: string, extraArgs: string[] = []): Promise<Daemon> {
  if (!existsSync(DAEMON_MAIN)) {
    throw new Error(`${DAEMON_MAIN} does not exist: run \`npm run build\` first`);
  }
  const httpPort = await freePort();
  const args = [DAEMON_MAIN, '--config', configPath, '--http-port', String(httpPort), ...extraArgs];
  const proc = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout?.on('data', (b: Buffer) => (log += b.toString('utf8')));
  proc.stderr?.on('data', (b: Buffer) => (log += b.toString('utf8')));
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((r) =>
    proc.once('exit', (code, signal) => {
      exited = { code, signal };
      r();
    }),
  );

  const stop = async (): Promise<void> => {
    if (exited) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exitPromise;
    clearTimeout(t);
  };

  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(`daemon exited (code ${exited.code}, signal ${exited.signal}) before ready:\n${log}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return { proc, httpPort, stop, logs: () => log };
      last = `HTTP ${res.status}: ${await res.text()}`;
    } catch (e) {
      last = String(e);
    }
    await sleep(200);
  }
  await stop();
  throw new Error(`daemon not ready after 20 s (last /readyz: ${last}):\n${log}`);
}
