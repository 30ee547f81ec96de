// Assembles a running target from a validated topology: subsystems, namespaces, the device engine
// (worker threads running the namespaces' device models), listeners and the admin HTTP server.
// Used by the CLI and, unchanged, by the integration tests.
import { pino, type Logger } from 'pino';
import { ConfigConflict, ConfigError, relativeIssues } from './config/errors.js';
import type { Settings } from './config/settings.js';
import { parseSize } from './config/size.js';
import { validateTopology, type Emulation, type NamespaceConfig, type PortConfig, type SubsystemConfig, type Topology } from './config/topology.js';
import { hostAuthFrom } from './controller/auth.js';
import { deriveNamespaceIds, Namespace } from './controller/namespace.js';
import { Subsystem } from './controller/subsystem.js';
import { DEFAULT_LIMITS, Target, type PortRuntime, type TargetLimits } from './controller/target.js';
import type { BlockDevice } from './devices/block-device.js';
import { DeviceEngine, EngineInitError, type EngineOptions, type NamespaceModelSpec } from './devices/engine/engine.js';
import { KvStore } from './devices/kv/kv-store.js';
import type { MemoryBudget } from './devices/memory-budget.js';
import { discardModelSnapshot, readModelSnapshot, writeModelSnapshot } from './devices/model-snapshot.js';
import { NvmDevice } from './devices/nvm-device.js';
import { znsLayout } from './devices/models/zns-params.js';
import { resolveEmulation } from './devices/presets.js';
import { ZoneManager } from './devices/zns/zones.js';
import { startAdminServer } from './http/admin-server.js';
import { createMetricsRegistry } from './metrics/families.js';
import { Csi, Disc } from './protocol/constants.js';
import { TcpListener } from './transport/tcp-listener.js';
import type { TcpQueue } from './transport/tcp-queue.js';

export interface DaemonOptions {
  topology: Topology;
  logger?: Logger;
  /** Admin HTTP listener; omit or set enabled=false for none. */
  http?: { address: string; port: number; enabled: boolean; token?: string };
  /** Prometheus metrics on the admin server, and the per-command latency behind them (default on). */
  metrics?: { enabled: boolean };
  advertiseAddress?: string;
  limits?: Partial<TargetLimits>;
  /**
   * Device engine: `workers` (the `workers` setting; 0 = automatic: cores - 1, 1..4), spin window,
   * inline fast path for zero-latency nvm namespaces, model module (tests).
   */
  engine?: EngineOptions;
}

export interface ListenerInfo {
  portid: number;
  address: string;
  port: number;
}

