// The target: subsystems, the discovery subsystem, ports, and counters shared by transports.
import type { Logger } from 'pino';
import { DISCOVERY_NQN, Disc } from '../protocol/constants.js';
import type { DiscoveryEntry } from '../protocol/discovery-log.js';
import type { HostAuth } from './auth.js';
import type { Controller } from './controller.js';
import { Subsystem } from './subsystem.js';
import { MemoryBudget } from '../devices/memory-budget.js';
import { BufferPool } from '../util/buffer-pool.js';

export interface PortRuntime {
  portid: number;
  adrfam: 'ipv4' | 'ipv6';
  traddr: string;
  trsvcid: number;
  treq: number;
  /** In-capsule data bytes accepted on I/O queues. */
  inlineDataSize: number;
}

export interface TargetLimits {
  /** Maximum data transfer size in bytes (MDTS), a power of two >= 4 KiB. */
  maxTransferSize: number;
  /** Largest I/O queue size granted (MQES + 1). */
  maxQueueSize: number;
  /** Largest H2CData PDU the host may send (MAXH2CDATA). */
  maxH2CData: number;
  /** Fixed in-capsule data limit of admin and fabrics commands. */
  adminInlineDataSize: number;
  /** Open NVMe/TCP connections (one per queue); more are refused at accept. */
  maxConnections: number;
  /** Live controllers across NVM subsystems; more get Connect Controller Busy. */
  maxControllers: number;
  /** Bytes of namespace data held in memory across namespaces; 0 = unlimited. */
  maxMemoryBytes: number;
}

export const DEFAULT_LIMITS: TargetLimits = {
  maxTransferSize: 1024 * 1024,
  maxQueueSize: 1024,
  maxH2CData: 128 * 1024,
  adminInlineDataSize: 8192,
  maxConnections: 4096,
  maxControllers: 1024,
  maxMemoryBytes: 0,
};

export class TransportCounters {
  connectionsAccepted = 0;
  connectionsActive = 0;
  termReqsSent = 0;
  headerDigestErrors = 0;
  dataDigestErrors = 0;
  keepAliveTimeouts = 0;
  /** DH-HMAC-CHAP transactions that authenticated a queue / that failed (controller torn down). */
  authSuccesses = 0;
  authFailures = 0;
  /** Connections refused at accept (limits.max_connections). */
  connectionsRefused = 0;
  connectRejects = new Map<string, number>();
  /** PDUs by PDU type (index = type byte). */
  readonly pdusReceived = new Float64Array(16);
  readonly pdusSent = new Float64Array(16);
  /** Bytes of connections already closed (live ones are read from their sockets). */
  closedBytesIn = 0;
  closedBytesOut = 0;
  reject(reason: string): void {
    this.connectRejects.set(reason, (this.connectRejects.get(reason) ?? 0) + 1);
  }
}

export class Target {
  readonly subsystems = new Map<string, Subsystem>();
  readonly discovery = new Subsystem({ nqn: DISCOVERY_NQN, allowAnyHost: true, allowedHosts: [], model: 'nvmf-emu discovery' }, true);
  readonly ports = new Map<number, PortRuntime>();
  readonly counters = new TransportCounters();
  readonly startedAt = Date.now();
  /** Discovery log generation counter: bumped on every change a host could see. */
  genctr = 1n;
  advertiseAddress = '';
  /** Per-command latency and in-flight accounting for the metrics (off: none of it is taken). */
  metricsEnabled = true;
  /** DH-HMAC-CHAP settings of the hosts that have a dhchap_key (hosts[] of the topology). */
  hostAuth = new Map<string, HostAuth>();
  /** Buffers for data fetched by R2T, shared by every queue of this target. */
  readonly bufferPool: BufferPool;

  constructor(
    readonly log: Logger,
    readonly limits: TargetLimits = DEFAULT_LIMITS,
  ) {
    this.bufferPool = new BufferPool(limits.maxTransferSize);
    this.memory = new MemoryBudget(limits.maxMemoryBytes);
  }
  /** Namespace data memory, shared by every namespace's store. */
  readonly memory: MemoryBudget;

  /** Live controllers of NVM subsystems (discovery controllers do not count). */
  get controllerCount(): number {
    let n = 0;
    for (const s of this.subsystems.values()) n += s.controllers.size;
    return n;
  }

  /** Authentication a host must do on `subsys`: as nvmet, only where the host is on its access list. */
  authFor(subsys: Subsystem, hostnqn: string): HostAuth | null {
    if (subsys.isDiscovery || subsys.allowAnyHost || this.hostAuth.size === 0) return null;
    return this.hostAuth.get(hostnqn) ?? null;
  }

  findSubsystem(nqn: string): Subsystem | undefined {
    return nqn === DISCOVERY_NQN ? this.discovery : this.subsystems.get(nqn);
  }

  *allControllers(): Iterable<Controller> {
    for (const c of this.discovery.controllers.values()) yield c;
    for (const s of this.subsystems.values()) yield* s.controllers.values();
  }

  /** Something in the discovery log changed: new generation, and tell persistent discovery controllers. */
  discoveryChanged(): void {
    this.genctr++;
    for (const c of this.discovery.controllers.values()) c.discoveryChanged();
  }

  /** Discovery log entries a host sees through one port: never 0.0.0.0, only what it may connect to. */
  discoveryEntries(hostnqn: string, portid: number, localAddress: string): DiscoveryEntry[] {
    const port = this.ports.get(portid);
    if (!port) return [];
    const wildcard = port.traddr === '0.0.0.0' || port.traddr === '::';
    const traddr = this.advertiseAddress || (wildcard ? localAddress.replace(/^::ffff:/, '') : port.traddr);
    const adrfam = traddr.includes(':') ? Disc.AdrfamIpv6 : Disc.AdrfamIpv4;
    const base = { adrfam, treq: port.treq, portid, asqsz: 32, trsvcid: String(port.trsvcid), traddr };
    const entries: DiscoveryEntry[] = [
      { ...base, subtype: Disc.SubtypeCurrentDiscovery, eflags: Disc.EflagsEpcsd | Disc.EflagsDupRetInfo, subnqn: this.discovery.nqn },
    ];
    for (const s of this.subsystems.values()) {
      if (!s.ports.has(portid) || !s.hostAllowed(hostnqn)) continue;
      entries.push({ ...base, subtype: Disc.SubtypeNvm, eflags: 0, subnqn: s.nqn });
    }
    return entries;
  }
}
