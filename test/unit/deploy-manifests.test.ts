// docker compose, Prometheus and Grafana provisioning, plain Kubernetes manifests: they parse, refer
// to files that exist, agree with each other and with the Helm chart's security settings, and the
// topology they ship is valid for the daemon.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateTopology } from '../../src/config/topology.js';
import { DASHBOARD_PATH, REPO_ROOT, findPromtool, loadAlertRules } from '../helpers/dashboard.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML, checked by the assertions
type Obj = Record<string, any>;
const DEPLOY = join(REPO_ROOT, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');
const yamlFile = (p: string): Obj => parseYaml(readFileSync(p, 'utf8')) as Obj;
const CONFIG_JSON = join(DEPLOY, 'config', 'config.json');

describe('deploy/config/config.json (the image default and compose topology)', () => {
  it('is valid for the daemon and listens on all interfaces on 4420 and 8009', () => {
    const topo = validateTopology(JSON.parse(readFileSync(CONFIG_JSON, 'utf8')));
    expect(topo.ports.map((p) => [p.addr.traddr, p.addr.trsvcid])).toEqual([
      ['0.0.0.0', 4420],
      ['0.0.0.0', 8009],
    ]);
    for (const p of topo.ports) expect(p.subsystems.length).toBeGreaterThan(0);
  });
});

describe('deploy/compose.yaml', () => {
  const compose = yamlFile(join(DEPLOY, 'compose.yaml'));
  const services = compose.services as Record<string, Obj>;

  it('runs nvmf-emu, Prometheus and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(['grafana', 'nvmf-emu', 'prometheus']);
    expect(services['nvmf-emu']!.build).toEqual({ context: '..', dockerfile: 'Dockerfile' });
    expect(existsSync(resolve(DEPLOY, '..', 'Dockerfile'))).toBe(true);
  });

  it('publishes NVMe/TCP on 4420 and 8009, and the unauthenticated admin port on loopback only', () => {
    expect(services['nvmf-emu']!.ports).toEqual(['4420:4420', '8009:8009', '127.0.0.1:9464:9464']);
    for (const s of ['prometheus', 'grafana']) for (const p of services[s]!.ports as string[]) expect(p).toMatch(/^127\.0\.0\.1:/);
  });

  it('runs nvmf-emu with a read-only root, no capabilities and the mounted topology', () => {
    const s = services['nvmf-emu']!;
    expect(s).toMatchObject({ read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'] });
    expect(s.environment.NVMF_EMU_CONFIG).toBe('/etc/nvmf-emu/config.json');
    expect(s.volumes).toContain('${NVMF_EMU_TOPOLOGY:-./config/config.json}:/etc/nvmf-emu/config.json:ro');
  });

  it('bind-mounts only files that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of (s.volumes ?? []) as string[]) {
        const src = v.replace(/^\$\{\w+:-([^}]*)\}/, '$1').split(':')[0]!;
        if (!src.startsWith('.')) continue; // named volume
        expect(existsSync(resolve(DEPLOY, src)), `${name}: ${v}`).toBe(true);
      }
    }
  });

  it('Prometheus scrapes nvmf-emu:9464/metrics as job "nvmf-emu" and loads the alert rules', () => {
    const prom = yamlFile(join(DEPLOY, 'prometheus', 'prometheus.yml'));
    const job = (prom.scrape_configs as Obj[]).find((j) => j.job_name === 'nvmf-emu');
    expect(job).toMatchObject({ metrics_path: '/metrics', static_configs: [{ targets: ['nvmf-emu:9464'] }] });
    expect(prom.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    expect(services.prometheus!.volumes).toContain('./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro');
  });

  it('Grafana provisions the Prometheus data source and loads the dashboard from where compose mounts it', () => {
    const ds = yamlFile(join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml'));
    expect(ds.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true })]);
    const dash = yamlFile(join(DEPLOY, 'grafana', 'provisioning', 'dashboards', 'nvmf-emu.yaml'));
    const path = (dash.providers as Obj[])[0]!.options.path as string;
    const mount = (services.grafana!.volumes as string[]).find((v) => v.startsWith('./grafana/nvmf-emu.json:'));
    expect(mount && dirname(mount.split(':')[1]!)).toBe(path);
    expect(resolve(DEPLOY, 'grafana', 'nvmf-emu.json')).toBe(DASHBOARD_PATH);
    expect(services.grafana!.volumes).toContain('./grafana/provisioning:/etc/grafana/provisioning:ro');
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  it('every alert has an expression, a severity and a summary', () => {
    const rules = loadAlertRules();
    expect(rules.map((r) => r.alert)).toEqual([
      'NvmfEmuTargetDown',
      'NvmfEmuHighWriteAmplification',
      'NvmfEmuPercentageUsedHigh',
      'NvmfEmuDigestErrors',
      'NvmfEmuConnectRejects',
      'NvmfEmuKeepAliveTimeouts',
      'NvmfEmuEngineWorkerFailures',
    ]);
    for (const r of rules) {
      expect(r.expr.trim(), r.alert).toBeTruthy();
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smh]$/);
      // Counters are only read through rate()/increase() over a fixed window.
      for (const m of r.expr.matchAll(/\b(nvmf_emu_\w+_total)\b/g)) expect(r.expr, r.alert).toMatch(new RegExp(`(rate|increase)\\(${m[1]}\\[\\d+m\\]\\)`));
    }
  });
});

