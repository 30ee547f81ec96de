import { describe, expect, it } from 'vitest';
import { bufferView } from '../../src/util/buffer-view.js';

describe('bufferView', () => {
  it('is a Buffer over exactly the bytes asked for, sharing their memory', () => {
    const ab = new ArrayBuffer(64);
    const all = new Uint8Array(ab);
    all.forEach((_, i) => (all[i] = i));
    const v = bufferView(ab, 10, 5);
    expect(Buffer.isBuffer(v)).toBe(true);
    expect(v.byteOffset).toBe(10);
    expect([...v]).toEqual([10, 11, 12, 13, 14]);
    v[0] = 200;
    expect(all[10]).toBe(200);
    expect(v.subarray(1, 3).toString('hex')).toBe('0b0c'); // Buffer methods work on it
  });

  it('refuses a range outside the ArrayBuffer', () => {
    expect(() => bufferView(new ArrayBuffer(8), 4, 8)).toThrow(RangeError);
  });
});
