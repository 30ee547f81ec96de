// Admin API over the running configuration, shaped like the topology file (nvmetcli's JSON):
// subsystems, their namespaces and allowed hosts, ports and which subsystems they export; the
// running configuration as a file; statistics reset. SPDK's nvmf_create_subsystem /
// nvmf_subsystem_add_ns / nvmf_subsystem_add_host / nvmf_subsystem_add_listener, over REST.
// Bodies are validated exactly as the file is at start; errors name the field of the body.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ConfigConflict, ConfigError } from '../config/errors.js';
import type { Daemon } from '../daemon.js';
import { API_PREFIX } from './namespace-api.js';

interface NqnParams {
  nqn: string;
}

/** Map a configuration failure to its HTTP answer; anything else is a server error. */
async function answer<T>(reply: FastifyReply, code: number, fn: () => Promise<T>): Promise<FastifyReply> {
  try {
    const body = await fn();
    return body === undefined ? reply.code(code).send() : reply.code(code).send(body);
  } catch (err) {
    if (err instanceof ConfigConflict) {
      return reply.code(err.status).send({ error: err.status === 404 ? 'not found' : 'conflict', field: err.field, message: err.message });
    }
    if (err instanceof ConfigError) {
      const first = err.errors[0]!;
      return reply.code(400).send({ error: 'invalid', field: first.path, message: first.message, errors: err.errors.map((e) => ({ field: e.path, message: e.message })) });
    }
    throw err;
  }
}

const badParam = (reply: FastifyReply, field: string, message: string): FastifyReply => reply.code(400).send({ error: 'invalid', field, message });

/** A decimal path parameter (nsid, portid) or null. */
function intParam(v: string): number | null {
  return /^(0|[1-9]\d{0,9})$/.test(v) ? Number(v) : null;
}

export function registerConfigApi(app: FastifyInstance, daemon: Daemon): void {
  const P = API_PREFIX;

  app.get<{ Querystring: { download?: string } }>(`${P}/config`, async (req, reply) => {
    if (req.query.download !== undefined) void reply.header('content-disposition', 'attachment; filename="nvmf-emu.json"');
    return daemon.exportConfig();
  });

  // ---- subsystems
  app.post<{ Body: unknown }>(`${P}/subsystems`, (req, reply) => answer(reply, 201, () => daemon.addSubsystem(req.body)));

  app.get<{ Params: NqnParams }>(`${P}/subsystems/:nqn`, async (req, reply) => {
    const sc = daemon.exportConfig().subsystems.find((s) => s.nqn === req.params.nqn);
    if (!sc) return reply.code(404).send({ error: 'not found', field: 'nqn', message: `no subsystem ${req.params.nqn}` });
    return sc;
  });

  app.patch<{ Params: NqnParams; Body: unknown }>(`${P}/subsystems/:nqn`, (req, reply) => {
    const b = req.body as Record<string, unknown> | null;
    if (typeof b !== 'object' || b === null || Array.isArray(b)) return badParam(reply, '', 'body must be a JSON object');
    for (const k of Object.keys(b)) if (k !== 'allow_any_host') return badParam(reply, k, 'only allow_any_host can change on a running subsystem');
    if (typeof b.allow_any_host !== 'boolean') return badParam(reply, 'allow_any_host', 'must be a boolean');
    const allow = b.allow_any_host;
    return answer(reply, 204, () => daemon.setAllowAnyHost(req.params.nqn, allow));
  });

  app.delete<{ Params: NqnParams }>(`${P}/subsystems/:nqn`, (req, reply) => answer(reply, 204, () => daemon.removeSubsystem(req.params.nqn)));

  // ---- namespaces (adding or removing one raises Namespace Attribute Changed to connected hosts)
  app.post<{ Params: NqnParams; Body: unknown }>(`${P}/subsystems/:nqn/namespaces`, (req, reply) =>
    answer(reply, 201, () => daemon.addNamespace(req.params.nqn, req.body)),
  );

  app.delete<{ Params: NqnParams & { nsid: string } }>(`${P}/subsystems/:nqn/namespaces/:nsid`, (req, reply) => {
    const nsid = intParam(req.params.nsid);
    if (nsid === null) return badParam(reply, 'nsid', 'must be a decimal namespace ID');
    return answer(reply, 204, () => daemon.removeNamespace(req.params.nqn, nsid));
  });

  // ---- allowed hosts
  app.put<{ Params: NqnParams & { hostnqn: string } }>(`${P}/subsystems/:nqn/hosts/:hostnqn`, (req, reply) =>
    answer(reply, 204, () => daemon.allowHost(req.params.nqn, req.params.hostnqn)),
  );
  app.delete<{ Params: NqnParams & { hostnqn: string } }>(`${P}/subsystems/:nqn/hosts/:hostnqn`, (req, reply) =>
    answer(reply, 204, () => daemon.disallowHost(req.params.nqn, req.params.hostnqn)),
  );

  // ---- ports
  app.get(`${P}/ports`, async () => daemon.exportConfig().ports);
  app.post<{ Body: unknown }>(`${P}/ports`, (req, reply) => answer(reply, 201, () => daemon.addPort(req.body)));
  app.delete<{ Params: { portid: string } }>(`${P}/ports/:portid`, (req, reply) => {
    const portid = intParam(req.params.portid);
    if (portid === null) return badParam(reply, 'portid', 'must be a decimal port ID');
    return answer(reply, 204, () => daemon.removePort(portid));
  });
  for (const [method, linked] of [['put', true], ['delete', false]] as const) {
    app[method]<{ Params: NqnParams & { portid: string } }>(`${P}/ports/:portid/subsystems/:nqn`, (req, reply) => {
      const portid = intParam(req.params.portid);
      if (portid === null) return badParam(reply, 'portid', 'must be a decimal port ID');
      return answer(reply, 204, () => daemon.linkPort(portid, req.params.nqn, linked));
    });
  }

  // ---- statistics (host-side counters and latency histograms; device wear is device state, kept)
  app.post(`${P}/stats/reset`, async (_req, reply) => {
    for (const s of daemon.target.subsystems.values()) for (const ns of s.namespaces.values()) ns.stats.reset();
    return reply.code(204).send();
  });
  app.delete<{ Params: NqnParams & { nsid: string } }>(`${P}/subsystems/:nqn/namespaces/:nsid/stats`, async (req, reply) => {
    const ns = daemon.target.subsystems.get(req.params.nqn)?.namespaces.get(Number(req.params.nsid));
    if (!ns) return reply.code(404).send({ error: 'not found', field: 'nsid', message: `no namespace ${req.params.nsid} in ${req.params.nqn}` });
    ns.stats.reset();
    return reply.code(204).send();
  });
}
