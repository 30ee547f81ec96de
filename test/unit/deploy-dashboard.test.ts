// The Grafana dashboard (deploy/grafana/nvmf-emu.json and the Helm chart's copy) and the metric
// names it and the alert rules query.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ALERTS_PATH,
  CHART_DASHBOARD_PATH,
  DASHBOARD_PATH,
  alertMetricNames,
  dashboardExprs,
  dashboardMetricNames,
  dashboardPanels,
  findPromtool,
  loadAlertRules,
  loadDashboard,
  metricFamily,
  metricNamesInExpr,
  metricNamesUsed,
  missingFromScrape,
  variableQuery,
} from '../helpers/dashboard.js';

/** The metric families the daemon exports (issue 6), with the labels each has. */
const NS = ['nqn', 'nsid'];
const ISSUE_METRICS: Record<string, string[]> = {
  nvmf_emu_namespace_reads_completed_total: NS,
  nvmf_emu_namespace_writes_completed_total: NS,
  nvmf_emu_namespace_discards_completed_total: NS,
  nvmf_emu_namespace_flush_requests_total: NS,
  nvmf_emu_namespace_read_bytes_total: NS,
  nvmf_emu_namespace_written_bytes_total: NS,
  nvmf_emu_namespace_discarded_bytes_total: NS,
  nvmf_emu_namespace_read_latency_seconds: [...NS, 'le'],
  nvmf_emu_namespace_write_latency_seconds: [...NS, 'le'],
  nvmf_emu_namespace_media_read_latency_seconds: [...NS, 'le'],
  nvmf_emu_namespace_media_write_latency_seconds: [...NS, 'le'],
  nvmf_emu_namespace_io_now: NS,
  nvmf_emu_ftl_host_written_bytes_total: NS,
  nvmf_emu_ftl_media_written_bytes_total: [...NS, 'source'],
  nvmf_emu_ftl_media_read_bytes_total: NS,
  nvmf_emu_ftl_gc_runs_total: NS,
  nvmf_emu_ftl_gc_pages_moved_total: NS,
  nvmf_emu_ftl_block_erases_total: NS,
  nvmf_emu_ftl_free_blocks: NS,
  nvmf_emu_ftl_blocks: NS,
  nvmf_emu_ftl_write_amplification: NS,
  nvmf_emu_namespace_percentage_used: NS,
  nvmf_emu_namespace_available_spare: NS,
  nvmf_emu_zns_zones: [...NS, 'state'],
  nvmf_emu_zns_open_zones: NS,
  nvmf_emu_zns_active_zones: NS,
  nvmf_emu_zns_max_open_zones: NS,
  nvmf_emu_zns_max_active_zones: NS,
  nvmf_emu_zns_zone_resets_total: NS,
  nvmf_emu_zns_zone_finishes_total: NS,
  nvmf_emu_zns_zone_appends_total: NS,
  nvmf_emu_kv_commands_total: [...NS, 'op'],
  nvmf_emu_kv_keys: NS,
  nvmf_emu_kv_used_bytes: NS,
  nvmf_emu_kv_capacity_bytes: NS,
  nvmf_emu_connections: [],
  nvmf_emu_controllers: [],
  nvmf_emu_queue_pairs: [],
  nvmf_emu_pdus_received_total: ['type'],
  nvmf_emu_pdus_sent_total: ['type'],
  nvmf_emu_transport_received_bytes_total: [],
  nvmf_emu_transport_sent_bytes_total: [],
  nvmf_emu_header_digest_errors_total: [],
  nvmf_emu_data_digest_errors_total: [],
  nvmf_emu_connect_rejects_total: ['reason'],
  nvmf_emu_keep_alive_timeouts_total: [],
  nvmf_emu_term_reqs_sent_total: [],
  nvmf_emu_engine_worker_failures_total: [],
  nvmf_emu_build_info: ['version', 'node_version'],
  nvmf_emu_subsystem_info: ['nqn', 'serial', 'model'],
  nvmf_emu_namespace_info: ['nqn', 'nsid', 'kind', 'preset'],
  nvmf_emu_listener_info: ['portid', 'traddr', 'trsvcid'],
};
const HISTOGRAMS = Object.keys(ISSUE_METRICS).filter((m) => m.endsWith('_seconds'));
/** Labels every series has once scraped. */
const TARGET_LABELS = ['job', 'instance'];

