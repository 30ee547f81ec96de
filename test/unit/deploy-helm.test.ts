// The Helm chart (helm/nvmf-emu), checked without Helm (not installable on these machines):
// values against values.schema.json, template references against values.yaml, template syntax
// balance, the files the templates read, and the default topology against the daemon's validator.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateTopology } from '../../src/config/topology.js';
import { ALERTS_PATH, CHART_ALERTS_PATH, REPO_ROOT, loadAlertRules } from '../helpers/dashboard.js';

const CHART = join(REPO_ROOT, 'helm', 'nvmf-emu');
const TEMPLATES = join(CHART, 'templates');
type Obj = Record<string, unknown>;

const readValues = (): Obj => parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Obj;
const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Obj;
const validate = new Ajv({ allErrors: true }).compile(schema);
const templateFiles = readdirSync(TEMPLATES).filter((f) => /\.(ya?ml|tpl|txt)$/.test(f));
const templateText = (f: string): string => readFileSync(join(TEMPLATES, f), 'utf8');

function errorsFor(values: unknown): ErrorObject[] {
  return validate(values) ? [] : [...(validate.errors ?? [])];
}

/** Set a value at a dotted path (array indices as numbers), creating objects on the way. */
function setPath(o: Obj, path: string, value: unknown): Obj {
  const keys = path.split('.');
  let cur: Obj = o;
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Obj;
  cur[keys.at(-1)!] = value;
  return o;
}

