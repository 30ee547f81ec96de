// The data of a key-value namespace, on the network thread: keys (1..16 bytes) -> values, with
// space accounting that reclaims (a delete or an overwrite frees the old value's bytes at once;
// NVMeVirt's append-only allocator never does). Every decision a KV command makes synchronously
// (exists? fits? how big?) is made here and returned as an NVMe status; when the command
// completes is the device model's business (src/devices/models/kv-model.ts), on a worker.
//
// Values are never mutated in place: a store or append puts a new buffer in the map, so a retrieve
// whose data is still waiting for its modelled completion keeps sending the value it saw.
import { Status } from '../../protocol/status.js';
import { KV_MAX_KEY_LENGTH } from '../../protocol/kv.js';

export interface KvStoreOptions {
  /** Bytes of keys and values the namespace holds at most. */
  capacityBytes: number;
  /** Largest value (the controller's MDTS: a value travels in one transfer). */
  maxValueBytes: number;
  /**
   * Vendor layout: CDW11[7:0] is length - 1 (the namespace's `vendor_key_length: "zero-based"`),
   * kept with the store so the command handlers find it with the namespace's data.
   */
  vendorKeyLengthZeroBased?: boolean;
}

export interface KvStoreFlags {
  /** Store only over an existing key (else Key Does Not Exist). */
  mustExist?: boolean;
  /** Store only a new key (else Key Exists). */
  mustNotExist?: boolean;
  /** Append to the existing value (a missing key starts empty, unless mustExist). */
  append?: boolean;
}

/** Commands by op, as stats() reports them. */
export interface KvCommandCounts {
  store: number;
  retrieve: number;
  delete: number;
  exist: number;
  list: number;
}

/** A stable plain object for metrics: same keys every time. */
export interface KvStats {
  keys: number;
  usedBytes: number;
  capacityBytes: number;
  commands: KvCommandCounts;
}

/** Open iterators per namespace (Samsung KV-SSDs allow a handful). */
export const MAX_ITERATORS = 16;

interface Iterator {
  prefix: Buffer;
  /** Last key returned, null before the first read. */
  after: Buffer | null;
}

interface Entry {
  key: Buffer;
  value: Buffer;
}

export const kvEntryBytes = (keyLength: number, valueLength: number): number => keyLength + valueLength;

export class KvStore {
  readonly capacityBytes: number;
  readonly maxValueBytes: number;
  readonly vendorKeyLengthZeroBased: boolean;
  private readonly map = new Map<string, Entry>();
  private used = 0;
  private sorted: Buffer[] | null = null;
  private readonly iterators = new Map<number, Iterator>();
  private readonly counts: KvCommandCounts = { store: 0, retrieve: 0, delete: 0, exist: 0, list: 0 };

  constructor(o: KvStoreOptions) {
    this.capacityBytes = o.capacityBytes;
    this.maxValueBytes = o.maxValueBytes;
    this.vendorKeyLengthZeroBased = o.vendorKeyLengthZeroBased ?? false;
  }

  get keys(): number {
    return this.map.size;
  }

  get usedBytes(): number {
    return this.used;
  }

  /** Key Invalid Key Size check shared by every command. */
  static keyLengthValid(length: number): boolean {
    return length >= 1 && length <= KV_MAX_KEY_LENGTH;
  }

  /**
   * Store `value` under `key` (the value is copied). Returns Success, Key Exists / Key Does Not
   * Exist (options), Invalid Value Size (beyond maxValueBytes), Capacity Exceeded (the namespace
   * would hold more than capacityBytes, counting the space an overwrite frees).
   */
  store(key: Buffer, value: Uint8Array, flags: KvStoreFlags = {}): number {
    this.counts.store++;
    const id = key.toString('latin1');
    const old = this.map.get(id);
    if (flags.mustExist && old === undefined) return Status.KvKeyDoesNotExist;
    if (flags.mustNotExist && old !== undefined) return Status.KvKeyExists;
    const oldLen = old === undefined ? 0 : old.value.length;
    const newLen = flags.append ? oldLen + value.length : value.length;
    if (newLen > this.maxValueBytes) return Status.KvInvalidValueSize;
    const freed = old === undefined ? 0 : kvEntryBytes(key.length, oldLen);
    const need = kvEntryBytes(key.length, newLen);
    if (this.used - freed + need > this.capacityBytes) return Status.CapacityExceeded;
    const v = Buffer.allocUnsafe(newLen);
    if (flags.append && old !== undefined) {
      old.value.copy(v, 0);
      v.set(value, oldLen);
    } else {
      v.set(value, 0);
    }
    if (old === undefined) {
      this.map.set(id, { key: Buffer.from(key), value: v });
      this.sorted = null;
    } else {
      old.value = v;
    }
    this.used += need - freed;
    return Status.Success;
  }

