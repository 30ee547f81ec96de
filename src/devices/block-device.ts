// The narrow interface between the NVM command set and an emulated device. The controller checks
// ranges and statuses; the device owns the data and decides when each command completes.

export const DeviceOp = { Read: 0, Write: 1, Flush: 2, Deallocate: 3, WriteZeroes: 4, Compare: 5, Verify: 6 } as const;
export type DeviceOpCode = (typeof DeviceOp)[keyof typeof DeviceOp];

export interface DeviceTiming {
  /** Fixed latency added to every read / write, in nanoseconds. */
  readLatencyNs: number;
  writeLatencyNs: number;
}

export interface BlockDevice {
  readonly kind: 'nvm' | 'conv' | 'zns' | 'kv';
  readonly capacityBytes: number;
  readonly lbaSize: number;
  /** Bytes of backing memory in use (reported as NUSE). */
  readonly allocatedBytes: number;
  readv(offset: number, length: number, out: Buffer[]): void;
  write(offset: number, src: Uint8Array, srcOff?: number, length?: number): void;
  zero(offset: number, length: number): void;
  equals(offset: number, data: Uint8Array): boolean;
  /** Modelled service time of one command in nanoseconds (0 = complete at once). */
  latencyNs(op: DeviceOpCode, bytes: number): number;
  timing(): DeviceTiming;
  setTiming(t: Partial<DeviceTiming>): void;
}
