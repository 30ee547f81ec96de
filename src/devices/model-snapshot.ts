// A file-backed namespace's model state (its FTL: maps, line states, wear) beside its data file,
// as `<device.path>.model`: written at a clean shutdown, read and then removed at start. So the
// state a model starts from is either exactly what it was at the last clean shutdown or, after a
// crash, fresh: never an old snapshot that disagrees with newer data. v8's serializer keeps the
// typed arrays as they are.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { deserialize, serialize } from 'node:v8';
import type { ModelState } from './model.js';

export const snapshotPath = (dataPath: string): string => `${dataPath}.model`;

/** The saved state, or undefined when there is none (or it cannot be read: `onError` says why). */
export function readModelSnapshot(dataPath: string, onError: (message: string) => void): ModelState | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(snapshotPath(dataPath));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onError((err as Error).message);
    return undefined;
  }
  try {
    const s = deserialize(raw) as ModelState;
    if (typeof s?.kind !== 'string' || typeof s.fingerprint !== 'string') throw new Error('not a model snapshot');
    return s;
  } catch (err) {
    onError(`${snapshotPath(dataPath)}: ${(err as Error).message}`);
    return undefined;
  }
}

/** Write atomically: a crash leaves the old file or the new one, never half of one. */
export function writeModelSnapshot(dataPath: string, state: ModelState): void {
  const final = snapshotPath(dataPath);
  const tmp = `${final}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const b = serialize(state);
    for (let o = 0; o < b.length; ) o += writeSync(fd, b, o, b.length - o);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, final);
}

export function discardModelSnapshot(dataPath: string): void {
  rmSync(snapshotPath(dataPath), { force: true });
}
