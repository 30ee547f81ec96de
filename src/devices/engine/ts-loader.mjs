// Development only: lets a device worker run straight from the TypeScript sources when the engine
// itself was loaded from sources (under vitest). Registered in the worker by the engine's
// bootstrap; production runs dist/src/devices/engine/worker.js and never loads this file.
// Resolves "./x.js" imported from a .ts file to "./x.ts" when only the latter exists, and strips
// types with esbuild (installed with vitest/vite). Not compiled by tsc (tsconfig includes *.ts).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const esbuild = await import(pathToFileURL(require.resolve('esbuild')).href);
const transformSync = esbuild.transformSync ?? esbuild.default.transformSync;

export async function resolve(specifier, context, next) {
  const parent = context.parentURL;
  if (parent && parent.endsWith('.ts') && specifier.endsWith('.js') && (specifier.startsWith('./') || specifier.startsWith('../'))) {
    const js = new URL(specifier, parent);
    if (!existsSync(fileURLToPath(js))) {
      const ts = new URL(specifier.slice(0, -3) + '.ts', parent);
      if (existsSync(fileURLToPath(ts))) return { url: ts.href, format: 'module', shortCircuit: true };
    }
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (url.startsWith('file:') && url.endsWith('.ts')) {
    const file = fileURLToPath(url);
    const out = transformSync(readFileSync(file, 'utf8'), { loader: 'ts', format: 'esm', target: 'es2022', sourcemap: 'inline', sourcefile: file });
    return { format: 'module', source: out.code, shortCircuit: true };
  }
  return next(url, context);
}
