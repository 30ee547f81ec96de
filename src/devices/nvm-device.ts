// Data store of an NVM-command-set namespace (`nvm`, `conv` and `zns` emulation; the block side of
// `kv`): the bytes, on the network thread, in sparse memory or, with `device.path`, in a file behind
// a memory cache. When and how a command completes is the namespace's DeviceModel's business, on a
// device engine worker.
import type { BlockDigests } from '../controller/request.js';
import type { BlockDevice } from './block-device.js';
import { FileStore } from './file-store.js';
import type { MemoryBudget } from './memory-budget.js';
import { DEFAULT_CHUNK_SIZE, SparseMemoryStore } from './sparse-memory-store.js';

export interface NvmDeviceOptions {
  capacityBytes: number;
  lbaSize: number;
  /** Emulation type reported to the controller (default 'nvm'). */
  kind?: 'nvm' | 'conv' | 'zns' | 'kv';
  /** Backing file (`device.path`): data survives restarts; Flush and FUA make it durable. */
  path?: string;
  /** The daemon's namespace-data memory (limits.max_memory); default unlimited. */
  budget?: MemoryBudget;
}

export class NvmDevice implements BlockDevice {
  readonly kind: 'nvm' | 'conv' | 'zns' | 'kv';
  readonly capacityBytes: number;
  readonly lbaSize: number;
  private readonly store: SparseMemoryStore | FileStore;
  private readonly file: FileStore | null;

  constructor(o: NvmDeviceOptions) {
    this.kind = o.kind ?? 'nvm';
    this.capacityBytes = o.capacityBytes;
    this.lbaSize = o.lbaSize;
    this.file = o.path === undefined ? null : new FileStore(o.path, o.capacityBytes, DEFAULT_CHUNK_SIZE, o.budget);
    this.store = this.file ?? new SparseMemoryStore(o.capacityBytes, DEFAULT_CHUNK_SIZE, o.budget);
  }

  get persistent(): boolean {
    return this.file !== null;
  }

  durable(): Promise<void> {
    return this.file ? this.file.durable() : Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.file) await this.file.close();
    else (this.store as SparseMemoryStore).clear();
  }

  get allocatedBytes(): number {
    return Math.min(this.store.allocatedBytes, this.capacityBytes);
  }

  readv(offset: number, length: number, out: Buffer[], digests?: BlockDigests): void {
    this.store.readv(offset, length, out, digests);
  }
  write(offset: number, src: Uint8Array, srcOff?: number, length?: number): boolean {
    return this.store.write(offset, src, srcOff, length);
  }
  canWrite(offset: number, length: number): boolean {
    return this.store.canStore(offset, length);
  }
  zero(offset: number, length: number): void {
    this.store.zero(offset, length);
  }
  equals(offset: number, data: Uint8Array): boolean {
    return this.store.equals(offset, data);
  }
}