const d = loadDashboard();
const panels = dashboardPanels(d);
const exprs = dashboardExprs(d);

describe('dashboard JSON', () => {
  it('parses, with a stable uid and a recent schemaVersion', () => {
    expect(d.uid).toBe('nvmf-emu');
    expect(d.title).toBe('nvmf-emu');
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
  });

  it('has a datasource variable for Prometheus, used by every panel and target', () => {
    const ds = d.templating.list.find((v) => v.type === 'datasource');
    expect(ds).toMatchObject({ name: 'datasource', query: 'prometheus' });
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets ?? []) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('has nqn and nsid query variables from label_values, on the datasource variable', () => {
    for (const name of ['nqn', 'nsid']) {
      const v = d.templating.list.find((x) => x.name === name);
      expect(v?.type, name).toBe('query');
      expect(variableQuery(v!)).toMatch(new RegExp(`^label_values\\(nvmf_emu_\\w+(\\{[^}]*\\})?, ${name}\\)$`));
      expect((v as unknown as { datasource: unknown }).datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('every panel has targets, each with an expr and a unique refId', () => {
    expect(panels.length).toBeGreaterThanOrEqual(20);
    for (const p of panels) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.expr?.trim(), `${p.title} ${t.refId}`).toBeTruthy();
      expect(new Set(p.targets!.map((t) => t.refId)).size, p.title).toBe(p.targets!.length);
    }
  });

  it('panel ids are unique and panels fit the 24-column grid without overlapping', () => {
    const all = d.panels;
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    for (const p of all) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.gridPos.w).toBeGreaterThan(0);
      expect(p.gridPos.h).toBeGreaterThan(0);
    }
    const overlap = (a: DashboardPanelBox, b: DashboardPanelBox): boolean =>
      a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) expect(overlap(all[i]!.gridPos, all[j]!.gridPos), `${all[i]!.title} / ${all[j]!.title}`).toBe(false);
    }
  });

  it('every range vector uses $__rate_interval (rate, irate, increase)', () => {
    const ranges = exprs.flatMap((e) => [...e.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]));
    expect(ranges.length).toBeGreaterThan(20);
    expect(new Set(ranges)).toEqual(new Set(['$__rate_interval']));
    for (const e of exprs) {
      for (const m of e.matchAll(/\b(rate|irate|increase)\(/g)) {
        const rest = e.slice(m.index! + m[0].length);
        expect(rest, e).toMatch(/^[^()]*\[\$__rate_interval\]\)/);
      }
    }
  });

  it('latency quantiles are histogram_quantile over the le buckets of rate()', () => {
    const q = exprs.filter((e) => e.includes('histogram_quantile'));
    expect(q.length).toBeGreaterThanOrEqual(8);
    for (const e of q) expect(e).toMatch(/^histogram_quantile\(0\.\d+, sum by \([^)]*\ble\b[^)]*\) \(rate\(nvmf_emu_\w+_seconds_bucket\{[^}]*\}\[\$__rate_interval\]\)\)\)$/);
    for (const h of HISTOGRAMS) {
      for (const quantile of ['0.5', '0.99']) expect(q.some((e) => e.startsWith(`histogram_quantile(${quantile},`) && e.includes(`${h}_bucket`)), `${h} ${quantile}`).toBe(true);
    }
  });

  it('write amplification over time is rate(media written) / rate(host written)', () => {
    expect(exprs.some((e) => /rate\(nvmf_emu_ftl_media_written_bytes_total.*\/.*rate\(nvmf_emu_ftl_host_written_bytes_total/.test(e))).toBe(true);
  });

  it('namespace metrics are filtered by the nqn and nsid variables, and grouped by labels they have', () => {
    for (const e of exprs) {
      for (const m of e.matchAll(/\b(nvmf_emu_\w+)\{([^}]*)\}/g)) {
        const family = metricFamily(m[1]!);
        const labels = ISSUE_METRICS[family];
        if (!labels) continue; // reported by the name test below
        if (labels.includes('nsid') && !/^label_values/.test(e)) {
          expect(m[2], e).toContain('nqn=~"$nqn"');
          expect(m[2], e).toContain('nsid=~"$nsid"');
        }
        for (const sel of m[2]!.matchAll(/(\w+)\s*=~?/g)) expect([...labels, ...TARGET_LABELS], `${sel[1]} in ${e}`).toContain(sel[1]);
      }
      for (const g of e.matchAll(/\bby \(([^)]*)\)/g)) {
        const names = metricNamesInExpr(e).map(metricFamily);
        const allowed = new Set([...TARGET_LABELS, ...names.flatMap((n) => ISSUE_METRICS[n] ?? [])]);
        for (const l of g[1]!.split(',').map((s) => s.trim())) expect([...allowed], `by (${l}) in ${e}`).toContain(l);
      }
    }
  });

  it('the Helm chart ships a byte-identical copy', () => {
    expect(readFileSync(CHART_DASHBOARD_PATH).equals(readFileSync(DASHBOARD_PATH))).toBe(true);
  });
});

