// NvmDevice: memory-backed namespace device with fixed per-command latency.
import { describe, expect, it } from 'vitest';
import { DeviceOp, type BlockDevice } from '../../src/devices/block-device.js';
import { NvmDevice } from '../../src/devices/nvm-device.js';

describe('NvmDevice', () => {
  it('reports its kind, capacity and LBA size; no memory before writes', () => {
    const d = new NvmDevice({ capacityBytes: 2 ** 40, lbaSize: 4096 });
    expect(d.kind).toBe('nvm');
    expect(d.capacityBytes).toBe(2 ** 40);
    expect(d.lbaSize).toBe(4096);
    expect(d.allocatedBytes).toBe(0);
  });

  it('zero latency by default for every operation', () => {
    const d = new NvmDevice({ capacityBytes: 1 << 20, lbaSize: 512 });
    expect(d.timing()).toEqual({ readLatencyNs: 0, writeLatencyNs: 0 });
    for (const op of Object.values(DeviceOp)) expect(d.latencyNs(op)).toBe(0);
  });

  it('read latency for Read/Compare/Verify, write latency for Write/WriteZeroes, none for Flush/Deallocate', () => {
    const d = new NvmDevice({ capacityBytes: 1 << 20, lbaSize: 512, readLatencyNs: 10_000, writeLatencyNs: 25_000 });
    expect(d.latencyNs(DeviceOp.Read)).toBe(10_000);
    expect(d.latencyNs(DeviceOp.Compare)).toBe(10_000);
    expect(d.latencyNs(DeviceOp.Verify)).toBe(10_000);
    expect(d.latencyNs(DeviceOp.Write)).toBe(25_000);
    expect(d.latencyNs(DeviceOp.WriteZeroes)).toBe(25_000);
    expect(d.latencyNs(DeviceOp.Flush)).toBe(0);
    expect(d.latencyNs(DeviceOp.Deallocate)).toBe(0);
    // Fixed latency: through the BlockDevice interface, the same for any transfer size.
    const dev: BlockDevice = d;
    expect(dev.latencyNs(DeviceOp.Read, 512)).toBe(10_000);
    expect(dev.latencyNs(DeviceOp.Read, 1 << 20)).toBe(10_000);
    expect(dev.latencyNs(DeviceOp.Write, 1 << 20)).toBe(25_000);
  });

  it('setTiming changes only the given fields; timing() is a copy', () => {
    const d = new NvmDevice({ capacityBytes: 1 << 20, lbaSize: 512, readLatencyNs: 1, writeLatencyNs: 2 });
    d.setTiming({ writeLatencyNs: 500 });
    expect(d.timing()).toEqual({ readLatencyNs: 1, writeLatencyNs: 500 });
    expect(d.latencyNs(DeviceOp.Write)).toBe(500);
    const t = d.timing();
    t.readLatencyNs = 999;
    expect(d.latencyNs(DeviceOp.Read)).toBe(1);
    d.setTiming({ readLatencyNs: 0 });
    expect(d.latencyNs(DeviceOp.Read)).toBe(0);
    expect(d.latencyNs(DeviceOp.Write)).toBe(500);
  });

  it('stores data: write, readv, zero, equals', () => {
    const d = new NvmDevice({ capacityBytes: 1 << 24, lbaSize: 512 });
    const data = Buffer.from(Array.from({ length: 8192 }, (_, i) => i & 0xff));
    d.write(4096, data);
    const parts: Buffer[] = [];
    d.readv(4096, 8192, parts);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(d.equals(4096, data)).toBe(true);
    d.zero(4096, 512);
    expect(d.equals(4096, data)).toBe(false);
    const after: Buffer[] = [];
    d.readv(4096, 1024, after);
    expect(Buffer.concat(after).equals(Buffer.concat([Buffer.alloc(512), data.subarray(512, 1024)]))).toBe(true);
    expect(d.allocatedBytes).toBeGreaterThan(0);
  });

  it('allocated bytes never exceed the capacity (small namespace, large chunk)', () => {
    const d = new NvmDevice({ capacityBytes: 8192, lbaSize: 512 });
    d.write(0, Buffer.alloc(512, 1));
    expect(d.allocatedBytes).toBe(8192);
  });
});
