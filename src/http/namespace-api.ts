// Admin API for namespaces: runtime timing control (what NVMeVirt users do through
// /proc/nvmev/read_latency, write_latency and slot), the device's counters, and for zoned
// namespaces the zone list and zone fault injection (a zone turning read only or offline, as
// media failures do, with the Zone Descriptor Changed notice the spec prescribes).
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Namespace } from '../controller/namespace.js';
import { FAULT_TYPES, FaultInjector, type FaultType } from '../devices/fault-injector.js';
import type { Target } from '../controller/target.js';

export const API_PREFIX = '/api/v1';

interface NsParams {
  nqn: string;
  nsid: string;
}

function findNamespace(target: Target, p: NsParams, reply: FastifyReply): Namespace | null {
  const s = target.subsystems.get(p.nqn);
  if (!s) {
    void reply.code(404).send({ error: 'not found', field: 'nqn', message: `no subsystem ${p.nqn}` });
    return null;
  }
  const ns = s.namespaces.get(Number(p.nsid));
  if (!ns) {
    void reply.code(404).send({ error: 'not found', field: 'nsid', message: `no namespace ${p.nsid} in ${p.nqn}` });
    return null;
  }
  return ns;
}

export function registerNamespaceApi(app: FastifyInstance, target: Target): void {
  app.get(`${API_PREFIX}/subsystems`, async () =>
    [...target.subsystems.values()].map((s) => ({
      nqn: s.nqn,
      serial: s.serial,
      model: s.model,
      allow_any_host: s.allowAnyHost,
      allowed_hosts: [...s.allowedHosts],
      namespaces: [...s.namespaces.values()].map((n) => ({ nsid: n.nsid, enabled: n.enabled, kind: n.device.kind, capacity_bytes: n.device.capacityBytes, lba_size: n.lbaSize })),
      controllers: [...s.controllers.values()].map((c) => ({ cntlid: c.cntlid, hostnqn: c.hostnqn, queues: c.queues.size })),
    })),
  );

  app.get<{ Params: NsParams }>(`${API_PREFIX}/subsystems/:nqn/namespaces/:nsid/timing`, async (req, reply) => {
    const ns = findNamespace(target, req.params, reply);
    if (!ns) return reply;
    return ns.timing();
  });

  app.patch<{ Params: NsParams; Body: unknown }>(`${API_PREFIX}/subsystems/:nqn/namespaces/:nsid/timing`, async (req, reply) => {
    const ns = findNamespace(target, req.params, reply);
    if (!ns) return reply;
    const body = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return reply.code(400).send({ error: 'invalid', field: '', message: 'body must be a JSON object of timing parameters' });
    }
    const current = ns.timing();
    const update: Record<string, number> = {};
    for (const [k, v] of Object.entries(body)) {
      if (!(k in current)) return reply.code(400).send({ error: 'invalid', field: k, message: `unknown timing parameter; known: ${Object.keys(current).join(', ')}` });
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return reply.code(400).send({ error: 'invalid', field: k, message: 'must be a finite number >= 0' });
      update[k] = v;
    }
    try {
      await ns.setTiming(update);
    } catch (err) {
      return reply.code(400).send({ error: 'invalid', field: '', message: (err as Error).message });
    }
    return ns.timing();
  });

  app.get<{ Params: NsParams }>(`${API_PREFIX}/subsystems/:nqn/namespaces/:nsid/stats`, async (req, reply) => {
    const ns = findNamespace(target, req.params, reply);
    if (!ns) return reply;
    return { host: ns.stats.toJSON(), device: ns.counters(), ...(ns.kv !== null ? { kv: ns.kv.stats() } : {}) };
  });

  // ---- injected media faults (src/devices/fault-injector.ts)
  const faultsPath = `${API_PREFIX}/subsystems/:nqn/namespaces/:nsid/faults`;
  app.get<{ Params: NsParams }>(faultsPath, async (req, reply) => {
    const ns = findNamespace(target, req.params, reply);
    if (!ns) return reply;
    return ns.faults?.list() ?? [];
  });

  app.post<{ Params: NsParams; Body: unknown }>(faultsPath, async (req, reply) => {
    const ns = findNamespace(target, req.params, reply);
    if (!ns) return reply;
    const b = req.body as Record<string, unknown> | null;
    const bad = (field: string, message: string): FastifyReply => reply.code(400).send({ error: 'invalid', field, message });
    if (typeof b !== 'object' || b === null || Array.isArray(b)) return bad('', 'body must be a JSON object');
    for (const k of Object.keys(b)) if (!['type', 'slba', 'nlb', 'count', 'delay_ms'].includes(k)) return bad(k, 'unknown key');
    if (!(FAULT_TYPES as readonly unknown[]).includes(b.type)) return bad('type', `must be one of ${FAULT_TYPES.join(', ')}`);
    const int = (k: string, min: number, max: number, dflt?: number): number | FastifyReply => {
      const v = b[k] ?? dflt;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) return bad(k, `must be an integer from ${min} to ${max}`);
      return v;
    };
    const slba = int('slba', 0, ns.nlb - 1);
    if (typeof slba !== 'number') return slba;
    const nlb = int('nlb', 1, ns.nlb - slba, 1);
    if (typeof nlb !== 'number') return nlb;
    const count = int('count', 0, 2 ** 31, 0);
    if (typeof count !== 'number') return count;
    const slow = b.type === 'slow_read' || b.type === 'slow_write';
    const delay = int('delay_ms', slow ? 1 : 0, 600_000, slow ? undefined : 0);
    if (typeof delay !== 'number') return delay;
    ns.faults ??= new FaultInjector();
    return reply.code(201).send(ns.faults.add({ type: b.type as FaultType, slba, nlb, count, delay_ms: delay }));
  });

  app.delete<{ Params: NsParams & { id: string } }>(`${faultsPath}/:id`, async (req, reply) => {
    const ns = findNamespace(target, req.params, reply);
    if (!ns) return reply;
    if (!ns.faults?.remove(Number(req.params.id))) return reply.code(404).send({ error: 'not found', field: 'id', message: `no fault ${req.params.id}` });
    if (ns.faults.size === 0) ns.faults = null; // back to the plain I/O path
    return reply.code(204).send();
  });

  app.delete<{ Params: NsParams }>(faultsPath, async (req, reply) => {
    const ns = findNamespace(target, req.params, reply);
    if (!ns) return reply;
    ns.faults = null;
    return reply.code(204).send();
  });

  app.get<{ Params: NsParams }>(`${API_PREFIX}/subsystems/:nqn/namespaces/:nsid/zones`, async (req, reply) => {
    const ns = findNamespace(target, req.params, reply);
    if (!ns) return reply;
    if (!ns.zones) return reply.code(404).send({ error: 'not found', field: 'nsid', message: `namespace ${ns.nsid} is not zoned` });
    return { zone_size: ns.zones.zoneSize, zone_capacity: ns.zones.zoneCapacity, lba_size: ns.lbaSize, stats: ns.zones.stats(), zones: ns.zones.list() };
  });

  app.post<{ Params: NsParams & { zslba: string }; Body: unknown }>(
    `${API_PREFIX}/subsystems/:nqn/namespaces/:nsid/zones/:zslba/fault`,
    async (req, reply) => {
      const ns = findNamespace(target, req.params, reply);
      if (!ns) return reply;
      const zones = ns.zones;
      if (!zones) return reply.code(404).send({ error: 'not found', field: 'nsid', message: `namespace ${ns.nsid} is not zoned` });
      const zslba = /^\d+$/.test(req.params.zslba) ? Number(req.params.zslba) : NaN;
      if (!Number.isSafeInteger(zslba) || zslba % zones.zoneSize !== 0 || zslba >= zones.count * zones.zoneSize) {
        return reply.code(404).send({ error: 'not found', field: 'zslba', message: `no zone starts at LBA ${req.params.zslba} (zone size ${zones.zoneSize} blocks, ${zones.count} zones)` });
      }
      const body = req.body as { state?: unknown } | null;
      const state = body && typeof body === 'object' ? body.state : undefined;
      if (state !== 'offline' && state !== 'read_only') {
        return reply.code(400).send({ error: 'invalid', field: 'state', message: 'must be "read_only" or "offline"' });
      }
      const z = zones.zoneOf(zslba);
      let changed: boolean;
      try {
        changed = zones.inject(z, state);
      } catch (err) {
        return reply.code(409).send({ error: 'conflict', field: 'state', message: (err as Error).message });
      }
      if (changed) {
        const s = [...target.subsystems.values()].find((x) => x.namespaces.get(ns.nsid) === ns);
        for (const c of s?.controllers.values() ?? []) c.zoneDescriptorsChanged(ns.nsid, [zslba]);
      }
      return { changed, zone: zones.zoneInfo(z) };
    },
  );
}
