// The nvmf-emu command as a child process, run from the TypeScript sources (the engine's
// development loader strips types), for tests that need a real process: kill -9, SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LOADER = pathToFileURL(join(ROOT, 'src/devices/engine/ts-loader.mjs')).href;
const MAIN = join(ROOT, 'src/cli/main.ts');

export interface DaemonProcess {
  proc: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** Start `nvmf-emu serve ...args`; resolves once it prints its banner (listeners bound). */
export async function spawnDaemon(args: string[], timeoutMs = 30_000): Promise<DaemonProcess> {
  const register = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(LOADER)});`;
  const proc = spawn(process.execPath, ['--import', register, MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | string>((r) => proc.once('exit', (code, sig) => r(code ?? sig ?? -1)));
  const until = Date.now() + timeoutMs;
  while (!/discovery NQN/.test(out)) {
    if (proc.exitCode !== null) throw new Error(`daemon exited (${proc.exitCode}) before it was ready:\n${out}`);
    if (Date.now() > until) {
      proc.kill('SIGKILL');
      throw new Error(`daemon not ready after ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, output: () => out, exited };
}