export class Daemon {
  readonly listeners: ListenerInfo[] = [];
  httpPort = 0;
  private readonly tcp = new Map<number, TcpListener>();
  private http: { close(): Promise<void> } | null = null;
  private ready = false;
  /** Admin changes run one at a time, in the order they arrived. */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly target: Target,
    /** Worker threads running the namespaces' device models (counters: engine.counters). */
    readonly engine: DeviceEngine,
    /** The running configuration, kept in step with admin API changes (bound ports included). */
    readonly topology: Topology,
  ) {}

  get isReady(): boolean {
    return this.ready;
  }

  /** Live connections (one per queue) of every listener. */
  *connections(): Iterable<TcpQueue> {
    for (const l of this.tcp.values()) yield* l.queues;
  }

  /**
   * Shut down: accept nothing new, let commands already received complete (up to `drainMs`),
   * save file-backed namespaces (data synced, model state beside it), then close everything.
   */
  async stop(o: { drainMs?: number } = {}): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopped = this.shutdown(o.drainMs ?? 0);
    return this.stopped;
  }
  private stopped: Promise<void> | null = null;

  private async shutdown(drainMs: number): Promise<void> {
    this.ready = false;
    const log = this.target.log;
    for (const l of this.tcp.values()) l.stopAccepting();
    if (drainMs > 0) {
      const queues = [...this.connections()];
      for (const q of queues) q.quiesce();
      // Admin queues keep their Asynchronous Event Requests outstanding: only I/O counts.
      const busy = (): number => queues.reduce((n, q) => n + (q.qid > 0 ? q.outstanding : 0), 0);
      const until = Date.now() + drainMs;
      while (busy() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      if (busy() > 0) log.warn({ commands: busy(), drainMs }, 'shutdown: commands still running after the drain period');
    }
    for (const c of [...this.target.allControllers()]) c.destroy('shutdown');
    await Promise.all([...this.tcp.values()].map((l) => l.close()));
    await this.saveNamespaces();
    if (this.http) await this.http.close();
    await this.engine.stop();
  }

  /** File-backed namespaces: model state to `<path>.model`, data synced and the file closed. */
  private async saveNamespaces(): Promise<void> {
    for (const sc of this.topology.subsystems) {
      const s = this.target.subsystems.get(sc.nqn);
      for (const nc of sc.namespaces) {
        const ns = s?.namespaces.get(nc.nsid);
        if (ns) await this.saveNamespace(sc.nqn, nc, ns);
      }
    }
  }

  private async saveNamespace(nqn: string, nc: NamespaceConfig, ns: Namespace): Promise<void> {
    if (!ns.device.persistent || !nc.device.path) {
      await ns.device.close(); // memory-backed: its data goes, and its memory back to the budget
      return;
    }
    try {
      const state = ns.model?.available && !ns.model.removed ? await ns.model.exportState() : null;
      if (state) writeModelSnapshot(nc.device.path, state);
      await ns.device.close();
      this.target.log.info({ subnqn: nqn, nsid: nc.nsid, path: nc.device.path, modelState: state !== null }, 'namespace saved');
    } catch (err) {
      this.target.log.error({ subnqn: nqn, nsid: nc.nsid, path: nc.device.path, err }, 'namespace could not be saved');
    }
  }

  /** internal: set up by startDaemon */
  _attach(tcp: TcpListener[], http: { close(): Promise<void> } | null, httpPort: number): void {
    for (const l of tcp) this.addListener(l);
    this.http = http;
    this.httpPort = httpPort;
    this.ready = true;
  }

  private addListener(l: TcpListener): void {
    this.tcp.set(l.port.portid, l);
    this.listeners.push({ portid: l.port.portid, address: l.port.traddr, port: l.boundPort });
    // The running configuration records the port actually bound (0 = ephemeral in tests).
    const pc = this.topology.ports.find((p) => p.portid === l.port.portid);
    if (pc) pc.addr.trsvcid = l.boundPort;
  }

  // ------------------------------------------------------------------ runtime configuration
  // Each change is validated as the whole configuration would be at start (same schema, same
  // cross-reference checks), then applied; errors name the field relative to what was sent.

  /** The running configuration as a topology file (what GET /api/v1/config returns). */
  exportConfig(): Topology {
    const t = structuredClone(this.topology);
    delete t.settings;
    return t;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn, fn);
    this.lock = p.catch(() => {});
    return p;
  }

  /** Validate the running configuration as changed by `edit`, issues re-rooted at `prefix`. */
  private candidate(prefix: string, edit: (draft: Draft) => void): Topology {
    const draft = structuredClone(this.topology) as unknown as Draft;
    delete (draft as { settings?: unknown }).settings;
    edit(draft);
    try {
      return validateTopology(draft);
    } catch (err) {
      throw err instanceof ConfigError ? relativeIssues(err, prefix) : err;
    }
  }

  private subsystem(nqn: string): [Subsystem, number] {
    const s = this.target.subsystems.get(nqn);
    const i = this.topology.subsystems.findIndex((x) => x.nqn === nqn);
    if (!s || i < 0) throw new ConfigConflict(404, 'nqn', `no subsystem ${nqn}`);
    return [s, i];
  }

  addSubsystem(input: unknown): Promise<SubsystemConfig> {
    return this.serial(async () => {
      const nqn = (input as { nqn?: unknown } | null)?.nqn;
      if (typeof nqn === 'string' && this.target.findSubsystem(nqn)) throw new ConfigConflict(409, 'nqn', `subsystem ${nqn} exists`);
      const k = this.topology.subsystems.length;
      const next = this.candidate(`subsystems[${k}]`, (d) => {
        d.subsystems.push(input as Draft['subsystems'][number]);
        declareHosts(d, (input as { allowed_hosts?: unknown }).allowed_hosts);
      });
      const sc = next.subsystems[k]!;
      const s = newSubsystem(sc);
      const added: Namespace[] = [];
      try {
        for (const [j, nc] of sc.namespaces.entries()) added.push(await this.liveNamespace(sc, nc, `namespaces[${j}]`));
      } catch (err) {
        for (const ns of added) if (ns.model) await this.engine.removeNamespace(ns.model);
        throw err;
      }
      for (const ns of added) s.namespaces.set(ns.nsid, ns);
      this.target.subsystems.set(sc.nqn, s);
      this.topology.subsystems.push(sc);
      syncHosts(this.target, this.topology, next);
      this.target.log.info({ subnqn: sc.nqn, namespaces: added.length }, 'subsystem added');
      return sc;
    });
  }

  removeSubsystem(nqn: string): Promise<void> {
    return this.serial(async () => {
      const [s, i] = this.subsystem(nqn);
      this.target.subsystems.delete(nqn);
      for (const c of [...s.controllers.values()]) c.destroy('subsystem removed');
      for (const nc of this.topology.subsystems[i]!.namespaces) {
        const ns = s.namespaces.get(nc.nsid);
        if (!ns) continue;
        await this.saveNamespace(nqn, nc, ns);
        if (ns.model) await this.engine.removeNamespace(ns.model);
      }
      this.topology.subsystems.splice(i, 1);
      for (const p of this.topology.ports) p.subsystems = p.subsystems.filter((x) => x !== nqn);
      if (s.ports.size > 0) this.target.discoveryChanged();
      this.target.log.info({ subnqn: nqn }, 'subsystem removed');
    });
  }

  addNamespace(nqn: string, input: unknown): Promise<NamespaceConfig> {
    return this.serial(async () => {
      const [s, i] = this.subsystem(nqn);
      const nsid = (input as { nsid?: unknown } | null)?.nsid;
      if (typeof nsid === 'number' && s.namespaces.has(nsid)) throw new ConfigConflict(409, 'nsid', `namespace ${nsid} exists in ${nqn}`);
      const k = this.topology.subsystems[i]!.namespaces.length;
      const next = this.candidate(`subsystems[${i}].namespaces[${k}]`, (d) => void d.subsystems[i]!.namespaces.push(input as { nsid: number }));
      const sc = next.subsystems[i]!;
      const nc = sc.namespaces[k]!;
      const ns = await this.liveNamespace(sc, nc, '');
      s.namespaces.set(nc.nsid, ns);
      this.topology.subsystems[i]!.namespaces.push(nc);
      // Namespace Attribute Changed: connected Linux hosts rescan and see the new namespace.
      for (const c of s.controllers.values()) c.nsChanged(nc.nsid);
      this.target.log.info({ subnqn: nqn, nsid: nc.nsid, type: nc.emulation.type }, 'namespace added');
      return nc;
    });
  }

  removeNamespace(nqn: string, nsid: number): Promise<void> {
    return this.serial(async () => {
      const [s, i] = this.subsystem(nqn);
      const ns = s.namespaces.get(nsid);
      if (!ns) throw new ConfigConflict(404, 'nsid', `no namespace ${nsid} in ${nqn}`);
      // Commands already running hold the namespace object and finish; new ones see Invalid Namespace.
      s.namespaces.delete(nsid);
      for (const c of s.controllers.values()) c.nsChanged(nsid);
      const sc = this.topology.subsystems[i]!;
      await this.saveNamespace(nqn, sc.namespaces.find((n) => n.nsid === nsid)!, ns);
      if (ns.model) await this.engine.removeNamespace(ns.model);
      sc.namespaces = sc.namespaces.filter((n) => n.nsid !== nsid);
      this.target.log.info({ subnqn: nqn, nsid }, 'namespace removed');
    });
  }

  /** Device, identifiers and (on the running engine) model of a namespace; issues rooted at `at`. */
  private async liveNamespace(sc: SubsystemConfig, nc: NamespaceConfig, at: string): Promise<Namespace> {
    const under = (p: string): string => (at && p ? `${at}.${p}` : at || p);
    let dev: BlockDevice;
    try {
      dev = createDevice(nc, this.target.memory);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(err.errors.map((e) => ({ ...e, path: under(e.path) })));
      throw err;
    }
    const ns = new Namespace(nc.nsid, dev, deriveNamespaceIds(sc.nqn, nc.nsid, nc.device), nc.enable);
    attachCommandSet(ns, nc, this.target.limits);
    try {
      ns.model = await this.engine.addNamespaceLive(modelSpec(sc, nc, ns, `${sc.nqn}/${nc.nsid}`, this.target.log));
    } catch (err) {
      await dev.close().catch(() => {});
      if (err instanceof EngineInitError) throw modelConfigError(err, under('emulation'));
      throw err;
    }
    modelRestored(this.target.log, sc.nqn, nc, ns);
    return ns;
  }

  allowHost(nqn: string, hostnqn: string): Promise<void> {
    return this.serial(async () => {
      const [s, i] = this.subsystem(nqn);
      if (s.allowedHosts.has(hostnqn)) return;
      const next = this.candidate('', (d) => {
        d.subsystems[i]!.allowed_hosts.push(hostnqn);
        declareHosts(d, [hostnqn]);
      });
      s.allowedHosts.add(hostnqn);
      this.topology.subsystems[i]!.allowed_hosts.push(hostnqn);
      syncHosts(this.target, this.topology, next);
      if (s.ports.size > 0) this.target.discoveryChanged();
    });
  }

  /** Existing controllers of that host stay connected (as nvmet); new connects are refused. */
  disallowHost(nqn: string, hostnqn: string): Promise<void> {
    return this.serial(async () => {
      const [s, i] = this.subsystem(nqn);
      if (!s.allowedHosts.delete(hostnqn)) throw new ConfigConflict(404, 'hostnqn', `${hostnqn} is not an allowed host of ${nqn}`);
      const sc = this.topology.subsystems[i]!;
      sc.allowed_hosts = sc.allowed_hosts.filter((h) => h !== hostnqn);
      // A host with a DH-HMAC-CHAP secret keeps its entry: allowing it again must not drop its key.
      if (!this.topology.subsystems.some((x) => x.allowed_hosts.includes(hostnqn))) this.topology.hosts = this.topology.hosts.filter((h) => h.nqn !== hostnqn || h.dhchap_key !== undefined);
      if (s.ports.size > 0) this.target.discoveryChanged();
    });
  }

  setAllowAnyHost(nqn: string, allow: boolean): Promise<void> {
    return this.serial(async () => {
      const [s, i] = this.subsystem(nqn);
      s.allowAnyHost = allow;
      this.topology.subsystems[i]!.attr.allow_any_host = allow;
      if (s.ports.size > 0) this.target.discoveryChanged();
    });
  }

  addPort(input: unknown): Promise<PortConfig> {
    return this.serial(async () => {
      const portid = (input as { portid?: unknown } | null)?.portid;
      if (typeof portid === 'number' && this.target.ports.has(portid)) throw new ConfigConflict(409, 'portid', `port ${portid} exists`);
      const k = this.topology.ports.length;
      const next = this.candidate(`ports[${k}]`, (d) => void d.ports.push(input as Draft['ports'][number]));
      const pc = next.ports[k]!;
      const rt = portRuntime(pc);
      const l = new TcpListener(rt, this.target);
      await listenOrExplain(l, pc, '');
      this.target.ports.set(pc.portid, rt);
      this.topology.ports.push(pc);
      this.addListener(l);
      for (const nqn of pc.subsystems) this.target.subsystems.get(nqn)?.ports.add(pc.portid);
      this.target.discoveryChanged();
      this.target.log.info({ portid: pc.portid, traddr: pc.addr.traddr, trsvcid: l.boundPort }, 'port added');
      return pc;
    });
  }

  /** Closes the port's connections (their controllers go with them). */
  removePort(portid: number): Promise<void> {
    return this.serial(async () => {
      const l = this.tcp.get(portid);
      if (!l) throw new ConfigConflict(404, 'portid', `no port ${portid}`);
      this.tcp.delete(portid);
      await l.close();
      this.target.ports.delete(portid);
      for (const s of this.target.subsystems.values()) s.ports.delete(portid);
      this.topology.ports = this.topology.ports.filter((p) => p.portid !== portid);
      this.listeners.splice(this.listeners.findIndex((x) => x.portid === portid), 1);
      this.target.discoveryChanged();
      this.target.log.info({ portid }, 'port removed');
    });
  }

  /** Export (or stop exporting) a subsystem on a port; connected controllers are not touched. */
  linkPort(portid: number, nqn: string, linked: boolean): Promise<void> {
    return this.serial(async () => {
      const [s] = this.subsystem(nqn);
      const pc = this.topology.ports.find((p) => p.portid === portid);
      if (!pc) throw new ConfigConflict(404, 'portid', `no port ${portid}`);
      if (linked === s.ports.has(portid)) {
        if (linked) return;
        throw new ConfigConflict(404, 'nqn', `${nqn} is not exported on port ${portid}`);
      }
      if (linked) {
        s.ports.add(portid);
        pc.subsystems.push(nqn);
      } else {
        s.ports.delete(portid);
        pc.subsystems = pc.subsystems.filter((x) => x !== nqn);
      }
      this.target.discoveryChanged();
    });
  }
}

