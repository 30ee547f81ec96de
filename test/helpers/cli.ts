// Run one `nvmf-emu` subcommand in-process (commander, as the real CLI registers it), capturing
// what it writes and the exit code it sets.
import { Command } from 'commander';
import { vi } from 'vitest';

export async function runCli(register: (program: Command) => void, argv: string[]): Promise<{ out: Buffer; err: string; code: number }> {
  const program = new Command().exitOverride();
  register(program);
  const out: Buffer[] = [];
  let err = '';
  const w = vi.spyOn(process.stdout, 'write').mockImplementation(((c: string | Uint8Array, cb?: unknown) => {
    out.push(Buffer.from(c));
    if (typeof cb === 'function') (cb as () => void)();
    return true;
  }) as typeof process.stdout.write);
  const e = vi.spyOn(process.stderr, 'write').mockImplementation(((c: string | Uint8Array) => {
    err += String(c);
    return true;
  }) as typeof process.stderr.write);
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'nvmf-emu', ...argv]);
  } finally {
    w.mockRestore();
    e.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out: Buffer.concat(out), err, code };
}