// promtool unit tests of the alert rules (deploy/prometheus/alerts.test.yml), where promtool is found.
const promtool = findPromtool();
describe.skipIf(!promtool)('alert rules under promtool', () => {
  it('promtool test rules deploy/prometheus/alerts.test.yml passes', () => {
    execFileSync(promtool!, ['test', 'rules', join(DEPLOY, 'prometheus', 'alerts.test.yml')], { stdio: 'pipe' });
  });

  it('promtool check config accepts prometheus.yml', () => {
    execFileSync(promtool!, ['check', 'config', '--syntax-only', join(DEPLOY, 'prometheus', 'prometheus.yml')], { stdio: 'pipe' });
  });
});

describe('deploy/kubernetes', () => {
  const docs = (f: string): Obj[] => parseAllDocuments(readFileSync(join(K8S, f), 'utf8')).map((d) => {
    expect(d.errors, f).toEqual([]);
    return d.toJS() as Obj;
  });
  const kustomization = yamlFile(join(K8S, 'kustomization.yaml'));
  const all = [...(kustomization.resources as string[]), 'monitoring/servicemonitor.yaml'].flatMap(docs);
  const byKind = (kind: string): Obj => all.find((o) => o.kind === kind)!;
  const chartValues = yamlFile(join(REPO_ROOT, 'helm', 'nvmf-emu', 'values.yaml'));

  it('every manifest parses and the kustomization lists the core ones', () => {
    expect(readdirSync(K8S).filter((f) => f.endsWith('.yaml')).sort()).toEqual(['configmap.yaml', 'deployment.yaml', 'kustomization.yaml', 'namespace.yaml', 'service.yaml']);
    expect(all.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Namespace', 'Service', 'ServiceMonitor']);
    for (const o of all) if (o.kind !== 'Namespace') expect(o.metadata.namespace, o.kind).toBe('nvmf-emu');
  });

  it('the Deployment has the same security settings and probes as the Helm chart defaults', () => {
    const pod = byKind('Deployment').spec.template.spec;
    const c = pod.containers[0];
    expect(pod.securityContext).toEqual(chartValues.podSecurityContext);
    expect(c.securityContext).toEqual(chartValues.containerSecurityContext);
    expect(c.livenessProbe).toEqual(chartValues.livenessProbe);
    expect(c.readinessProbe).toEqual(chartValues.readinessProbe);
    expect(c.startupProbe).toEqual(chartValues.startupProbe);
    expect(c.resources).toEqual(chartValues.resources);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(byKind('Deployment').spec.replicas).toBe(1);
  });

  it('the container listens where the Service and the topology say', () => {
    const c = byKind('Deployment').spec.template.spec.containers[0];
    const ports = Object.fromEntries((c.ports as Obj[]).map((p) => [p.name, p.containerPort]));
    expect(ports).toEqual({ nvme: 4420, discovery: 8009, admin: 9464 });
    for (const sp of byKind('Service').spec.ports as Obj[]) expect(sp.port, sp.name).toBe(ports[sp.targetPort]);
    const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ NVMF_EMU_CONFIG: '/etc/nvmf-emu/config.json', NVMF_EMU_HTTP_ADDRESS: '0.0.0.0', NVMF_EMU_HTTP_PORT: String(ports.admin) });
    const topo = validateTopology(JSON.parse(byKind('ConfigMap').data['config.json']));
    expect(topo.ports.map((p) => p.addr.trsvcid)).toEqual([ports.nvme, ports.discovery]);
  });

  it('the ConfigMap topology is deploy/config/config.json', () => {
    expect(JSON.parse(byKind('ConfigMap').data['config.json'])).toEqual(JSON.parse(readFileSync(CONFIG_JSON, 'utf8')));
  });

  it('the Service and ServiceMonitor select the pod; the ServiceMonitor scrapes /metrics as job "nvmf-emu"', () => {
    const podLabels = byKind('Deployment').spec.template.metadata.labels;
    expect(podLabels).toMatchObject(byKind('Service').spec.selector);
    const sm = byKind('ServiceMonitor');
    expect(byKind('Service').metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'admin', path: '/metrics' })]);
    expect(sm.spec.jobLabel).toBe('app.kubernetes.io/name');
    expect(byKind('Service').metadata.labels['app.kubernetes.io/name']).toBe('nvmf-emu');
  });
});