/** The running topology while an edit is validated: raw input objects sit among normalised ones. */
interface Draft {
  hosts: { nqn: string }[];
  ports: { portid: number; subsystems: string[] }[];
  subsystems: { nqn: string; allowed_hosts: string[]; namespaces: { nsid: number }[] }[];
}

/** Allowed hosts named through the API need no separate hosts[] entry (the file format wants one). */
function declareHosts(d: Draft, hosts: unknown): void {
  if (!Array.isArray(hosts)) return;
  for (const h of hosts) if (typeof h === 'string' && !d.hosts.some((x) => x.nqn === h)) d.hosts.push({ nqn: h });
}

function syncHosts(target: Target, running: Topology, next: Topology): void {
  running.hosts = next.hosts;
  setHostAuth(target, next.hosts);
}

/** Hosts with a dhchap_key must authenticate (where they are on a subsystem's access list). */
function setHostAuth(target: Target, hosts: Topology['hosts']): void {
  target.hostAuth = new Map(hosts.flatMap((h) => {
    const a = hostAuthFrom(h);
    return a ? [[h.nqn, a] as const] : [];
  }));
}

/** The namespace's data store; its timing is the device model's, on the engine. */
export function createDevice(cfg: NamespaceConfig, budget?: MemoryBudget): BlockDevice {
  const e = cfg.emulation;
  switch (e.type) {
    case 'nvm':
    case 'conv':
      try {
        return new NvmDevice({ capacityBytes: e.capacity, lbaSize: e.lba_size, kind: e.type, ...(cfg.device.path ? { path: cfg.device.path } : {}), ...(budget ? { budget } : {}) });
      } catch (err) {
        throw new ConfigError([{ path: 'device.path', message: (err as Error).message }]);
      }
    case 'kv':
      // The block side of a KV namespace (what NVM Read sees on the vendor layout): never written.
      return new NvmDevice({ capacityBytes: e.capacity, lbaSize: e.lba_size, kind: 'kv' });
    case 'zns':
      // Zone states and write pointers live in memory only: a file would outlive them.
      if (cfg.device.path) throw new ConfigError([{ path: 'device.path', message: 'not supported for zns namespaces (zone state is not persisted)' }]);
      return new NvmDevice({ capacityBytes: e.capacity, lbaSize: e.lba_size, kind: e.type, ...(budget ? { budget } : {}) });
  }
}