describe('metric names used by the dashboard and the alert rules', () => {
  const used = metricNamesUsed();

  it('are all metrics the daemon exports (issue 6 list), histograms as _bucket/_sum/_count', () => {
    const unknown = used.filter((n) => !(metricFamily(n) in ISSUE_METRICS) || (n !== metricFamily(n) && !HISTOGRAMS.includes(metricFamily(n))));
    expect(unknown).toEqual([]);
    for (const h of HISTOGRAMS) expect(used).not.toContain(h); // a histogram is only queried through its series
  });

  it('cover every metric of the list in the dashboard', () => {
    const families = new Set(dashboardMetricNames().map(metricFamily));
    expect(Object.keys(ISSUE_METRICS).filter((m) => !families.has(m))).toEqual([]);
  });

  it('alerts query write amplification, percentage used, digest errors, connect rejects and keep-alive timeouts', () => {
    expect(alertMetricNames()).toEqual(
      expect.arrayContaining([
        'nvmf_emu_ftl_media_written_bytes_total',
        'nvmf_emu_ftl_host_written_bytes_total',
        'nvmf_emu_namespace_percentage_used',
        'nvmf_emu_header_digest_errors_total',
        'nvmf_emu_data_digest_errors_total',
        'nvmf_emu_connect_rejects_total',
        'nvmf_emu_keep_alive_timeouts_total',
      ]),
    );
    expect(loadAlertRules().some((r) => /\bup\{job="nvmf-emu"\} == 0/.test(r.expr))).toBe(true);
  });

  it('missingFromScrape() reports what a /metrics body lacks', () => {
    const scrape = [
      '# HELP nvmf_emu_connections Open connections',
      '# TYPE nvmf_emu_connections gauge',
      'nvmf_emu_connections 2',
      'nvmf_emu_namespace_read_latency_seconds_bucket{nqn="n",nsid="1",le="0.001"} 3',
    ].join('\n');
    const missing = missingFromScrape(scrape);
    expect(missing).not.toContain('nvmf_emu_connections');
    expect(missing).not.toContain('nvmf_emu_namespace_read_latency_seconds_bucket');
    expect(missing).toContain('nvmf_emu_kv_keys');
    expect(missingFromScrape(used)).toEqual([]);
  });

  it('the list (printed for the lead, to check against a live scrape)', () => {
    console.log(`metric names used by the dashboard and alerts (${used.length}):\n${used.join('\n')}`);
    expect(used).toEqual([...used].sort());
  });
});

// promtool (Debian package prometheus) parses every expression when it is on PATH or in $PROMTOOL.
const promtool = findPromtool();
describe.skipIf(!promtool)('PromQL syntax (promtool)', () => {
  it('every dashboard expression and alert rule parses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deploy-promtool-'));
    try {
      const fill = (e: string): string =>
        e.replace(/^label_values\((.*), \w+\)$/, '$1').replaceAll('$__rate_interval', '1m').replace(/\$(instance|nqn|nsid)\b/g, '.+');
      const rules = exprs.map((e, i) => ({ record: `dashboard:expr${i}`, expr: fill(e) }));
      writeFileSync(join(dir, 'dashboard.json'), JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
      execFileSync(promtool!, ['check', 'rules', join(dir, 'dashboard.json'), ALERTS_PATH], { stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

type DashboardPanelBox = { x: number; y: number; w: number; h: number };
