// `nvmf-emu gen-dhchap-key`: nvme-cli's options and output format, through commander as main.ts
// registers it.
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { genDhchapKey, registerGenDhchapKeyCommand } from '../../src/cli/gen-dhchap-key.js';
import { parseDhchapKey } from '../../src/protocol/auth.js';

async function run(...args: string[]): Promise<{ out: string; err: string }> {
  const program = new Command().exitOverride();
  let out = '';
  let err = '';
  program.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  registerGenDhchapKeyCommand(program);
  try {
    await program.parseAsync(['node', 'nvmf-emu', 'gen-dhchap-key', ...args]);
  } catch (e) {
    err += (e as Error).message;
  } finally {
    spy.mockRestore();
  }
  return { out, err };
}

afterEach(() => vi.restoreAllMocks());

describe('gen-dhchap-key', () => {
  it.each([
    [[], 0, 32],
    [['--hmac', '1'], 1, 32],
    [['-m', '2'], 2, 48],
    [['--hmac=3'], 3, 64],
    [['--key-length', '64'], 0, 64],
    [['-m', '0', '-l', '48', '--nqn', 'nqn.2014-08.org.nvmexpress:uuid:x'], 0, 48],
  ] as const)('%j prints a DHHC-1 secret the daemon accepts (hash %i, %i bytes)', async (args, hash, len) => {
    const { out, err } = await run(...args);
    expect(err).toBe('');
    expect(out).toMatch(/^DHHC-1:0[0-3]:[A-Za-z0-9+/=]+:\n$/);
    const k = parseDhchapKey(out.trim());
    expect(k).toMatchObject({ hash });
    expect(k.secret.length).toBe(len);
  });

  it('random secrets differ; a given --secret is encoded as is', async () => {
    expect((await run()).out).not.toBe((await run()).out);
    const hex = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
    expect(parseDhchapKey(genDhchapKey({ hmac: 1, secret: hex })).secret.toString('hex')).toBe(hex);
  });

  it('refuses what nvme-cli refuses', async () => {
    expect((await run('--hmac', '4')).err).toMatch(/must be one of 0, 1, 2, 3/);
    expect((await run('--key-length', '40')).err).toMatch(/must be one of 32, 48, 64/);
    expect((await run('--hmac', '1', '--key-length', '64')).err).toMatch(/key length 64 does not match --hmac 1/);
    expect(() => genDhchapKey({ hmac: 2, secret: 'aa'.repeat(32) })).toThrow(/must be 48 bytes/);
    expect(() => genDhchapKey({ hmac: 0, secret: 'xyz' })).toThrow(/hex/);
  });
});
