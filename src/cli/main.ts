#!/usr/bin/env node
// nvmf-emu command line: `nvmf-emu` (or `nvmf-emu serve`) runs the daemon.
import { Command } from 'commander';
import { pino } from 'pino';
import { ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/settings.js';
import { daemonOptions, startDaemon, type Daemon } from '../daemon.js';
import { DISCOVERY_NQN } from '../protocol/constants.js';
import { registerGenDhchapKeyCommand } from './gen-dhchap-key.js';
import { registerKvCommand } from './kv.js';
import { registerPreconditionCommand, registerTimingCommand } from './runtime-commands.js';
import { registerSimulateCommand } from './simulate.js';
import { VERSION } from '../version.js';

async function serve(argv: string[]): Promise<void> {
  let cfg;
  try {
    cfg = loadConfig({ argv, env: process.env });
  } catch (err) {
    fail(err);
  }
  const { settings, topology } = cfg;
  const log = pino({ level: settings.log_level, base: undefined }, pino.destination(2));
  let daemon: Daemon;
  try {
    daemon = await startDaemon({ ...daemonOptions(settings, topology), logger: log });
  } catch (err) {
    fail(err, cfg.source === 'default' ? undefined : cfg.source);
  }
  printBanner(daemon, cfg.source, settings.advertise_address, settings.http, settings.metrics.enabled);
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    // Commands already received complete (up to 5 s), file-backed namespaces are synced and saved.
    void daemon.stop({ drainMs: 5000 }).then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function printBanner(d: Daemon, source: string, advertise: string, http: { address: string; port: number; enabled: boolean }, metrics: boolean): void {
  const lines = [`nvmf-emu ${VERSION}: configuration from ${source === 'default' ? 'the built-in default' : source}`];
  for (const l of d.listeners) {
    const addr = advertise || (l.address === '0.0.0.0' || l.address === '::' ? '<this-host-address>' : l.address);
    lines.push(`listening on ${l.address}:${l.port} (port ${l.portid})`);
    lines.push(`  nvme discover -t tcp -a ${addr} -s ${l.port}`);
    for (const s of d.target.subsystems.values()) {
      if (!s.ports.has(l.portid)) continue;
      const nss = [...s.namespaces.values()].map((n) => `nsid ${n.nsid}: ${n.device.kind} ${(n.device.capacityBytes / 2 ** 20).toFixed(0)} MiB`).join(', ');
      lines.push(`  nvme connect -t tcp -a ${addr} -s ${l.port} -n ${s.nqn}    # ${nss}`);
    }
  }
  if (http.enabled) lines.push(`admin HTTP on http://${http.address}:${d.httpPort} (/livez, /readyz${metrics ? ', /metrics' : ''}, /api/v1)`);
  lines.push(`discovery NQN: ${DISCOVERY_NQN}`);
  process.stdout.write(lines.join('\n') + '\n');
}

function fail(err: unknown, source?: string): never {
  if (err instanceof ConfigError) {
    const where = err.source ?? source;
    process.stderr.write(`nvmf-emu: invalid configuration${where ? ` (${where})` : ''}:\n`);
    for (const e of err.errors) process.stderr.write(`  ${e.path}: ${e.message}\n`);
  } else {
    process.stderr.write(`nvmf-emu: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(2);
}

const program = new Command();
program.name('nvmf-emu').description('NVMe-over-TCP target whose namespaces are emulated SSDs').version(VERSION);

const serveOptions = (c: Command): Command =>
  c
    .option('--config <file>', 'topology JSON file (nvmetcli save-file shape); env NVMF_EMU_CONFIG')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent; env NVMF_EMU_LOG_LEVEL')
    .option('--http-address <addr>', 'admin HTTP address (default 127.0.0.1); env NVMF_EMU_HTTP_ADDRESS')
    .option('--http-port <port>', 'admin HTTP port (default 9464); env NVMF_EMU_HTTP_PORT')
    .option('--no-http-enabled', 'do not start the admin HTTP listener')
    .option('--advertise-address <addr>', 'address put in discovery log entries; env NVMF_EMU_ADVERTISE_ADDRESS')
    .option('--workers <n>', 'device worker threads (0 = auto); env NVMF_EMU_WORKERS')
    .option('--http-token <token>', 'bearer token the admin API requires; env NVMF_EMU_HTTP_TOKEN')
    .option('--metrics-enabled <bool>', 'Prometheus metrics and per-command latency accounting (default true); env NVMF_EMU_METRICS_ENABLED')
    .option('--max-connections <n>', 'open NVMe/TCP connections (default 4096); env NVMF_EMU_MAX_CONNECTIONS')
    .option('--max-controllers <n>', 'live controllers (default 1024); env NVMF_EMU_MAX_CONTROLLERS')
    .option('--max-queue-size <n>', 'largest I/O queue, CAP.MQES + 1 (default 1024); env NVMF_EMU_MAX_QUEUE_SIZE')
    .option('--max-memory <size>', 'namespace data in memory, e.g. 16GiB (default 0 = unlimited); env NVMF_EMU_MAX_MEMORY');

serveOptions(program.command('serve', { isDefault: true }).description('run the target daemon (default)'))
  .allowUnknownOption(false)
  .action(async (_opts, cmd: Command) => {
    // convict resolves flags itself (default < file < env < flags), from the same words.
    await serve(cmd.parent ? process.argv.slice(2).filter((a) => a !== 'serve') : []);
  });

registerTimingCommand(program);
registerPreconditionCommand(program);
registerSimulateCommand(program);
registerKvCommand(program);
registerGenDhchapKeyCommand(program);

await program.parseAsync(process.argv);