  /** The value (not a copy: values are immutable), or null. */
  retrieve(key: Buffer): Buffer | null {
    this.counts.retrieve++;
    return this.map.get(key.toString('latin1'))?.value ?? null;
  }

  /** Remove the key and free its space; false when there was none. */
  delete(key: Buffer): boolean {
    this.counts.delete++;
    const id = key.toString('latin1');
    const e = this.map.get(id);
    if (e === undefined) return false;
    this.map.delete(id);
    this.used -= kvEntryBytes(e.key.length, e.value.length);
    this.sorted = null;
    return true;
  }

  exists(key: Buffer): boolean {
    this.counts.exist++;
    return this.map.has(key.toString('latin1'));
  }

  /** Keys >= `start` in byte order (shorter first on a common prefix), at most `max`. */
  list(start: Buffer, max = Infinity): Buffer[] {
    this.counts.list++;
    return this.keysFrom(start, max);
  }

  /** As list(), without counting a command (iterators read through this). */
  keysFrom(start: Buffer, max = Infinity): Buffer[] {
    const all = this.sortedKeys();
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(all[mid]!, start) < 0) lo = mid + 1;
      else hi = mid;
    }
    return all.slice(lo, Math.min(all.length, lo + max));
  }

  /** Size of the value under `key` (0 when absent), without counting a command. */
  valueSize(key: Buffer): number {
    return this.map.get(key.toString('latin1'))?.value.length ?? 0;
  }

  // ---- iterators (vendor iterate request / read) ----

  /** Open an iterator over the keys starting with `prefix`; its handle (1..MAX), or 0 when all are in use. */
  openIterator(prefix: Buffer): number {
    this.counts.list++;
    for (let h = 1; h <= MAX_ITERATORS; h++) {
      if (!this.iterators.has(h)) {
        this.iterators.set(h, { prefix: Buffer.from(prefix), after: null });
        return h;
      }
    }
    return 0;
  }

  closeIterator(handle: number): boolean {
    this.counts.list++;
    return this.iterators.delete(handle);
  }

  /** The iterator's next keys (at most `max`), without moving it; null for an unknown handle. */
  peekIterator(handle: number, max: number): Buffer[] | null {
    const it = this.iterators.get(handle);
    if (it === undefined) return null;
    this.counts.list++;
    return this.iteratorKeys(it, max);
  }

  /** Move the iterator past the first `count` keys peekIterator returned. */
  advanceIterator(handle: number, count: number): void {
    const it = this.iterators.get(handle);
    if (it === undefined || count === 0) return;
    const next = this.iteratorKeys(it, count);
    if (next.length > 0) it.after = next[next.length - 1]!;
  }

  private iteratorKeys(it: Iterator, max: number): Buffer[] {
    const out: Buffer[] = [];
    for (const k of this.keysFrom(it.after ?? it.prefix, max + 1)) {
      if (it.after !== null && k.equals(it.after)) continue;
      if (k.length < it.prefix.length || !k.subarray(0, it.prefix.length).equals(it.prefix)) break;
      out.push(k);
      if (out.length === max) break;
    }
    return out;
  }

  stats(): KvStats {
    return { keys: this.map.size, usedBytes: this.used, capacityBytes: this.capacityBytes, commands: { ...this.counts } };
  }

  private sortedKeys(): Buffer[] {
    if (this.sorted === null) this.sorted = [...this.map.values()].map((e) => e.key).sort(Buffer.compare);
    return this.sorted;
  }
}