function newSubsystem(sc: SubsystemConfig): Subsystem {
  return new Subsystem({
    nqn: sc.nqn,
    serial: sc.attr.serial,
    model: sc.attr.model,
    firmware: sc.attr.firmware,
    allowAnyHost: sc.attr.allow_any_host,
    allowedHosts: sc.allowed_hosts,
    cntlidMin: sc.attr.cntlid_min,
    cntlidMax: sc.attr.cntlid_max,
    qidMax: sc.attr.qid_max,
  });
}

function modelSpec(sc: SubsystemConfig, nc: NamespaceConfig, ns: Namespace, configPath: string, log: Logger): NamespaceModelSpec {
  const spec: NamespaceModelSpec = {
    emulation: nc.emulation,
    lbaSize: ns.device.lbaSize,
    capacityBytes: ns.device.capacityBytes,
    label: `${sc.nqn}/${nc.nsid}`,
    hostStats: ns.stats,
    configPath,
  };
  if (ns.device.persistent && nc.device.path) {
    const path = nc.device.path;
    const state = readModelSnapshot(path, (message) => log.warn({ subnqn: sc.nqn, nsid: nc.nsid, path, message }, 'saved model state unreadable: the model starts fresh'));
    if (state) spec.state = state;
  }
  return spec;
}

