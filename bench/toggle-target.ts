// The metrics on/off comparison's target (`npm run bench` starts it): the daemon with per-command
// accounting switched by "on"/"off" lines on stdin, each answered "ok". Its own entry point, so the
// load generator's process never loads the daemon: with it loaded, the generator's GC pauses
// (a bigger heap) held random writes at ~175K with 10 ms at p99.9 instead of ~250K.
import { loadConfig } from '../src/config/settings.js';
import { daemonOptions, startDaemon } from '../src/daemon.js';

/** The metrics comparison's target: the daemon with per-command accounting switched by "on"/"off" lines on stdin. */
async function toggleTarget(cfgPath: string, httpPort: string): Promise<void> {
  const { settings, topology } = loadConfig({ argv: ['--config', cfgPath, '--http-port', httpPort], env: {} });
  const daemon = await startDaemon({ ...daemonOptions(settings, topology), metrics: { enabled: true } });
  process.stdout.write(`listening on 127.0.0.1:${daemon.listeners[0]!.port} http ${daemon.httpPort}\n`);
  let buf = '';
  process.stdin.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      daemon.target.metricsEnabled = buf.slice(0, nl).trim() === 'on';
      buf = buf.slice(nl + 1);
      process.stdout.write('ok\n');
    }
  });
}

// argv: the config file, the admin HTTP port.
await toggleTarget(process.argv[2]!, process.argv[3]!);
