import { describe, expect, it } from 'vitest';
import { getU16, getU32, putU16, putU32 } from '../../src/protocol/bytes.js';

// The per-I/O path's field accessors must agree byte for byte with Buffer's own methods.
const values32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fffffff, 0x80000000, 0xdeadbeef, 0xfffffffe, 0xffffffff];
const values16 = [0, 1, 0xff, 0x100, 0x7fff, 0x8000, 0xabcd, 0xffff];

describe('little-endian field accessors', () => {
  it('read what Buffer writes, at every alignment', () => {
    const b = Buffer.alloc(16);
    for (let o = 0; o <= 12; o++) {
      for (const v of values32) {
        b.fill(0x5a);
        b.writeUInt32LE(v, o);
        expect(getU32(b, o)).toBe(v);
      }
      for (const v of values16) {
        b.fill(0xa5);
        b.writeUInt16LE(v, o);
        expect(getU16(b, o)).toBe(v);
      }
    }
  });

  it('write what Buffer writes, touching only their own bytes', () => {
    const same = (o: number, v: number, put: (b: Buffer, o: number, v: number) => void, ref: (b: Buffer) => void): void => {
      const want = Buffer.alloc(16, 0x33);
      ref(want);
      const got = Buffer.alloc(16, 0x33);
      put(got, o, v);
      expect(got.toString('hex')).toBe(want.toString('hex'));
    };
    for (let o = 0; o <= 12; o++) {
      for (const v of values32) same(o, v, putU32, (b) => b.writeUInt32LE(v, o));
      for (const v of values16) same(o, v, putU16, (b) => b.writeUInt16LE(v, o));
    }
  });

  it('keep the low bits of a wider value (a status shifted past bit 15, a negative int32)', () => {
    const b = Buffer.alloc(4);
    putU16(b, 0, 0x1abcd);
    expect(b.readUInt16LE(0)).toBe(0xabcd);
    putU32(b, 0, -1);
    expect(b.readUInt32LE(0)).toBe(0xffffffff);
    putU32(b, 0, 0x1_0000_0002);
    expect(b.readUInt32LE(0)).toBe(2);
  });

  it('agree with Buffer on random values and offsets', () => {
    const b = Buffer.alloc(64);
    let seed = 12345;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 2000; i++) {
      const v = rnd();
      const o = rnd() % 61;
      putU32(b, o, v);
      expect(b.readUInt32LE(o)).toBe(v);
      expect(getU32(b, o)).toBe(v);
      expect(getU16(b, o)).toBe(b.readUInt16LE(o));
    }
  });
});