/** Report how a saved model state was taken up, and consume the snapshot (see model-snapshot.ts). */
function modelRestored(log: Logger, nqn: string, nc: NamespaceConfig, ns: Namespace): void {
  const path = nc.device.path;
  if (!ns.device.persistent || !path || !ns.model) return;
  const r = ns.model.restore;
  if (r?.ok) log.info({ subnqn: nqn, nsid: nc.nsid, path }, 'model state restored from the last clean shutdown');
  else if (r) log.warn({ subnqn: nqn, nsid: nc.nsid, path, reason: r.error }, 'saved model state does not fit: the model starts fresh');
  else log.info({ subnqn: nqn, nsid: nc.nsid, path }, 'no saved model state (first start, or the last one did not shut down cleanly): the model starts fresh');
  discardModelSnapshot(path);
}

function portRuntime(p: PortConfig): PortRuntime {
  return {
    portid: p.portid,
    adrfam: p.addr.adrfam,
    traddr: p.addr.traddr,
    trsvcid: p.addr.trsvcid,
    treq: p.addr.treq === 'required' ? 1 : p.addr.treq === 'not required' ? 2 : Disc.TreqNotSpecified,
    inlineDataSize: p.param.inline_data_size,
  };
}

/** The command-set side of a namespace beyond the NVM block store: a zoned one's zones, a KV one's store and CSI. */
function attachCommandSet(ns: Namespace, nc: NamespaceConfig, limits: TargetLimits): void {
  if (nc.emulation.type === 'zns') ns.zones = createZoneManager(nc.emulation, ns.device.lbaSize);
  if (nc.emulation.type === 'kv') {
    ns.kv = new KvStore({
      capacityBytes: nc.emulation.capacity,
      maxValueBytes: limits.maxTransferSize,
      vendorKeyLengthZeroBased: nc.emulation.vendor_key_length === 'zero-based',
    });
    if (nc.emulation.command_set === 'nvmevirt') ns.csi = Csi.Nvm; // vendor opcodes on an NVM namespace, as NVMeVirt
  }
}

