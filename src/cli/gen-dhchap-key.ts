// `nvmf-emu gen-dhchap-key`: a DH-HMAC-CHAP secret in the DHHC-1 format, as nvme-cli's command of
// the same name prints it, for hosts[].dhchap_key / dhchap_ctrl_key and the host's --dhchap-secret.
import { Command, InvalidArgumentError, Option } from 'commander';
import { formatDhchapKey, generateDhchapKey, hashInfo } from '../protocol/auth.js';

export interface GenDhchapKeyOptions {
  /** 0 = no key transformation, 1..3 = SHA-256/384/512. */
  hmac: number;
  /** 32, 48 or 64 (default: the hash length, 32 without one). */
  keyLength?: number;
  /** The secret itself, in hex, instead of a random one. */
  secret?: string;
  nqn?: string;
}

/** The DHHC-1 string; throws InvalidArgumentError on inconsistent options (as nvme-cli refuses them). */
export function genDhchapKey(o: GenDhchapKeyOptions): string {
  const hashLen = o.hmac === 0 ? undefined : hashInfo(o.hmac)!.len;
  let len = o.keyLength ?? hashLen ?? 32;
  if (hashLen !== undefined && len !== hashLen) throw new InvalidArgumentError(`key length ${len} does not match --hmac ${o.hmac} (${hashInfo(o.hmac)!.digest}: ${hashLen})`);
  if (o.secret === undefined) return formatDhchapKey(generateDhchapKey(o.hmac, len));
  if (!/^([0-9a-fA-F]{2})+$/.test(o.secret)) throw new InvalidArgumentError('--secret must be hex digits');
  const secret = Buffer.from(o.secret, 'hex');
  if (o.keyLength !== undefined && secret.length !== o.keyLength) throw new InvalidArgumentError(`--secret is ${secret.length} bytes, --key-length says ${o.keyLength}`);
  len = secret.length;
  if (![32, 48, 64].includes(len) || (hashLen !== undefined && len !== hashLen)) throw new InvalidArgumentError(`--secret must be ${hashLen ?? '32, 48 or 64'} bytes, is ${len}`);
  return formatDhchapKey({ hash: o.hmac, secret });
}

const intChoice = (allowed: number[]) => (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !allowed.includes(n)) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}`);
  return n;
};

export function registerGenDhchapKeyCommand(program: Command): void {
  program
    .command('gen-dhchap-key')
    .description('print a new DH-HMAC-CHAP secret (DHHC-1 format, as nvme-cli gen-dhchap-key)')
    .addOption(new Option('-m, --hmac <id>', 'key transformation hash: 0 none, 1 SHA-256, 2 SHA-384, 3 SHA-512').argParser(intChoice([0, 1, 2, 3])).default(0))
    .addOption(new Option('-l, --key-length <bytes>', 'secret length: 32, 48 or 64 (default: the hash length, else 32)').argParser(intChoice([32, 48, 64])))
    .option('-s, --secret <hex>', 'use this secret instead of a random one')
    .option('-n, --nqn <nqn>', 'host NQN (accepted as nvme-cli does; the printed secret does not depend on it)')
    .action((o: GenDhchapKeyOptions, cmd: Command) => {
      let key: string;
      try {
        key = genDhchapKey(o);
      } catch (e) {
        cmd.error(`error: ${(e as Error).message}`); // usage error, exit code 1, no stack trace
      }
      process.stdout.write(`${key}\n`);
    });
}