describe('values.yaml and values.schema.json', () => {
  it('the schema is draft-07 and values.yaml validates against it', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(errorsFor(readValues())).toEqual([]);
  });

  const BAD: { what: string; path: string; value: unknown; at: string; extra?: string }[] = [
    { what: 'a typo at the top', path: 'persistance', value: { enabled: true }, at: '', extra: 'persistance' },
    { what: 'a typo in a nested block', path: 'metrics.serviceMonitor.intreval', value: '30s', at: '/metrics/serviceMonitor', extra: 'intreval' },
    { what: 'a typo in a probe', path: 'livenessProbe.periodSecond', value: 5, at: '/livenessProbe', extra: 'periodSecond' },
    { what: 'an unknown pull policy', path: 'image.pullPolicy', value: 'Sometimes', at: '/image/pullPolicy' },
    { what: 'a port that is not a number', path: 'service.ports.nvme', value: '4420x', at: '/service/ports/nvme' },
    { what: 'a port out of range', path: 'service.ports.admin', value: 70000, at: '/service/ports/admin' },
    { what: 'an unknown service type', path: 'service.type', value: 'Ingress', at: '/service/type' },
    { what: 'an interval that is not a duration', path: 'metrics.serviceMonitor.interval', value: 30, at: '/metrics/serviceMonitor/interval' },
    { what: 'a host name as advertise address', path: 'advertiseAddress', value: 'nvme.example.com', at: '/advertiseAddress' },
    { what: 'a dashboard label that is not a string', path: 'grafana.dashboard.labels.grafana_dashboard', value: 1, at: '/grafana/dashboard/labels/grafana_dashboard' },
    { what: 'a malformed volume size', path: 'persistence.size', value: '10 GB', at: '/persistence/size' },
    { what: 'an unknown alert name', path: 'metrics.prometheusRule.disabledAlerts', value: ['NvmfEmuTypo'], at: '/metrics/prometheusRule/disabledAlerts/0' },
    { what: 'an unknown log level', path: 'logLevel', value: 'verbose', at: '/logLevel' },
    { what: 'negative workers', path: 'workers', value: -1, at: '/workers' },
  ];
  for (const b of BAD) {
    it(`rejects ${b.what} at ${b.at || '/'}`, () => {
      const errs = errorsFor(setPath(readValues(), b.path, b.value));
      const hit = errs.filter((e) => e.instancePath === b.at);
      expect(hit.length, JSON.stringify(errs)).toBeGreaterThan(0);
      if (b.extra) expect(hit.map((e) => (e.params as { additionalProperty?: string }).additionalProperty)).toContain(b.extra);
    });
  }

  it('rejects bad topology entries with their path', () => {
    const v = readValues();
    const sub = (v.topology as { subsystems: Obj[] }).subsystems[0]!;
    sub.nqn = 'default';
    ((sub.namespaces as Obj[])[0]!.emulation as Obj).type = 'zfs';
    (sub.namespaces as Obj[])[1]!.nsidd = 2;
    const at = errorsFor(v).map((e) => e.instancePath);
    expect(at).toContain('/topology/subsystems/0/nqn');
    expect(at).toContain('/topology/subsystems/0/namespaces/0/emulation/type');
    expect(at).toContain('/topology/subsystems/0/namespaces/1');
  });

  it('accepts the documented alternatives (hostNetwork, LoadBalancer with node ports, an IPv6 advertise address, extra rules)', () => {
    const v = readValues();
    setPath(v, 'hostNetwork', true);
    setPath(v, 'service.type', 'LoadBalancer');
    setPath(v, 'service.nodePorts.nvme', 30420);
    setPath(v, 'advertiseAddress', 'fd00::10');
    setPath(v, 'persistence.storageClass', '-');
    setPath(v, 'metrics.prometheusRule.disabledAlerts', ['NvmfEmuConnectRejects']);
    setPath(v, 'metrics.prometheusRule.extraRules', [{ alert: 'Mine', expr: 'vector(1)' }]);
    setPath(v, 'metrics.serviceMonitor.additionalLabels', { release: 'kube-prometheus-stack' });
    setPath(v, 'global', { imageRegistry: 'x' });
    setPath(v, 'livenessProbe', null);
    expect(errorsFor(v)).toEqual([]);
  });

  it('the schema lists exactly the alerts of the rule file', () => {
    const enumNames = (((((schema.properties as Obj).metrics as Obj).properties as Obj).prometheusRule as Obj).properties as Obj).disabledAlerts as { items: { enum: string[] } };
    expect([...enumNames.items.enum].sort()).toEqual(loadAlertRules().map((r) => r.alert).sort());
  });

  it('defaults are non-root, read-only root, no capabilities, probes on /livez and /readyz', () => {
    const v = readValues() as Record<string, Obj>;
    expect(v.containerSecurityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(v.podSecurityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    // The image's USER (numeric, so runAsNonRoot can be checked) is the same user.
    const user = /^USER (\d+):(\d+)$/m.exec(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
    expect([String(v.containerSecurityContext!.runAsUser), String(v.containerSecurityContext!.runAsGroup)]).toEqual([user?.[1], user?.[2]]);
    expect(v.livenessProbe).toMatchObject({ httpGet: { path: '/livez', port: 'admin' } });
    expect(v.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'admin' } });
    expect(v.service).toMatchObject({ ports: { nvme: 4420, discovery: 8009, admin: 9464 } });
    expect(v.grafana).toMatchObject({ dashboard: { labels: { grafana_dashboard: '1' } } });
  });

  it('the default topology, with the listeners the chart adds, is valid for the daemon', () => {
    // Mirrors the "nvmf-emu.topology" helper in _helpers.tpl.
    const v = readValues() as { topology: { subsystems: { nqn: string }[]; ports: unknown[] }; service: { ports: Record<string, number> } };
    expect(v.topology.ports).toEqual([]);
    const nqns = v.topology.subsystems.map((s) => s.nqn);
    const port = (portid: number, p: number) => ({ portid, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '0.0.0.0', trsvcid: String(p) }, subsystems: nqns });
    const topo = validateTopology({ ...v.topology, ports: [port(1, v.service.ports.nvme!), port(2, v.service.ports.discovery!)] });
    expect(topo.ports.map((p) => p.addr.trsvcid)).toEqual([4420, 8009]);
    const helper = templateText('_helpers.tpl');
    expect(helper).toContain('"trsvcid" (toString .Values.service.ports.nvme)');
    expect(helper).toContain('"trsvcid" (toString .Values.service.ports.discovery)');
  });
});