/** The zone state machine of a `zns` namespace, laid out from its resolved emulation block. */
export function createZoneManager(e: Emulation, lbaSize: number): ZoneManager {
  const r = resolveEmulation(e);
  if (r.type !== 'zns') throw new Error(`not a zns emulation: ${r.type}`);
  const l = znsLayout(r.params, r.capacity, lbaSize, r.mdts);
  return new ZoneManager({
    nlb: l.zones * l.zoneLbas,
    zoneSize: l.zoneLbas,
    zoneCapacity: l.zoneCapLbas,
    maxOpen: r.params.max_open_zones,
    maxActive: r.params.max_active_zones,
    appendLimit: l.appendLimitLbas,
    descriptorExtensionBytes: r.params.zone_descriptor_extension_size,
  });
}

/** Build the target; with an engine, every namespace gets a device model on it (start the engine before I/O). */
export function buildTarget(topology: Topology, log: Logger, limits: TargetLimits, engine?: DeviceEngine): Target {
  const target = new Target(log, limits);
  setHostAuth(target, topology.hosts);
  topology.subsystems.forEach((sc, si) => {
    const s = newSubsystem(sc);
    sc.namespaces.forEach((nc, ni) => {
      let dev: BlockDevice;
      try {
        dev = createDevice(nc, target.memory);
      } catch (err) {
        if (err instanceof ConfigError) {
          throw new ConfigError(err.errors.map((e) => ({ ...e, path: `subsystems[${si}].namespaces[${ni}].${e.path}` })));
        }
        throw err;
      }
      const ns = new Namespace(nc.nsid, dev, deriveNamespaceIds(sc.nqn, nc.nsid, nc.device), nc.enable);
      attachCommandSet(ns, nc, limits);
      if (engine) ns.model = engine.addNamespace(modelSpec(sc, nc, ns, `subsystems[${si}].namespaces[${ni}]`, log));
      s.namespaces.set(nc.nsid, ns);
    });
    target.subsystems.set(sc.nqn, s);
  });
  for (const p of topology.ports) {
    target.ports.set(p.portid, portRuntime(p));
    for (const nqn of p.subsystems) target.subsystems.get(nqn)?.ports.add(p.portid);
  }
  return target;
}

