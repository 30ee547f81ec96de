// The shipped Grafana dashboard and alert rules against the real thing: the daemon under load
// (every device kind), a real Prometheus (Debian's package) scraping it, and every panel query —
// with Grafana's variables as the dashboard defines them — returning data. Alert rules must
// evaluate, and none fires on a healthy daemon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost, NvmeStatusError } from '../../src/initiator/index.js';
import { dashboardPanels, loadAlertRules, loadDashboard, missingFromScrape } from '../helpers/dashboard.js';
import { ZoneSendAction } from '../../src/protocol/zns.js';
import { pattern } from '../helpers/pattern.js';
import { startPrometheus, type PromServer } from '../helpers/prometheus.js';
import { loopbackTopology } from '../helpers/topology.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:dashboard';

let daemon: Daemon;
let prom: PromServer;
let stopLoad = false;
let load: Promise<void>;

/** Grafana's variables as this dashboard defines them: "All" (.+) and a rate window of 10 scrapes. */
function grafanaExpand(expr: string): string {
  return expr
    .replace(/\$__rate_interval/g, '10s')
    .replace(/\$__interval/g, '1s')
    .replace(/\$__range/g, '1m')
    .replace(/\$(instance|nqn|nsid)\b/g, '.+');
}

async function runLoad(host: NvmeHost): Promise<void> {
  const small = pattern(4096, 1);
  const big = pattern(64 * 1024, 2);
  let i = 0;
  while (!stopLoad) {
    await host.write(1, i % 1024, small);
    await host.read(1, (i * 7) % 1024, 1);
    await host.write(2, (i * 128) % 32768, big); // 32 MiB / 512 B LBAs: wraps, so GC runs
    await host.read(2, (i * 128) % 32768, 8);
    const key = Buffer.from(`key-${i % 64}`);
    await host.kvStore(3, key, small, { commandSet: 'nvme-kv' });
    await host.kvRetrieve(3, key, { commandSet: 'nvme-kv' });
    // ZNS: appends into a zone of 768 blocks (3 MiB of 4 KiB), finish it, reset it, next zone.
    const zone = (i >> 4) % 16;
    await host.zoneAppend(4, zone * 1024, small);
    await host.read(4, zone * 1024, 1);
    if (i % 16 === 15) {
      await host.zoneManagementSend(4, zone * 1024, ZoneSendAction.Finish);
      await host.zoneManagementSend(4, zone * 1024, ZoneSendAction.Reset);
    }
    if (i % 16 === 0) {
      await host.deallocate(1, [{ slba: i % 1024, nlb: 1 }]);
      await host.flush(2);
      await host.kvDelete(3, key, { commandSet: 'nvme-kv' });
      await host.kvExists(3, key, { commandSet: 'nvme-kv' });
      await host.kvList(3, { commandSet: 'nvme-kv', max: 8 });
    }
    i++;
  }
}

beforeAll(async () => {
  const topology = loopbackTopology(NQN, [
    { nsid: 1, emulation: { type: 'nvm', preset: 'intel-optane', capacity: '64MiB', lba_size: 4096 } },
    { nsid: 2, emulation: { type: 'conv', preset: 'samsung-970pro', capacity: '16MiB', pages_per_block: 4 } },
    { nsid: 3, emulation: { type: 'kv', preset: 'kv-prototype', capacity: '16MiB', command_set: 'nvme-kv' } },
    { nsid: 4, emulation: { type: 'zns', preset: 'wd-zn540', capacity: '64MiB', lba_size: 4096, zone_size: '4MiB', zone_capacity: '3MiB', max_open_zones: 4, max_active_zones: 6 } },
  ]);
  daemon = await startDaemon({ topology, http: { address: '127.0.0.1', port: 0, enabled: true }, engine: { workers: 1 } });
  const port = daemon.listeners[0]!.port;
  const host = await NvmeHost.connect({ host: '127.0.0.1', port, subnqn: NQN, ioQueues: 1 });
  await expect(NvmeHost.connect({ host: '127.0.0.1', port, subnqn: `${NQN}:nope` })).rejects.toBeInstanceOf(NvmeStatusError);
  load = runLoad(host).finally(() => host.disconnect().catch(() => {}));
  prom = await startPrometheus([`127.0.0.1:${daemon.httpPort}`]);
  await prom.waitForScrapes(12);
}, 90_000);

afterAll(async () => {
  stopLoad = true;
  await load;
  await prom?.stop();
  await daemon?.stop();
});

describe('Grafana dashboard on a real Prometheus', () => {
  const panels = dashboardPanels(loadDashboard());

  it('every metric the dashboard and alerts use is in a scrape', async () => {
    const body = await (await fetch(`http://127.0.0.1:${daemon.httpPort}/metrics`)).text();
    expect(missingFromScrape(body)).toEqual([]);
  });

  it('the template variables resolve', async () => {
    const r = await prom.query('group by (instance, nqn, nsid) (nvmf_emu_namespace_info)');
    expect(r.result.map((x) => x.metric.nsid).sort()).toEqual(['1', '2', '3', '4']);
  });

  for (const p of panels) {
    for (const t of p.targets ?? []) {
      const expr = t.expr ?? '';
      it(`panel "${p.title}" ${t.refId ?? ''} returns data`, async () => {
        const r = await prom.query(grafanaExpand(expr));
        expect(r.result.length, `no data for ${expr}`).toBeGreaterThan(0);
        // A live daemon under load: rates and quantiles are numbers, not NaN (no data in the window).
        for (const s of r.result) expect(s.value?.[1], `${expr} -> ${JSON.stringify(s)}`).not.toBe('NaN');
      });
    }
  }
});

describe('alert rules on a real Prometheus', () => {
  for (const rule of loadAlertRules().filter((r) => r.alert)) {
    it(`${rule.alert} evaluates and does not fire on a healthy daemon`, async () => {
      const r = await prom.query(rule.expr);
      expect(r.result, `${rule.alert}: ${rule.expr}`).toEqual([]);
    });
  }
});
