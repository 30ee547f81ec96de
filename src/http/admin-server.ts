// Admin HTTP listener: health endpoints now; metrics and the admin API grow on the same server.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Target } from '../controller/target.js';
import { registerNamespaceApi } from './namespace-api.js';

export interface AdminServerOptions {
  address: string;
  port: number;
  isReady: () => boolean;
  target: Target;
}

export async function startAdminServer(o: AdminServerOptions): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify({ logger: false });
  const started = Date.now();
  app.get('/livez', async () => ({ status: 'ok', uptime_seconds: (Date.now() - started) / 1000 }));
  app.get('/readyz', async (_req, reply) => {
    if (o.isReady()) return { status: 'ready' };
    return reply.code(503).send({ status: 'starting' });
  });
  registerNamespaceApi(app, o.target);
  await app.listen({ host: o.address, port: o.port });
  const addr = app.server.address();
  return { app, port: typeof addr === 'object' && addr ? addr.port : o.port };
}
