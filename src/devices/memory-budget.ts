// The memory namespaces may spend on data (`limits.max_memory`), shared by every namespace of a
// daemon: sparse stores charge a chunk when they first allocate it and give it back when it is
// freed. A write that would go past the budget fails as a whole (Capacity Exceeded) before any of
// it is applied, so a host filling a huge namespace cannot make the daemon run out of memory.
// File-backed namespaces only cache: what they hold can be given back (reclaim) when another
// namespace needs it, so a cache never starves a memory-backed namespace or another file's cache.

/** A holder of memory it can give back (a file store's cache, chunk by chunk). */
export interface Reclaimer {
  /** Give back one chunk's worth; false when nothing more can go. */
  reclaimOne(): boolean;
}

export class MemoryBudget {
  used = 0;
  constructor(
    /** Bytes; 0 = unlimited. */
    readonly limit: number,
  ) {}

  /** Take `bytes` if they fit; false (nothing taken) otherwise. */
  charge(bytes: number): boolean {
    if (this.limit > 0 && this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }

  private readonly reclaimers = new Set<Reclaimer>();

  register(r: Reclaimer): void {
    if (this.limit > 0) this.reclaimers.add(r);
  }

  unregister(r: Reclaimer): void {
    this.reclaimers.delete(r);
  }

  /** Make room for `bytes` by taking back the caches of others than `except`; true when they fit now. */
  reclaim(bytes: number, except: Reclaimer | null = null): boolean {
    if (this.limit === 0) return true;
    for (const r of this.reclaimers) {
      if (r === except) continue;
      while (this.used + bytes > this.limit && r.reclaimOne());
      if (this.used + bytes <= this.limit) return true;
    }
    return this.used + bytes <= this.limit;
  }
}

/** No limit: what a store gets when nobody configured one. */
export const UNLIMITED: MemoryBudget = new MemoryBudget(0);
