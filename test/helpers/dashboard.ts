// Metric names the shipped Grafana dashboard and Prometheus alert rules query, so they can be
// checked against what the daemon really exports: in a unit test against the names the issue
// specifies, and against a live scrape (`missingFromScrape(await (await fetch(url)).text())`) or
// a Prometheus's /api/v1/label/__name__/values.
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DASHBOARD_PATH = join(REPO_ROOT, 'deploy', 'grafana', 'nvmf-emu.json');
export const CHART_DASHBOARD_PATH = join(REPO_ROOT, 'helm', 'nvmf-emu', 'dashboards', 'nvmf-emu.json');
export const ALERTS_PATH = join(REPO_ROOT, 'deploy', 'prometheus', 'alerts.yml');
export const CHART_ALERTS_PATH = join(REPO_ROOT, 'helm', 'nvmf-emu', 'files', 'alerts.yml');

export interface DashboardTarget {
  expr?: string;
  refId?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}
export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}
export interface DashboardVariable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
}
export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: DashboardVariable[] };
}
export interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function loadDashboard(path = DASHBOARD_PATH): Dashboard {
  return JSON.parse(readFileSync(path, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included, rows themselves left out. */
export function dashboardPanels(d: Dashboard = loadDashboard()): DashboardPanel[] {
  return d.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
}

/** The text of a query variable (label_values(...)), whichever form Grafana saved it in. */
export function variableQuery(v: DashboardVariable): string {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? v.definition ?? '');
}

/** PromQL of every panel target and every query variable. */
export function dashboardExprs(d: Dashboard = loadDashboard()): string[] {
  const fromPanels = dashboardPanels(d).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
  const fromVars = d.templating.list.filter((v) => v.type === 'query').map(variableQuery);
  return [...fromPanels, ...fromVars];
}

export function loadAlertRules(path = ALERTS_PATH): AlertRule[] {
  const doc = parseYaml(readFileSync(path, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

/** nvmf_emu_* names in a PromQL expression, as they appear in a scrape (histograms as _bucket etc.). */
export function metricNamesInExpr(expr: string): string[] {
  return [...new Set(expr.match(/\bnvmf_emu_[a-zA-Z0-9_]+\b/g) ?? [])].sort();
}

const uniqSorted = (names: string[]): string[] => [...new Set(names)].sort();

export function dashboardMetricNames(d: Dashboard = loadDashboard()): string[] {
  return uniqSorted(dashboardExprs(d).flatMap(metricNamesInExpr));
}

export function alertMetricNames(rules: AlertRule[] = loadAlertRules()): string[] {
  return uniqSorted(rules.flatMap((r) => metricNamesInExpr(r.expr)));
}

/** Every nvmf_emu_* sample name the dashboard and the alert rules query (sorted, unique). */
export function metricNamesUsed(): string[] {
  return uniqSorted([...dashboardMetricNames(), ...alertMetricNames()]);
}

/** The metric family a sample name belongs to: histogram series lose _bucket, _sum, _count. */
export function metricFamily(name: string): string {
  return name.replace(/_(bucket|sum|count)$/, '');
}

/** Sample names present in a Prometheus text exposition (a /metrics body). */
export function namesInExposition(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{|\s)/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

/**
 * Names the dashboard or the alerts query that a scrape does not contain. Labelled series appear
 * only once observed (a histogram with no observation yet, a zns gauge with no zns namespace), so
 * scrape a daemon whose topology has every namespace kind, after some I/O.
 */
export function missingFromScrape(scrape: string | Iterable<string>, used: string[] = metricNamesUsed()): string[] {
  const present = typeof scrape === 'string' ? namesInExposition(scrape) : new Set(scrape);
  return used.filter((n) => !present.has(n));
}

/** promtool (from Prometheus; Debian package `prometheus`): $PROMTOOL, else on PATH, else undefined. */
export function findPromtool(): string | undefined {
  if (process.env.PROMTOOL) return process.env.PROMTOOL;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, 'promtool'), constants.X_OK);
      return join(dir, 'promtool');
    } catch {
      /* not in this directory */
    }
  }
  return undefined;
}
