// The memory namespaces may spend on data (`limits.max_memory`), shared by every namespace of a
// daemon: sparse stores charge a chunk when they first allocate it and give it back when it is
// freed. A write that would go past the budget fails as a whole (Capacity Exceeded) before any of
// it is applied, so a host filling a huge namespace cannot make the daemon run out of memory.

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
}

/** No limit: what a store gets when nobody configured one. */
export const UNLIMITED: MemoryBudget = new MemoryBudget(0);
