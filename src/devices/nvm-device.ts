// Memory-backed data store of an NVM-command-set namespace (`nvm`, `conv` and `zns` emulation): the
// bytes, on the network thread. When and how a command completes is the namespace's DeviceModel's
// business, on a device engine worker.
import type { BlockDevice } from './block-device.js';
import { SparseMemoryStore } from './sparse-memory-store.js';

export interface NvmDeviceOptions {
  capacityBytes: number;
  lbaSize: number;
  /** Emulation type reported to the controller (default 'nvm'). */
  kind?: 'nvm' | 'conv' | 'zns';
}

export class NvmDevice implements BlockDevice {
  readonly kind: 'nvm' | 'conv' | 'zns';
  readonly capacityBytes: number;
  readonly lbaSize: number;
  private readonly store: SparseMemoryStore;

  constructor(o: NvmDeviceOptions) {
    this.kind = o.kind ?? 'nvm';
    this.capacityBytes = o.capacityBytes;
    this.lbaSize = o.lbaSize;
    this.store = new SparseMemoryStore(o.capacityBytes);
  }

  get allocatedBytes(): number {
    return Math.min(this.store.allocatedBytes, this.capacityBytes);
  }

  readv(offset: number, length: number, out: Buffer[]): void {
    this.store.readv(offset, length, out);
  }
  write(offset: number, src: Uint8Array, srcOff?: number, length?: number): void {
    this.store.write(offset, src, srcOff, length);
  }
  zero(offset: number, length: number): void {
    this.store.zero(offset, length);
  }
  equals(offset: number, data: Uint8Array): boolean {
    return this.store.equals(offset, data);
  }
}
