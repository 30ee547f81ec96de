// `nvmf-emu kv put|get|del|exists|list`: key-value commands against a kv namespace over NVMe/TCP,
// through our initiator, so nobody packs CDWs by hand. The command layout (NVMeVirt vendor opcodes
// or the NVMe KV command set) is detected from the namespace's CSI unless --command-set says.
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { NvmeHost, NvmeStatusError } from '../initiator/host.js';
import { Csi, IdentifyCns, NidType } from '../protocol/constants.js';
import { KV_COMMAND_SETS, KV_MAX_KEY_LENGTH, type KvCommandSet } from '../protocol/kv.js';

interface KvCliOptions {
  addr: string;
  port: string;
  nqn: string;
  nsid: string;
  commandSet?: KvCommandSet;
  hex?: boolean;
  zeroBasedKeyLength?: boolean;
}

/** Parse a key: text (UTF-8), or hex digits with --hex. */
export function parseKey(s: string, hex = false): Buffer {
  let k: Buffer;
  if (hex) {
    if (!/^([0-9a-fA-F]{2})+$/.test(s)) throw new InvalidArgumentError(`"${s}" is not an even number of hex digits`);
    k = Buffer.from(s, 'hex');
  } else {
    k = Buffer.from(s, 'utf8');
  }
  if (k.length < 1 || k.length > KV_MAX_KEY_LENGTH) throw new InvalidArgumentError(`key must be 1..${KV_MAX_KEY_LENGTH} bytes, "${s}" is ${k.length}`);
  return k;
}

/** The namespace's command set from its CSI (Identify CNS 03h). */
async function detectCommandSet(host: NvmeHost, nsid: number): Promise<KvCommandSet> {
  const d = await host.identify(IdentifyCns.NsDescriptors, { nsid });
  for (let off = 0; off + 4 <= d.length && d[off] !== 0; off += 4 + d[off + 1]!) {
    if (d[off] === NidType.Csi) return d[off + 4] === Csi.KeyValue ? 'nvme-kv' : 'nvmevirt';
  }
  return 'nvmevirt';
}

async function withHost<T>(o: KvCliOptions, what: string, fn: (host: NvmeHost, nsid: number, set: KvCommandSet) => Promise<T>): Promise<void> {
  const nsid = Number(o.nsid);
  let host: NvmeHost | null = null;
  try {
    host = await NvmeHost.connect({ host: o.addr, port: Number(o.port), subnqn: o.nqn, ioQueues: 1 });
    const set = o.commandSet ?? (await detectCommandSet(host, nsid));
    await fn(host, nsid, set);
  } catch (err) {
    const msg = err instanceof NvmeStatusError ? `${err.statusName} (status 0x${err.status.toString(16)})` : (err as Error).message;
    process.stderr.write(`nvmf-emu kv ${what}: ${msg}\n`);
    process.exitCode = 1;
  } finally {
    await host?.disconnect({ shutdown: false });
  }
}

const common = (c: Command): Command =>
  c
    .requiredOption('-n, --nqn <nqn>', 'subsystem NQN')
    .option('-a, --addr <addr>', 'target address', '127.0.0.1')
    .option('-s, --port <port>', 'target NVMe/TCP port', '4420')
    .option('--nsid <n>', 'namespace id', '1')
    .option('--command-set <set>', `${KV_COMMAND_SETS.join(' or ')} (default: from the namespace's CSI)`, (v: string) => {
      if (!(KV_COMMAND_SETS as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${KV_COMMAND_SETS.join(', ')}`);
      return v;
    })
    .option('--hex', 'keys are hex digits (e.g. 00ff) instead of text')
    .option('--zero-based-key-length', 'send length - 1 as the key length (a vendor namespace with vendor_key_length "zero-based")');

function writeOut(b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(b, (e) => (e ? reject(e) : resolve())));
}

export function registerKvCommand(program: Command): void {
  const kv = program.command('kv').description('key-value commands on a kv namespace (put, get, del, exists, list)');

  common(kv.command('put').description('store VALUE (or --file, or standard input) under KEY'))
    .argument('<key>')
    .argument('[value]')
    .option('-f, --file <file>', 'value from a file')
    .option('--must-exist', 'store only over an existing key (nvme-kv)')
    .option('--must-not-exist', 'store only a new key')
    .option('--append', 'append to the existing value')
    .action(async (key: string, value: string | undefined, o: KvCliOptions & { file?: string; mustExist?: boolean; mustNotExist?: boolean; append?: boolean }) => {
      const k = parseKey(key, o.hex);
      const v = o.file !== undefined ? await readFile(o.file) : value !== undefined ? Buffer.from(value, 'utf8') : await readStdin();
      await withHost(o, 'put', (h, nsid, set) =>
        h.kvStore(nsid, k, v, { commandSet: set, zeroBasedKeyLength: o.zeroBasedKeyLength, mustExist: o.mustExist, mustNotExist: o.mustNotExist, append: o.append }),
      );
    });

  common(kv.command('get').description('print the value of KEY (raw bytes on standard output)'))
    .argument('<key>')
    .action(async (key: string, o: KvCliOptions) => {
      const k = parseKey(key, o.hex);
      await withHost(o, 'get', async (h, nsid, set) => writeOut((await h.kvRetrieve(nsid, k, { commandSet: set, zeroBasedKeyLength: o.zeroBasedKeyLength })).value));
    });

  common(kv.command('del').description('delete KEY (fails if it does not exist)'))
    .argument('<key>')
    .action(async (key: string, o: KvCliOptions) => {
      const k = parseKey(key, o.hex);
      await withHost(o, 'del', (h, nsid, set) => h.kvDelete(nsid, k, { commandSet: set, zeroBasedKeyLength: o.zeroBasedKeyLength }));
    });

  common(kv.command('exists').description('print "yes" and exit 0 if KEY exists, else "no" and exit 1'))
    .argument('<key>')
    .action(async (key: string, o: KvCliOptions) => {
      const k = parseKey(key, o.hex);
      await withHost(o, 'exists', async (h, nsid, set) => {
        const yes = await h.kvExists(nsid, k, { commandSet: set, zeroBasedKeyLength: o.zeroBasedKeyLength });
        process.stdout.write(yes ? 'yes\n' : 'no\n');
        if (!yes) process.exitCode = 1;
      });
    });

  common(kv.command('list').description('print the keys, one a line (in byte order)'))
    .option('--prefix <prefix>', 'only keys starting with this')
    .option('--start <key>', 'from this key on')
    .option('--max <n>', 'at most this many keys')
    .action(async (o: KvCliOptions & { prefix?: string; start?: string; max?: string }) => {
      await withHost(o, 'list', async (h, nsid, set) => {
        const keys = await h.kvList(nsid, {
          commandSet: set,
          prefix: o.prefix === undefined ? undefined : o.hex ? Buffer.from(o.prefix, 'hex') : Buffer.from(o.prefix, 'utf8'),
          start: o.start === undefined ? undefined : parseKey(o.start, o.hex),
          max: o.max === undefined ? undefined : Number(o.max),
        });
        process.stdout.write(keys.map((k) => (o.hex ? k.toString('hex') : k.toString('utf8')) + '\n').join(''));
      });
    });
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
