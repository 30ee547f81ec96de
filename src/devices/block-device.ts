// The narrow interface between the NVM command set and a namespace's data. The controller checks
// ranges and statuses and copies data in and out here; when a command completes is decided by the
// namespace's DeviceModel (src/devices/model.ts) on the device engine, not by this interface.

import type { BlockDigests } from '../controller/request.js';

export interface BlockDevice {
  readonly kind: 'nvm' | 'conv' | 'zns' | 'kv';
  readonly capacityBytes: number;
  readonly lbaSize: number;
  /** Bytes of backing memory in use (reported as NUSE). */
  readonly allocatedBytes: number;
  /** Views of [offset, offset + length) appended to `out`; `digests` gets their block digests if the device keeps them, else null. */
  readv(offset: number, length: number, out: Buffer[], digests?: BlockDigests): void;
  /** False when the daemon's memory budget cannot take the data: nothing was written (Capacity Exceeded). Never for a file-backed device. */
  write(offset: number, src: Uint8Array, srcOff?: number, length?: number): boolean;
  /** Would a write of [offset, offset+length) be taken now (the memory budget)? No data changes (file caches may give memory back). */
  canWrite(offset: number, length: number): boolean;
  zero(offset: number, length: number): void;
  equals(offset: number, data: Uint8Array): boolean;
  /** Backed by a file: Flush and FUA must wait for durable(). */
  readonly persistent: boolean;
  /** Resolves when every write acknowledged before the call survives a crash (at once in memory). */
  durable(): Promise<void>;
  /** Make everything durable and release the backing (daemon shutdown). */
  close(): Promise<void>;
}
