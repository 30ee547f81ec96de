// Admin HTTP listener: health endpoints, Prometheus metrics (fastify-metrics exposing our one
// prom-client registry) and the admin API, on a port of its own (never the NVMe/TCP ports).
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyMetricsModule from 'fastify-metrics';
import promClient, { type Registry } from 'prom-client';
import type { Daemon } from '../daemon.js';
import { registerConfigApi } from './config-api.js';
import { registerNamespaceApi } from './namespace-api.js';
import { registerStatusApi } from './status-api.js';
import { isStatusPagePath, registerStatusPage } from './status-page.js';

// A CommonJS module compiled from ESM: under NodeNext its default export sits on `.default`.
const fastifyMetrics = fastifyMetricsModule.default;

/** Reachable without the token: probes and Prometheus scrapes (and the status page's files, which hold no data). */
const OPEN_PATHS = new Set(['/livez', '/readyz', '/metrics']);

export interface AdminServerOptions {
  address: string;
  port: number;
  /** Bearer token required by the admin API ("" = none); health and metrics stay open. */
  token: string;
  isReady: () => boolean;
  daemon: Daemon;
  /** The daemon's metrics registry; null = no /metrics. */
  metrics: Registry | null;
}

export async function startAdminServer(o: AdminServerOptions): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify({ logger: false });
  const started = Date.now();
  app.get('/livez', async () => ({ status: 'ok', uptime_seconds: (Date.now() - started) / 1000 }));
  app.get('/readyz', async (_req, reply) => {
    if (o.isReady()) return { status: 'ready' };
    return reply.code(503).send({ status: 'starting' });
  });
  if (o.metrics) {
    // Our registry goes in as the default-metrics registry: the plugin then collects the process
    // metrics into it and serves it on /metrics (merged with prom-client's global registry, which
    // we leave empty so several daemons can live in one process). No per-route HTTP metrics.
    await app.register(fastifyMetrics, {
      endpoint: '/metrics',
      promClient,
      defaultMetrics: { enabled: true, register: o.metrics },
      routeMetrics: { enabled: false },
    });
  }
  if (o.token !== '') {
    const want = Buffer.from(`Bearer ${o.token}`);
    app.addHook('onRequest', async (req, reply) => {
      const path = req.url.split('?')[0]!;
      if (OPEN_PATHS.has(path) || isStatusPagePath(path)) return;
      const got = Buffer.from(req.headers.authorization ?? '');
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'a bearer token is required (settings http.token)' });
      }
    });
  }
  registerNamespaceApi(app, o.daemon.target);
  registerConfigApi(app, o.daemon);
  registerStatusApi(app, o.daemon.target);
  registerStatusPage(app);
  await app.listen({ host: o.address, port: o.port });
  const addr = app.server.address();
  return { app, port: typeof addr === 'object' && addr ? addr.port : o.port };
}
