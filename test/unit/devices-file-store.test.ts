// The file-backed store: reads and writes through a memory cache, write-back behind commands, and
// durable() (what Flush and FUA wait for) meaning "everything acknowledged so far is in the file".
import { fdatasync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileStore } from '../../src/devices/file-store.js';
import { MemoryBudget } from '../../src/devices/memory-budget.js';
import { pattern } from '../helpers/pattern.js';

// fdatasync counted (and still done), to see durable() sync data that eviction wrote back.
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return { ...fs, fdatasync: vi.fn(fs.fdatasync) };
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmpFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'nvmf-emu-fs-'));
  dirs.push(d);
  return join(d, 'ns.img');
}
const CS = 64 * 1024;
const CAP = 1024 * 1024;

describe('FileStore', () => {
  it('creates a sparse file of the capacity and reads zeroes from it', async () => {
    const path = tmpFile();
    const s = new FileStore(path, CAP, CS);
    expect(statSync(path).size).toBe(CAP);
    const out: Buffer[] = [];
    s.readv(CS - 10, 20, out);
    expect(Buffer.concat(out).equals(Buffer.alloc(20))).toBe(true);
    expect(s.allocatedBytes).toBe(0);
    await s.close();
  });

  it('durable() resolves once acknowledged writes are in the file, and a reopen reads them', async () => {
    const path = tmpFile();
    const s = new FileStore(path, CAP, CS);
    const a = pattern(3 * CS + 100, 1);
    s.write(CS - 50, a);
    s.zero(CS, CS); // a whole chunk back to zeroes
    s.zero(2 * CS, 10);
    await s.durable();
    const want = Buffer.alloc(CAP);
    a.copy(want, CS - 50);
    want.fill(0, CS, 2 * CS);
    want.fill(0, 2 * CS, 2 * CS + 10);
    expect(readFileSync(path).equals(want)).toBe(true);
    await s.close();
    const again = new FileStore(path, CAP, CS);
    expect(again.equals(0, want)).toBe(true);
    expect(again.allocatedBytes).toBeGreaterThan(0);
    await again.close();
  });

  it('keeps the newest data when a chunk is rewritten while its write-back is in flight', async () => {
    const path = tmpFile();
    const s = new FileStore(path, CAP, CS);
    for (let i = 0; i < 200; i++) s.write((i % 7) * 4096, pattern(4096, i)); // same chunk, again and again
    const last = new Map<number, number>();
    for (let i = 0; i < 200; i++) last.set(i % 7, i);
    await s.durable();
    const file = readFileSync(path);
    for (const [slot, i] of last) expect(file.subarray(slot * 4096, slot * 4096 + 4096).equals(pattern(4096, i)), `slot ${slot}`).toBe(true);
    await s.close();
  });

  it('a durable() waits only for writes before it; later writes do not hold it back forever', async () => {
    const path = tmpFile();
    const s = new FileStore(path, CAP, CS);
    s.write(0, pattern(4096, 1));
    const d = s.durable();
    let writing = true;
    const more = (async () => {
      for (let i = 0; writing; i++) {
        s.write(((i % 15) + 1) * CS, pattern(4096, i)); // other chunks: block 0 keeps what durable() covered
        await new Promise((r) => setImmediate(r));
      }
    })();
    await d;
    writing = false;
    await more;
    expect(readFileSync(path).subarray(0, 4096).equals(pattern(4096, 1))).toBe(true);
    await s.close();
  });

  it('refuses a file larger than the namespace (data would be hidden), extends a smaller one', async () => {
    const big = tmpFile();
    writeFileSync(big, Buffer.alloc(CAP + 1));
    expect(() => new FileStore(big, CAP, CS)).toThrow(/more than the namespace capacity/);
    const small = tmpFile();
    writeFileSync(small, pattern(1000, 9));
    const s = new FileStore(small, CAP, CS);
    expect(statSync(small).size).toBe(CAP);
    expect(s.equals(0, pattern(1000, 9))).toBe(true);
    await s.close();
  });

  it('over the memory budget drops clean chunks and writes dirty ones back: writes never refused, memory bounded, data intact', async () => {
    const path = tmpFile();
    const budget = new MemoryBudget(4 * CS);
    const s = new FileStore(path, 41 * CS, CS, budget);
    let peak = 0;
    // Writes straddling chunk boundaries, over ten times the budget.
    for (let i = 0; i < 40; i++) {
      expect(s.write(i * CS + 100, pattern(CS, i + 1))).toBe(true);
      peak = Math.max(peak, budget.used);
    }
    expect(peak).toBeLessThanOrEqual(4 * CS);
    expect(s.evictions).toBeGreaterThan(30);
    // Read everything back (dropped chunks reload from the file), still within the budget.
    for (let i = 0; i < 40; i++) {
      const out: Buffer[] = [];
      s.readv(i * CS + 100, CS, out);
      expect(Buffer.concat(out).equals(pattern(CS, i + 1))).toBe(true);
      expect(budget.used).toBeLessThanOrEqual(4 * CS);
    }
    // Rewrite a few (dirty again), then durable(): a reopen without a budget sees every byte.
    for (const i of [3, 17, 38]) s.write(i * CS + 100, pattern(CS, 100 + i));
    await s.durable();
    await s.close();
    const r = new FileStore(path, 41 * CS, CS);
    for (let i = 0; i < 40; i++) {
      const want = [3, 17, 38].includes(i) ? pattern(CS, 100 + i) : pattern(CS, i + 1);
      expect(r.read(i * CS + 100, CS).equals(want), `range ${i}`).toBe(true);
    }
    await r.close();
  });

  it('a view handed out for a read keeps its bytes after its chunk is dropped and rewritten', async () => {
    const path = tmpFile();
    const budget = new MemoryBudget(2 * CS);
    const s = new FileStore(path, 8 * CS, CS, budget);
    s.write(0, pattern(CS, 1));
    await s.durable(); // chunk 0 clean
    const out: Buffer[] = [];
    s.readv(0, CS, out); // a view, as the transport sends it
    for (let i = 1; i < 8; i++) s.write(i * CS, pattern(CS, 10 + i)); // chunk 0 gets dropped
    s.write(0, pattern(CS, 2)); // read back from the file into fresh memory, and rewritten
    expect(out[0]!.equals(pattern(CS, 1))).toBe(true);
    expect(s.read(0, CS).equals(pattern(CS, 2))).toBe(true);
    await s.close();
  });

  it('budget of N chunks, 10N chunks written and read: charged memory never over the budget, all data right, on the file before any durable()', async () => {
    const path = tmpFile();
    const N = 6;
    const budget = new MemoryBudget(N * CS);
    const s = new FileStore(path, 10 * N * CS, CS, budget);
    let peak = 0;
    for (let i = 0; i < 10 * N; i++) {
      expect(s.write(i * CS, pattern(CS, i + 1))).toBe(true);
      peak = Math.max(peak, budget.used);
    }
    for (let i = 0; i < 10 * N; i++) {
      const out: Buffer[] = [];
      s.readv(i * CS, CS, out);
      expect(Buffer.concat(out).equals(pattern(CS, i + 1)), `chunk ${i}`).toBe(true);
      peak = Math.max(peak, budget.used);
    }
    expect(peak).toBeLessThanOrEqual(N * CS);
    expect(s.allocatedBytes).toBeLessThanOrEqual(N * CS);
    // Dirty chunks dropped to make room went to the file on the way out: with no durable() or
    // close, all are there but the N still cached and the few whose write-back is in flight.
    const file = readFileSync(path);
    let onFile = 0;
    for (let i = 0; i < 10 * N; i++) if (file.subarray(i * CS, (i + 1) * CS).equals(pattern(CS, i + 1))) onFile++;
    expect(onFile).toBeGreaterThanOrEqual(10 * N - N - 4);
    await s.close();
    expect(budget.used).toBe(0); // the cache's memory back (a namespace removed while running)
    const r = new FileStore(path, 10 * N * CS, CS);
    for (let i = 0; i < 10 * N; i++) expect(r.read(i * CS, CS).equals(pattern(CS, i + 1)), `reopened chunk ${i}`).toBe(true);
    await r.close();
  });

  it('durable() after a dirty chunk was written back by eviction still syncs the file', async () => {
    const path = tmpFile();
    const budget = new MemoryBudget(2 * CS);
    const s = new FileStore(path, 8 * CS, CS, budget);
    await s.durable();
    const sync = vi.mocked(fdatasync);
    sync.mockClear();
    for (let i = 0; i < 8; i++) s.write(i * CS, pattern(CS, 20 + i)); // all but ~2 evicted dirty, synchronously
    expect(s.evictions).toBeGreaterThanOrEqual(6);
    const before = sync.mock.calls.length;
    await s.durable();
    expect(sync.mock.calls.length).toBeGreaterThan(before);
    const file = readFileSync(path);
    for (let i = 0; i < 8; i++) expect(file.subarray(i * CS, (i + 1) * CS).equals(pattern(CS, 20 + i))).toBe(true);
    await s.close();
  });

  it('a chunk in use stays cached (CLOCK) while chunks used once are dropped', async () => {
    const path = tmpFile();
    const budget = new MemoryBudget(8 * CS);
    const s = new FileStore(path, 64 * CS, CS, budget);
    s.write(0, pattern(CS, 1));
    await s.durable(); // chunk 0 clean: the cheapest to drop, were recency ignored
    for (let i = 1; i < 64; i++) {
      s.write(i * CS, pattern(CS, 100 + i));
      const loads = s.loads;
      expect(s.read(0, 16).equals(pattern(CS, 1).subarray(0, 16))).toBe(true);
      expect(s.loads, `chunk 0 read again from the file after chunk ${i}`).toBe(loads);
    }
    expect(s.evictions).toBeGreaterThan(50);
    await s.close();
  });

  it('writes go through to the file when other namespaces hold the whole budget, or it is smaller than one write', async () => {
    const path = tmpFile();
    const budget = new MemoryBudget(4 * CS);
    expect(budget.charge(4 * CS)).toBe(true); // another namespace's data
    const s = new FileStore(path, 16 * CS, CS, budget);
    expect(s.write(CS / 2, pattern(3 * CS, 1))).toBe(true); // across 4 chunks, none cacheable
    s.zero(CS, CS / 4); // partial zero of an uncached chunk
    expect(budget.used).toBe(4 * CS);
    expect(s.allocatedBytes).toBe(0);
    const want = Buffer.from(pattern(3 * CS, 1));
    want.fill(0, CS / 2, CS / 2 + CS / 4);
    expect(s.read(CS / 2, 3 * CS).equals(want)).toBe(true);
    expect(readFileSync(path).subarray(CS / 2, CS / 2 + 3 * CS).equals(want)).toBe(true);
    budget.release(3 * CS); // one chunk of room: less than the next write needs
    expect(s.write(CS + 10, pattern(2 * CS, 2))).toBe(true);
    expect(budget.used).toBeLessThanOrEqual(4 * CS);
    want.set(pattern(2 * CS, 2), CS + 10 - CS / 2);
    expect(s.read(CS / 2, 3 * CS).equals(want)).toBe(true);
    await s.close();
    const r = new FileStore(path, 16 * CS, CS);
    expect(r.read(CS / 2, 3 * CS).equals(want)).toBe(true);
    await r.close();
  });

  it('memory-backed namespaces still refuse writes over the budget (nowhere to put the data)', async () => {
    const { SparseMemoryStore } = await import('../../src/devices/sparse-memory-store.js');
    const budget = new MemoryBudget(2 * CS);
    const m = new SparseMemoryStore(16 * CS, CS, budget);
    expect(m.write(0, pattern(2 * CS, 1))).toBe(true);
    expect(m.write(2 * CS, pattern(10, 2))).toBe(false);
    expect(m.canStore(2 * CS, 10)).toBe(false);
    expect(budget.used).toBe(2 * CS);
  });

  it('a file cache gives the shared budget back to a memory namespace or another file, and all of it at close', async () => {
    const { SparseMemoryStore } = await import('../../src/devices/sparse-memory-store.js');
    const budget = new MemoryBudget(4 * CS);
    const a = new FileStore(tmpFile(), 16 * CS, CS, budget);
    for (let i = 0; i < 8; i++) a.write(i * CS, pattern(CS, i));
    expect(a.allocatedBytes).toBe(4 * CS); // the whole budget
    const m = new SparseMemoryStore(16 * CS, CS, budget);
    expect(m.write(0, pattern(2 * CS, 50))).toBe(true); // a's cache made room
    expect(a.allocatedBytes).toBe(2 * CS);
    const b = new FileStore(tmpFile(), 16 * CS, CS, budget);
    b.write(0, pattern(CS, 60));
    expect(b.allocatedBytes).toBe(CS); // cached, at a's expense
    expect(budget.used).toBe(4 * CS);
    expect(m.write(4 * CS, pattern(CS, 51))).toBe(true); // from a's cache
    expect(m.write(8 * CS, pattern(CS, 52))).toBe(true); // from b's
    expect(m.write(12 * CS, pattern(CS, 53))).toBe(false); // only memory data left: nothing to take back
    for (let i = 0; i < 8; i++) expect(a.read(i * CS, CS).equals(pattern(CS, i)), `a chunk ${i}`).toBe(true);
    await a.close();
    await b.close();
    expect(budget.used).toBe(4 * CS); // m's chunks
    expect(a.allocatedBytes + b.allocatedBytes).toBe(0);
  });
});
