// Subsystems: an NVM subsystem (namespaces, access list, controllers) or the discovery subsystem.
import { createHash } from 'node:crypto';
import type { Controller } from './controller.js';
import type { Namespace } from './namespace.js';

export interface SubsystemOptions {
  nqn: string;
  serial?: string;
  model?: string;
  firmware?: string;
  allowAnyHost: boolean;
  allowedHosts: string[];
  cntlidMin?: number;
  cntlidMax?: number;
  /** Highest I/O queue id a controller may create. */
  qidMax?: number;
}

export class Subsystem {
  readonly nqn: string;
  readonly serial: string;
  readonly model: string;
  readonly firmware: string;
  allowAnyHost: boolean;
  readonly allowedHosts: Set<string>;
  readonly namespaces = new Map<number, Namespace>();
  readonly controllers = new Map<number, Controller>();
  readonly cntlidMin: number;
  readonly cntlidMax: number;
  readonly qidMax: number;
  /** Ports this subsystem is exported on. */
  readonly ports = new Set<number>();
  private nextCntlid: number;

  constructor(
    o: SubsystemOptions,
    readonly isDiscovery = false,
  ) {
    this.nqn = o.nqn;
    this.serial = o.serial ?? createHash('sha256').update(o.nqn).digest('hex').slice(0, 16);
    this.model = o.model ?? 'nvmf-emu';
    this.firmware = o.firmware ?? '0.1.0';
    this.allowAnyHost = o.allowAnyHost;
    this.allowedHosts = new Set(o.allowedHosts);
    this.cntlidMin = o.cntlidMin ?? 1;
    this.cntlidMax = o.cntlidMax ?? 0xffef;
    this.qidMax = o.qidMax ?? 128;
    this.nextCntlid = this.cntlidMin;
  }

  hostAllowed(hostnqn: string): boolean {
    return this.isDiscovery || this.allowAnyHost || this.allowedHosts.has(hostnqn);
  }

  /** Next free controller id in [cntlidMin, cntlidMax], or -1 when all are taken. */
  allocCntlid(): number {
    const span = this.cntlidMax - this.cntlidMin + 1;
    for (let i = 0; i < span; i++) {
      const id = this.nextCntlid;
      this.nextCntlid = id >= this.cntlidMax ? this.cntlidMin : id + 1;
      if (!this.controllers.has(id)) return id;
    }
    return -1;
  }

  /** Active namespace ids in ascending order. */
  activeNsids(): number[] {
    return [...this.namespaces.values()].filter((n) => n.enabled).map((n) => n.nsid).sort((a, b) => a - b);
  }

  activeNamespace(nsid: number): Namespace | undefined {
    const ns = this.namespaces.get(nsid);
    return ns && ns.enabled ? ns : undefined;
  }

  /** Highest NSID that may exist (NN); 1024 as Linux nvmet, or higher if configured so. */
  get maxNsid(): number {
    let max = 1024;
    for (const id of this.namespaces.keys()) if (id > max) max = id;
    return max;
  }
}