/** A model that cannot be built is a configuration error of its namespace's emulation block (`at`). */
function modelConfigError(err: EngineInitError, at: string): ConfigError {
  const sub = (p: string): string => p.replace(/^emulation\.?/, '');
  return new ConfigError(err.issues.length ? err.issues.map((i) => ({ path: sub(i.path) ? `${at}.${sub(i.path)}` : at, message: i.message })) : [{ path: at, message: err.message }]);
}

async function listenOrExplain(l: TcpListener, p: PortConfig, at: string): Promise<void> {
  try {
    await l.listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'EADDRINUSE' ? `port ${p.addr.trsvcid} on ${p.addr.traddr} is already in use`
      : code === 'EADDRNOTAVAIL' ? `address ${p.addr.traddr} is not available on this machine`
      : `cannot listen on ${p.addr.traddr}:${p.addr.trsvcid}: ${(err as Error).message}`;
    const field = code === 'EADDRNOTAVAIL' ? 'addr.traddr' : 'addr.trsvcid';
    throw new ConfigError([{ path: at ? `${at}.${field}` : field, message: reason }]);
  }
}

async function startEngine(engine: DeviceEngine): Promise<void> {
  try {
    await engine.start();
  } catch (err) {
    if (!(err instanceof EngineInitError)) throw err;
    throw modelConfigError(err, `${err.namespace?.spec.configPath ?? err.namespace?.spec.label ?? 'subsystems'}.emulation`);
  }
}

/** The daemon's options as the settings (file, flags, environment) give them. */
export function daemonOptions(settings: Settings, topology: Topology): DaemonOptions {
  return {
    topology,
    http: settings.http,
    metrics: settings.metrics,
    limits: {
      maxConnections: settings.limits.max_connections,
      maxControllers: settings.limits.max_controllers,
      maxQueueSize: settings.limits.max_queue_size,
      maxMemoryBytes: parseSize(settings.limits.max_memory),
    },
    advertiseAddress: settings.advertise_address,
    engine: { workers: settings.workers },
  };
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const log = o.logger ?? pino({ level: 'silent' });
  const engine = new DeviceEngine({ log, ...o.engine });
  const target = buildTarget(o.topology, log, { ...DEFAULT_LIMITS, ...o.limits }, engine);
  target.advertiseAddress = o.advertiseAddress ?? '';
  target.metricsEnabled = o.metrics?.enabled ?? true;
  await startEngine(engine);
  for (const sc of o.topology.subsystems) for (const nc of sc.namespaces) modelRestored(log, sc.nqn, nc, target.subsystems.get(sc.nqn)!.namespaces.get(nc.nsid)!);
  const daemon = new Daemon(target, engine, structuredClone(o.topology));
  const listeners: TcpListener[] = [];
  try {
    for (const [i, p] of o.topology.ports.entries()) {
      const l = new TcpListener(target.ports.get(p.portid)!, target);
      await listenOrExplain(l, p, `ports[${i}]`);
      listeners.push(l);
    }
    let http: { close(): Promise<void> } | null = null;
    let httpPort = 0;
    if (o.http?.enabled) {
      try {
        const metrics = target.metricsEnabled
          ? createMetricsRegistry({
              target,
              engine,
              connections: () => daemon.connections(),
              listeners: () => daemon.listeners.map((l) => ({ portid: l.portid, traddr: l.address, trsvcid: l.port })),
            })
          : null;
        const srv = await startAdminServer({ address: o.http.address, port: o.http.port, token: o.http.token ?? '', isReady: () => daemon.isReady, daemon, metrics });
        http = srv.app;
        httpPort = srv.port;
      } catch (err) {
        throw new ConfigError([{ path: 'settings.http.port', message: `cannot listen on ${o.http.address}:${o.http.port}: ${(err as Error).message}` }]);
      }
    }
    daemon._attach(listeners, http, httpPort);
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await engine.stop();
    throw err;
  }
  return daemon;
}
