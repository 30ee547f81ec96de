// Assembles a running target from a validated topology: subsystems, namespaces, the device engine
// (worker threads running the namespaces' device models), listeners and the admin HTTP server.
// Used by the CLI and, unchanged, by the integration tests.
import { pino, type Logger } from 'pino';
import { ConfigError } from './config/errors.js';
import type { Emulation, NamespaceConfig, Topology } from './config/topology.js';
import { deriveNamespaceIds, Namespace } from './controller/namespace.js';
import { Subsystem } from './controller/subsystem.js';
import { DEFAULT_LIMITS, Target, type PortRuntime, type TargetLimits } from './controller/target.js';
import type { BlockDevice } from './devices/block-device.js';
import { DeviceEngine, EngineInitError, type EngineOptions } from './devices/engine/engine.js';
import { NvmDevice } from './devices/nvm-device.js';
import { znsLayout } from './devices/models/zns-params.js';
import { resolveEmulation } from './devices/presets.js';
import { ZoneManager } from './devices/zns/zones.js';
import { startAdminServer } from './http/admin-server.js';
import { Disc } from './protocol/constants.js';
import { TcpListener } from './transport/tcp-listener.js';

export interface DaemonOptions {
  topology: Topology;
  logger?: Logger;
  /** Admin HTTP listener; omit or set enabled=false for none. */
  http?: { address: string; port: number; enabled: boolean };
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
  private tcp: TcpListener[] = [];
  private http: { close(): Promise<void> } | null = null;
  private ready = false;

  constructor(
    readonly target: Target,
    /** Worker threads running the namespaces' device models (counters: engine.counters). */
    readonly engine: DeviceEngine,
  ) {}

  get isReady(): boolean {
    return this.ready;
  }

  async stop(): Promise<void> {
    this.ready = false;
    for (const c of [...this.target.allControllers()]) c.destroy('shutdown');
    await Promise.all(this.tcp.map((l) => l.close()));
    if (this.http) await this.http.close();
    await this.engine.stop();
  }

  /** internal: set up by startDaemon */
  _attach(tcp: TcpListener[], http: { close(): Promise<void> } | null, httpPort: number): void {
    this.tcp = tcp;
    this.http = http;
    this.httpPort = httpPort;
    for (const l of tcp) this.listeners.push({ portid: l.port.portid, address: l.port.traddr, port: l.boundPort });
    this.ready = true;
  }
}

/** The namespace's data store; its timing is the device model's, on the engine. */
export function createDevice(cfg: NamespaceConfig): BlockDevice {
  const e = cfg.emulation;
  switch (e.type) {
    case 'nvm':
    case 'conv':
    case 'zns':
      return new NvmDevice({ capacityBytes: e.capacity, lbaSize: e.lba_size, kind: e.type });
    default:
      throw new ConfigError([{ path: 'emulation.type', message: `emulation type "${e.type}" is not implemented yet` }]);
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
  topology.subsystems.forEach((sc, si) => {
    const s = new Subsystem({
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
    sc.namespaces.forEach((nc, ni) => {
      let dev: BlockDevice;
      try {
        dev = createDevice(nc);
      } catch (err) {
        if (err instanceof ConfigError) {
          throw new ConfigError(err.errors.map((e) => ({ ...e, path: `subsystems[${si}].namespaces[${ni}].${e.path}` })));
        }
        throw err;
      }
      const ns = new Namespace(nc.nsid, dev, deriveNamespaceIds(sc.nqn, nc.nsid, nc.device), nc.enable);
      if (nc.emulation.type === 'zns') ns.zones = createZoneManager(nc.emulation, dev.lbaSize);
      if (engine) {
        ns.model = engine.addNamespace({
          emulation: nc.emulation,
          lbaSize: dev.lbaSize,
          capacityBytes: dev.capacityBytes,
          label: `${sc.nqn}/${nc.nsid}`,
          hostStats: ns.stats,
          configPath: `subsystems[${si}].namespaces[${ni}]`,
        });
      }
      s.namespaces.set(nc.nsid, ns);
    });
    target.subsystems.set(sc.nqn, s);
  });
  for (const p of topology.ports) {
    const rt: PortRuntime = {
      portid: p.portid,
      adrfam: p.addr.adrfam,
      traddr: p.addr.traddr,
      trsvcid: p.addr.trsvcid,
      treq: p.addr.treq === 'required' ? 1 : p.addr.treq === 'not required' ? 2 : Disc.TreqNotSpecified,
      inlineDataSize: p.param.inline_data_size,
    };
    target.ports.set(p.portid, rt);
    for (const nqn of p.subsystems) target.subsystems.get(nqn)?.ports.add(p.portid);
  }
  return target;
}

async function startEngine(engine: DeviceEngine): Promise<void> {
  try {
    await engine.start();
  } catch (err) {
    if (!(err instanceof EngineInitError)) throw err;
    // A model that cannot be built is a configuration error of its namespace's emulation block.
    const at = `${err.namespace?.spec.configPath ?? err.namespace?.spec.label ?? 'subsystems'}.emulation`;
    const sub = (p: string): string => p.replace(/^emulation\.?/, '');
    throw new ConfigError(err.issues.length ? err.issues.map((i) => ({ path: sub(i.path) ? `${at}.${sub(i.path)}` : at, message: i.message })) : [{ path: at, message: err.message }]);
  }
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const log = o.logger ?? pino({ level: 'silent' });
  const engine = new DeviceEngine({ log, ...o.engine });
  const target = buildTarget(o.topology, log, { ...DEFAULT_LIMITS, ...o.limits }, engine);
  target.advertiseAddress = o.advertiseAddress ?? '';
  await startEngine(engine);
  const daemon = new Daemon(target, engine);
  const listeners: TcpListener[] = [];
  try {
    for (const [i, p] of o.topology.ports.entries()) {
      const l = new TcpListener(target.ports.get(p.portid)!, target);
      try {
        await l.listen();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const reason = code === 'EADDRINUSE' ? `port ${p.addr.trsvcid} on ${p.addr.traddr} is already in use`
          : code === 'EADDRNOTAVAIL' ? `address ${p.addr.traddr} is not available on this machine`
          : `cannot listen on ${p.addr.traddr}:${p.addr.trsvcid}: ${(err as Error).message}`;
        throw new ConfigError([{ path: code === 'EADDRNOTAVAIL' ? `ports[${i}].addr.traddr` : `ports[${i}].addr.trsvcid`, message: reason }]);
      }
      listeners.push(l);
    }
    let http: { close(): Promise<void> } | null = null;
    let httpPort = 0;
    if (o.http?.enabled) {
      try {
        const srv = await startAdminServer({ address: o.http.address, port: o.http.port, isReady: () => daemon.isReady, target });
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
