// The Dockerfile and .dockerignore (no container engine on these machines: text checks, plus the
// HEALTHCHECK command run for real against a local HTTP server).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/dashboard.js';

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
/** Instructions, continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const stages: string[][] = [];
for (const l of instructions) {
  if (/^FROM\b/i.test(l)) stages.push([]);
  stages.at(-1)?.push(l);
}
const final = stages.at(-1)!;
const finalText = final.join('\n');

describe('Dockerfile', () => {
  it('is multi-stage: npm ci and tsc in a build stage, the final stage copies the compiled output', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0]!.join('\n');
    expect(build).toMatch(/^FROM \S+ AS build$/m);
    expect(build).toMatch(/RUN npm ci\b/);
    expect(build).toMatch(/RUN npx tsc\b/);
    expect(finalText).toMatch(/^COPY --from=build \/src\/dist\/src \.\/dist\/src$/m);
  });

  it('the final stage holds everything the npm package ships (package.json "files"): the status page is read at run time', () => {
    const files = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] }).files;
    expect(files).toContain('src/http/status-page');
    const copied = final.filter((l) => /^COPY\b/.test(l)).map((l) => l.split(/\s+/).at(-1)!.replace(/^\.\//, ''));
    for (const f of files) expect(copied, f).toContain(f);
  });

  it('builds the CRC32C addon in the build stage (x64) and ships build/Release', () => {
    const build = stages[0]!.join('\n');
    expect(build).toMatch(/^COPY binding\.gyp \.\/$/m);
    expect(build).toMatch(/^COPY native \.\/native$/m);
    expect(build).toMatch(/npm run build:native/);
    expect(finalText).toMatch(/^COPY --from=build \/src\/build\/Release \.\/build\/Release$/m);
  });

  it('installs production dependencies only in the final stage, without the prepare (tsc) script', () => {
    const installs = final.filter((l) => /\bnpm (ci|install|i)\b/.test(l));
    expect(installs.length).toBe(1);
    expect(installs[0]).toMatch(/npm ci .*--omit=dev/);
    expect(installs[0]).toContain('--ignore-scripts');
    expect(finalText).not.toMatch(/\b(tsc|typescript|vitest)\b/);
    expect(finalText).toMatch(/^ENV NODE_ENV=production$/m);
  });

  it('runs as a non-root numeric user, under tini, with node as the command', () => {
    const user = final.filter((l) => /^USER\b/.test(l));
    expect(user).toEqual(['USER 1000:1000']);
    expect(finalText).toMatch(/apt-get install -y --no-install-recommends tini/);
    expect(finalText).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    expect(finalText).toMatch(/^CMD \["node", "dist\/src\/cli\/main\.js"\]$/m);
    // USER comes after every RUN (the runtime never writes as root after the switch, and RUN as root works).
    const lastRun = final.map((l) => l.startsWith('RUN')).lastIndexOf(true);
    expect(final.findIndex((l) => l.startsWith('USER'))).toBeGreaterThan(lastRun);
  });

  it('exposes 4420, 8009 and the admin port, configured by a mounted file and environment', () => {
    expect(finalText).toMatch(/^EXPOSE 4420 8009 9464$/m);
    expect(finalText).toMatch(/NVMF_EMU_CONFIG=\/etc\/nvmf-emu\/config\.json/);
    expect(finalText).toMatch(/NVMF_EMU_HTTP_ADDRESS=0\.0\.0\.0/);
    expect(finalText).toMatch(/NVMF_EMU_HTTP_PORT=9464/);
    expect(finalText).toMatch(/^COPY deploy\/config\/config\.json \/etc\/nvmf-emu\/config\.json$/m);
  });

  const hc = /^HEALTHCHECK .*CMD (\[.*\])$/m.exec(finalText);
  it('has a HEALTHCHECK on /livez run by node (no curl in the image)', () => {
    expect(hc).not.toBeNull();
    const argv = JSON.parse(hc![1]!) as string[];
    expect(argv.slice(0, 2)).toEqual(['node', '-e']);
    expect(argv[2]).toContain('/livez');
    expect(instructions.join('\n')).not.toMatch(/\bcurl\b|\bwget\b/);
  });

  it('the HEALTHCHECK command exits 0 when /livez answers 200, 1 otherwise', async () => {
    const code = JSON.parse(hc![1]!)[2] as string;
    const run = (port: number): Promise<number | null> =>
      new Promise((res) => {
        const p = spawn(process.execPath, ['-e', code], { env: { ...process.env, NVMF_EMU_HTTP_PORT: String(port) }, stdio: 'ignore' });
        p.on('exit', (c) => res(c));
      });
    let status = 200;
    const srv = createServer((req, res) => {
      res.statusCode = req.url === '/livez' ? status : 404;
      res.end('{}');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    try {
      expect(await run(port)).toBe(0);
      status = 503;
      expect(await run(port)).toBe(1);
    } finally {
      await new Promise((r) => srv.close(r));
    }
    expect(await run(port)).toBe(1); // nothing listening
  });
});

describe('.dockerignore', () => {
  const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

  it('keeps node_modules, dist, .git and tests out of the build context', () => {
    for (const p of ['node_modules', 'dist', '.git', 'test']) expect(ignore).toContain(p);
  });

  it('keeps what the Dockerfile copies', () => {
    const copied = instructions.filter((l) => /^COPY (?!--from)/.test(l)).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'deploy/config/config.json']));
    for (const c of copied) {
      // A path is excluded when an ignore pattern matches it or a parent, unless re-included by a later "!" rule.
      let excluded = false;
      for (const p of ignore) {
        const neg = p.startsWith('!');
        const pat = neg ? p.slice(1) : p;
        const re = new RegExp(`^${pat.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`);
        if (re.test(c)) excluded = !neg;
      }
      expect(excluded, c).toBe(false);
    }
  });
});
