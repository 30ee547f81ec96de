// The live status page: static HTML/CSS/JS from src/http/status-page/ plus uPlot (charts) from
// node_modules, served at /status; / redirects there. The page holds no data of its own: it polls
// GET /api/v1/status (status-api.ts) and the ZNS zone list, with the bearer token if one is set.
//
// Where the files are: tsc copies no non-TS files, so the page is not in dist/. It is found
// relative to the package root (the nearest directory above this module holding package.json):
// <root>/src/http/status-page/ both when running from src (vitest, tsx) and from dist
// (dist/src/http/status-page.js); package.json "files" ships src/http/status-page for that.
// uPlot is resolved through Node's module resolution, so it comes from wherever npm put it.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const STATUS_PAGE_PATH = '/status';

/** The page's own files and what they are served as (nothing else under the directory is served). */
const PAGE_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'status.css': 'text/css; charset=utf-8',
  'status.js': 'text/javascript; charset=utf-8',
};

/** The directory holding the page's files, found from a module URL (this module's by default). */
export function statusPageDir(moduleUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'src', 'http', 'status-page');
    const up = dirname(dir);
    if (up === dir) throw new Error(`status page: no package.json above ${fileURLToPath(moduleUrl)}`);
    dir = up;
  }
}

/**
 * Paths the admin token does not guard: the page and its assets carry no data (the data API they
 * call does need the token), and a browser cannot send a bearer header when it opens a page.
 */
export function isStatusPagePath(path: string): boolean {
  return path === '/' || path === STATUS_PAGE_PATH || path.startsWith(`${STATUS_PAGE_PATH}/`);
}

interface Asset {
  type: string;
  body: Buffer;
}

/** Read everything once: the page is small, and a missing file shows at start, not on first visit. */
function loadAssets(dir: string): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const assets = new Map<string, Asset>();
  for (const [name, type] of Object.entries(PAGE_FILES)) assets.set(name, { type, body: readFileSync(join(dir, name)) });
  assets.set('vendor/uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')) });
  assets.set('vendor/uPlot.min.css', { type: 'text/css; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')) });
  return assets;
}

/**
 * Register / (redirect), /status and /status/*. The files are read here, once. If they cannot be
 * (a broken install), the daemon still starts: the page's routes answer 500 saying what is
 * missing, rather than the admin server failing over a page.
 */
export function registerStatusPage(app: FastifyInstance, dir?: string): void {
  let assets: Map<string, Asset>;
  try {
    assets = loadAssets(dir ?? statusPageDir());
  } catch (err) {
    const message = `status page unavailable: ${(err as Error).message}`;
    const fail = async (_req: unknown, reply: FastifyReply): Promise<FastifyReply> => reply.code(500).send({ error: 'status page unavailable', message });
    app.get('/', fail);
    app.get(STATUS_PAGE_PATH, fail);
    app.get(`${STATUS_PAGE_PATH}/*`, fail);
    return;
  }
  const index = assets.get('index.html')!;
  app.get('/', async (_req, reply) => reply.redirect(STATUS_PAGE_PATH, 302));
  const sendIndex = (reply: FastifyReply): FastifyReply => reply.type(index.type).header('cache-control', 'no-cache').send(index.body);
  app.get(STATUS_PAGE_PATH, async (_req, reply) => sendIndex(reply));
  app.get<{ Params: { '*': string } }>(`${STATUS_PAGE_PATH}/*`, async (req, reply) => {
    if (req.params['*'] === '') return sendIndex(reply); // /status/
    const a = assets.get(req.params['*']);
    if (!a) return reply.code(404).send({ error: 'not found', message: `no status page asset ${req.params['*']}` });
    return reply.type(a.type).header('cache-control', 'no-cache').send(a.body);
  });
}
