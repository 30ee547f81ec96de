// Admin API for namespaces: runtime timing control (what NVMeVirt users do through
// /proc/nvmev/read_latency, write_latency and slot), the device's counters, and for zoned
// namespaces the zone list and zone fault injection (a zone turning read only or offline, as
// media failures do, with the Zone Descriptor Changed notice the spec prescribes).
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Namespace } from '../controller/namespace.js';
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
    return { host: { ...ns.stats }, device: ns.counters() };
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
