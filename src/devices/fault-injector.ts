// Injected media faults of a namespace, so users can test how their stacks handle a failing SSD:
// read errors on an LBA range (Unrecovered Read Error), write failures (Write Fault, nothing
// written), slow I/O (extra latency). Each fault covers [slba, slba + nlb) and fires `count`
// times (0 = until removed). A namespace without faults carries none of this on its I/O path.

export const FAULT_TYPES = ['read_error', 'write_error', 'slow_read', 'slow_write'] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

export interface Fault {
  id: number;
  type: FaultType;
  slba: number;
  nlb: number;
  /** Remaining hits; 0 = unlimited. */
  count: number;
  /** Extra latency of slow_read / slow_write, ms. */
  delay_ms: number;
  /** Commands it has hit so far. */
  hits: number;
}

export interface FaultHit {
  fault: Fault;
  /** First LBA of the command inside the fault (for the error log). */
  lba: number;
}

export class FaultInjector {
  private readonly faults: Fault[] = [];
  private nextId = 1;

  get size(): number {
    return this.faults.length;
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  add(f: Omit<Fault, 'id' | 'hits'>): Fault {
    const fault: Fault = { ...f, id: this.nextId++, hits: 0 };
    this.faults.push(fault);
    return { ...fault };
  }

  remove(id: number): boolean {
    const i = this.faults.findIndex((f) => f.id === id);
    if (i < 0) return false;
    this.faults.splice(i, 1);
    return true;
  }

  clear(): void {
    this.faults.length = 0;
  }

  /** The first fault of a kind that applies to a command on [slba, slba + nlb); counts the hit. */
  match(write: boolean, slba: number, nlb: number): FaultHit | null {
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i]!;
      const forWrites = f.type === 'write_error' || f.type === 'slow_write';
      if (forWrites !== write) continue;
      if (slba >= f.slba + f.nlb || slba + nlb <= f.slba) continue;
      f.hits++;
      if (f.count > 0 && --f.count === 0) this.faults.splice(i, 1);
      return { fault: f, lba: Math.max(slba, f.slba) };
    }
    return null;
  }
}
