// CLI commands that act on a running daemon: timing control (over the admin HTTP API) and
// preconditioning (real writes over NVMe/TCP with our initiator, GC watched through the API).
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { NvmeHost } from '../initiator/host.js';

const API = '/api/v1';

async function api(base: string, token: string | undefined, path: string, init?: { method: string; body: unknown }): Promise<unknown> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (init) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${API}${path}`, { method: init?.method ?? 'GET', headers, body: init ? JSON.stringify(init.body) : undefined });
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${res.status}: ${body.field ? `${body.field}: ` : ''}${body.message ?? JSON.stringify(body)}`);
  return body;
}

/** The admin API's bearer token, when the daemon has one (http.token). */
const TOKEN_OPTION = ['--token <token>', 'admin API bearer token (default: $NVMF_EMU_HTTP_TOKEN)'] as const;
const tokenOf = (o: { token?: string }): string | undefined => o.token ?? (process.env.NVMF_EMU_HTTP_TOKEN || undefined);

const nsPath = (nqn: string, nsid: number): string => `/subsystems/${encodeURIComponent(nqn)}/namespaces/${nsid}`;

export function registerTimingCommand(program: Command): void {
  program
    .command('timing')
    .description('show or change a namespace\'s timing parameters while it runs (like /proc/nvmev/*)')
    .requiredOption('-n, --nqn <nqn>', 'subsystem NQN')
    .option('--nsid <n>', 'namespace id', '1')
    .option('--http <url>', 'admin HTTP endpoint of the daemon', 'http://127.0.0.1:9464')
    .option(...TOKEN_OPTION)
    .argument('[settings...]', 'KEY=VALUE pairs to set, e.g. read_latency_ns=20000 write_latency_ns=30000')
    .action(async (settings: string[], o: { nqn: string; nsid: string; http: string; token?: string }) => {
      const path = `${nsPath(o.nqn, Number(o.nsid))}/timing`;
      try {
        if (settings.length === 0) {
          print(await api(o.http, tokenOf(o), path));
          return;
        }
        const body: Record<string, number> = {};
        for (const kv of settings) {
          const m = /^([a-z0-9_]+)=(\S+)$/.exec(kv);
          if (!m || !Number.isFinite(Number(m[2]))) throw new Error(`"${kv}": expected KEY=NUMBER`);
          body[m[1]!] = Number(m[2]);
        }
        print(await api(o.http, tokenOf(o), path, { method: 'PATCH', body }));
      } catch (err) {
        process.stderr.write(`nvmf-emu timing: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}

function print(v: unknown): void {
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) process.stdout.write(`${k} = ${String(val)}\n`);
}

interface PreconditionOptions {
  addr: string;
  port: string;
  nqn: string;
  nsid: string;
  http: string;
  overwrite: string;
  qd: string;
  quiet?: boolean;
  token?: string;
}

async function gcRuns(http: string, token: string | undefined, nqn: string, nsid: number): Promise<number | null> {
  try {
    const s = (await api(http, token, `${nsPath(nqn, nsid)}/stats`)) as { device: { gcRuns: number } };
    return s.device.gcRuns;
  } catch {
    return null;
  }
}

/** Keep `qd` writes in flight over `count` blocks chosen by `pick`, ticking `onDone` per write. */
async function writeLoop(host: NvmeHost, nsid: number, data: Buffer, lbasPerIo: number, count: number, qd: number, pick: (i: number) => number, onDone: () => void, stop: () => boolean): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count && !stop()) {
      const i = next++;
      await host.write(nsid, pick(i) * lbasPerIo, data);
      onDone();
    }
  };
  await Promise.all(Array.from({ length: qd }, worker));
}

export function registerPreconditionCommand(program: Command): void {
  program
    .command('precondition')
    .description('bring a namespace to steady state: fill it sequentially, then overwrite at random until GC runs')
    .requiredOption('-n, --nqn <nqn>', 'subsystem NQN')
    .option('-a, --addr <addr>', 'target address', '127.0.0.1')
    .option('-s, --port <port>', 'target NVMe/TCP port', '4420')
    .option('--nsid <n>', 'namespace id', '1')
    .option('--http <url>', 'admin HTTP endpoint, to watch GC', 'http://127.0.0.1:9464')
    .option(...TOKEN_OPTION)
    .option('--overwrite <factor>', 'random 4 KiB overwrites, as a multiple of the capacity (at least; more until GC has run, up to 3x)', '1')
    .option('--qd <n>', 'writes in flight', '32')
    .option('--quiet', 'no progress bar')
    .action(async (o: PreconditionOptions) => {
      const nsid = Number(o.nsid);
      let host: NvmeHost | null = null;
      try {
        host = await NvmeHost.connect({ host: o.addr, port: Number(o.port), subnqn: o.nqn, ioQueues: 1, queueSize: Math.max(32, Number(o.qd) + 1) });
        const info = await host.namespaceInfo(nsid);
        const capacity = Number(info.nsze) * info.lbaSize;
        const bars = new cliProgress.MultiBar({ format: '{phase} |{bar}| {percentage}% {value}/{total} MiB {extra}', hideCursor: true, noTTYOutput: !o.quiet, notTTYSchedule: 2000 }, cliProgress.Presets.shades_classic);
        const mib = (b: number): number => Math.floor(b / 2 ** 20);

        // Phase 1: sequential fill with 128 KiB writes.
        const fillBs = Math.min(128 * 1024, capacity);
        const fillCount = Math.floor(capacity / fillBs);
        const fill = o.quiet ? null : bars.create(mib(fillCount * fillBs), 0, { phase: 'fill     ', extra: '' });
        let filled = 0;
        const fillData = Buffer.alloc(fillBs, 0x5a);
        await writeLoop(host, nsid, fillData, fillBs / info.lbaSize, fillCount, Number(o.qd), (i) => i, () => {
          filled++;
          fill?.update(mib(filled * fillBs));
        }, () => false);

        // Phase 2: random 4 KiB overwrites until GC has run and the minimum factor is written.
        const bs = Math.max(4096, info.lbaSize);
        const blocks = Math.floor(capacity / bs);
        const minCount = Math.ceil(blocks * Number(o.overwrite));
        const maxCount = Math.max(minCount, blocks * 3);
        const gc0 = await gcRuns(o.http, tokenOf(o), o.nqn, nsid);
        let gcSeen = gc0 === null; // without the API, the factor alone decides
        const over = o.quiet ? null : bars.create(mib(minCount * bs), 0, { phase: 'overwrite', extra: gc0 === null ? '(GC not observable: no admin API)' : 'waiting for GC' });
        let done = 0;
        const data = Buffer.alloc(bs, 0xa5);
        const poll = setInterval(() => {
          if (gcSeen) return;
          void gcRuns(o.http, tokenOf(o), o.nqn, nsid).then((n) => {
            if (n !== null && gc0 !== null && n > gc0) {
              gcSeen = true;
              over?.update({ extra: `GC running (${n - gc0} runs)` });
            }
          });
        }, 500);
        let seed = 0x9e3779b9;
        const rand = (): number => {
          seed ^= seed << 13;
          seed ^= seed >>> 17;
          seed ^= seed << 5;
          return (seed >>> 0) % blocks;
        };
        await writeLoop(host, nsid, data, bs / info.lbaSize, maxCount, Number(o.qd), rand, () => {
          done++;
          if (over) over.setTotal(Math.max(mib(minCount * bs), mib(done * bs))), over.update(mib(done * bs));
        }, () => done >= minCount && gcSeen);
        clearInterval(poll);
        bars.stop();
        const gc1 = await gcRuns(o.http, tokenOf(o), o.nqn, nsid);
        process.stdout.write(`preconditioned ${o.nqn} nsid ${nsid}: filled ${mib(filled * fillBs)} MiB, overwrote ${mib(done * bs)} MiB at random` +
          (gc1 !== null && gc0 !== null ? `, GC runs ${gc1 - gc0}` : '') + '\n');
      } catch (err) {
        process.stderr.write(`nvmf-emu precondition: ${(err as Error).message}\n`);
        process.exitCode = 1;
      } finally {
        await host?.close();
      }
    });
}