describe('templates', () => {
  it('has the expected files', () => {
    for (const f of ['_helpers.tpl', 'deployment.yaml', 'service.yaml', 'configmap.yaml', 'pvc.yaml', 'servicemonitor.yaml', 'prometheusrule.yaml', 'dashboard-configmap.yaml', 'NOTES.txt']) {
      expect(templateFiles).toContain(f);
    }
  });

  it('every .Values reference exists in values.yaml', () => {
    const values = readValues();
    const missing: string[] = [];
    for (const f of templateFiles) {
      for (const m of templateText(f).matchAll(/\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        let cur: unknown = values;
        for (const k of m[1]!.slice(1).split('.')) {
          if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, k)) {
            missing.push(`${f}: .Values${m[1]}`);
            break;
          }
          cur = (cur as Obj)[k];
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('actions are balanced: every if/with/range/define has its end, every {{ its }}', () => {
    for (const f of templateFiles) {
      const text = templateText(f).replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, ''); // comments
      expect(text.split('{{').length, f).toBe(text.split('}}').length);
      const actions = [...text.matchAll(/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g)].map((m) => m[1]!);
      let depth = 0;
      for (const a of actions) {
        if (/^(if|with|range|define|block)\b/.test(a)) depth++;
        else if (/^end\b/.test(a)) depth--;
        expect(depth, `${f}: unmatched end before {{ ${a} }}`).toBeGreaterThanOrEqual(0);
      }
      expect(depth, `${f}: unclosed block`).toBe(0);
    }
  });

  it('includes only defined templates, and reads only files that are in the chart', () => {
    const defined = new Set([...templateText('_helpers.tpl').matchAll(/\{\{-?\s*define "([^"]+)"/g)].map((m) => m[1]));
    for (const f of templateFiles) {
      for (const m of templateText(f).matchAll(/include "([^"]+)"/g)) expect(defined, `${f}: ${m[1]}`).toContain(m[1]);
      for (const m of templateText(f).matchAll(/\.Files\.Get "([^"]+)"/g)) expect(existsSync(join(CHART, m[1]!)), `${f}: ${m[1]}`).toBe(true);
    }
  });

  it('the PrometheusRule and dashboard ConfigMap read the chart copies, which equal the deploy/ files', () => {
    expect(templateText('prometheusrule.yaml')).toContain('.Files.Get "files/alerts.yml"');
    expect(templateText('dashboard-configmap.yaml')).toContain('.Files.Get "dashboards/nvmf-emu.json"');
    expect(readFileSync(CHART_ALERTS_PATH).equals(readFileSync(ALERTS_PATH))).toBe(true);
  });

  it('the deployment gets its security settings, probes and admin port from the values', () => {
    const t = templateText('deployment.yaml');
    for (const ref of ['.Values.podSecurityContext', '.Values.containerSecurityContext', '.Values.livenessProbe', '.Values.readinessProbe', '.Values.resources', '.Values.hostNetwork', '.Values.advertiseAddress']) {
      expect(t).toContain(ref);
    }
    expect(t).toMatch(/name: NVMF_EMU_HTTP_ADDRESS\s+value: "0\.0\.0\.0"/);
    expect(t).toMatch(/name: NVMF_EMU_HTTP_PORT\s+value: \{\{ \.Values\.service\.ports\.admin \| quote \}\}/);
    expect(t).toContain('automountServiceAccountToken: false');
  });

  it('the ServiceMonitor sets job="nvmf-emu" (what the alerts select) from the Service name label', () => {
    expect(templateText('servicemonitor.yaml')).toContain('jobLabel: app.kubernetes.io/name');
    expect(templateText('_helpers.tpl')).toMatch(/app\.kubernetes\.io\/name: \{\{ include "nvmf-emu\.name" \. \}\}/);
    expect(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')).toMatch(/^name: nvmf-emu$/m);
  });

  it('NOTES.txt prints nvme discover and nvme connect with the advertise address and ports', () => {
    const notes = templateText('NOTES.txt');
    expect(notes).toMatch(/nvme discover -t tcp -a \{\{ \$addr \}\} -s \{\{ \$disc \}\}/);
    expect(notes).toMatch(/nvme connect -t tcp -a \{\{ \$addr \}\} -s \{\{ \$nvme \}\} -n \{\{ \.nqn \}\}/);
    expect(templateText('_helpers.tpl')).toMatch(/define "nvmf-emu\.hostAddress"[\s\S]*\.Values\.advertiseAddress/);
  });
});

describe('Chart.yaml', () => {
  it('is a v2 application chart whose appVersion is the package version', () => {
    const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Obj;
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'nvmf-emu', type: 'application', appVersion: pkg.version });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});
