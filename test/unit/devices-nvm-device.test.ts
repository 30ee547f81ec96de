// NvmDevice: the memory-backed data of a namespace (timing lives in the device model).
import { describe, expect, it } from 'vitest';
import { NvmDevice } from '../../src/devices/nvm-device.js';

describe('NvmDevice', () => {
  it('reports its kind, capacity and LBA size; no memory before writes', () => {
    const d = new NvmDevice({ capacityBytes: 2 ** 40, lbaSize: 4096 });
    expect(d.kind).toBe('nvm');
    expect(d.capacityBytes).toBe(2 ** 40);
    expect(d.lbaSize).toBe(4096);
    expect(d.allocatedBytes).toBe(0);
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
