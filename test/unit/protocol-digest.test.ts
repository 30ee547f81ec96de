import { beforeAll, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { crc32c as nodeRsCrc32c } from '@node-rs/crc32';

type Digest = typeof import('../../src/protocol/digest.js');

type Mode = 'auto' | 'sse4.2' | 'node-rs';

/** A fresh copy of the digest module: our addon (where built) on its fastest or its SSE4.2 kernel, or the fallback. */
async function loadDigest(mode: Mode): Promise<Digest> {
  vi.resetModules();
  if (mode !== 'auto') process.env.NVMF_EMU_CRC32C = mode;
  try {
    return await import('../../src/protocol/digest.js');
  } finally {
    delete process.env.NVMF_EMU_CRC32C;
  }
}

/** Bitwise reference CRC32C (Castagnoli, reflected poly 0x82F63B78), independent of the native module. */
function refCrc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Whether this CPU can run the addon's folding kernel (the addon then must pick it). */
const cpuFolds = process.arch === 'x64' && ['avx512f', 'avx512vl', 'vpclmulqdq', 'pclmulqdq'].every((f) => new RegExp(`\\b${f}\\b`).test(readFileSync('/proc/cpuinfo', 'utf8')));

const MODES = [['the addon, fastest kernel (where built)', 'auto'], ['the addon, SSE4.2 kernel (where built)', 'sse4.2'], ['the fallback (@node-rs/crc32 + JS table)', 'node-rs']] as const;

describe.each(MODES)('crc32c with %s', (_name, mode) => {
  const fallback = mode === 'node-rs';
  let crc32c: Digest['crc32c'];
  let crc32cList: Digest['crc32cList'];
  let crc32cRange: Digest['crc32cRange'];
  let crc32cInto: Digest['crc32cInto'];
  let prefetch: Digest['prefetch'];
  let backend: Digest['CRC32C_BACKEND'];
  beforeAll(async () => {
    ({ crc32c, crc32cList, crc32cRange, crc32cInto, prefetch, CRC32C_BACKEND: backend } = await loadDigest(mode));
  });

  it('is the implementation asked for', () => {
    if (fallback) expect(backend).toBe('@node-rs/crc32');
    else if (process.arch === 'x64') expect(backend).toBe(`nvmf-emu addon (${mode === 'auto' && cpuFolds ? 'AVX-512 VPCLMULQDQ' : 'SSE4.2, 3 lanes'})`);
  });

  it('matches the standard check value for "123456789"', () => {
    expect(crc32c(Buffer.from('123456789', 'ascii'))).toBe(0xe3069283);
  });

  it('matches RFC 3720 (iSCSI) vectors', () => {
    expect(crc32c(Buffer.alloc(32, 0x00))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    const inc = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    expect(crc32c(inc)).toBe(0x46dd794e);
    const dec = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i));
    expect(crc32c(dec)).toBe(0x113fdb5c);
  });

  it('is 0 for empty input and always an unsigned 32-bit value', () => {
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    for (let i = 0; i < 50; i++) {
      const v = crc32c(Buffer.from([i, i * 7, 255 - i]));
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(0xffffffff);
    }
  });

  it('agrees with the bitwise reference on pseudo-random buffers', () => {
    let seed = 12345;
    for (const len of [1, 3, 4, 7, 8, 9, 24, 63, 64, 65, 72, 76, 255, 256, 257, 511, 4096, 10000]) {
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        b[i] = seed >>> 24;
      }
      expect(crc32c(b)).toBe(refCrc32c(b));
    }
  });

  it('chains: crc32c(b, crc32c(a)) and crc32cList equal crc32c(a ++ b)', () => {
    const a = Buffer.from('12345');
    const b = Buffer.from('6789');
    expect(crc32c(b, crc32c(a))).toBe(0xe3069283);
    expect(crc32cList([a, b])).toBe(0xe3069283);
    expect(crc32cList([Buffer.alloc(0), Buffer.from('123456789'), Buffer.alloc(0)])).toBe(0xe3069283);
    expect(crc32cList([])).toBe(0);
  });

  it('crc32cRange over any range equals the CRC of that slice', () => {
    const b = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) & 0xff));
    for (const [s, e] of [[0, 0], [0, 24], [3, 27], [5, 81], [1, 257], [0, 256], [7, 263], [100, 1000]] as const) {
      expect(crc32cRange(b, s, e)).toBe(refCrc32c(b.subarray(s, e)));
    }
  });

  it('chains across the two implementations (short part then long part and back)', () => {
    const b = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 29 + 3) & 0xff));
    const whole = refCrc32c(b);
    expect(crc32c(b.subarray(24), crc32c(b.subarray(0, 24)))).toBe(whole);
    expect(crc32c(b.subarray(4990), crc32c(b.subarray(0, 4990)))).toBe(whole);
    expect(crc32cList([b.subarray(0, 10), b.subarray(10, 3000), b.subarray(3000, 3100), b.subarray(3100)])).toBe(whole);
  });

  it('crc32cInto writes the digest little-endian at the offset and touches nothing else', () => {
    const data = randomBytes(4096 + 5).subarray(5);
    const out = Buffer.alloc(16, 0xee);
    crc32cInto(data, out, 7);
    expect(out.readUInt32LE(7)).toBe(refCrc32c(data));
    expect(out.subarray(0, 7).every((x) => x === 0xee) && out.subarray(11).every((x) => x === 0xee)).toBe(true);
    crc32cInto(Buffer.from('123456789'), out, 0);
    expect(out.readUInt32LE(0)).toBe(0xe3069283);
  });

  it('prefetch takes any buffer and changes nothing', () => {
    for (const b of [Buffer.alloc(0), Buffer.from('x'), randomBytes(4096), randomBytes(10000).subarray(3)]) {
      const copy = Buffer.from(b);
      prefetch(b);
      expect(b.equals(copy)).toBe(true);
    }
  });
});

describe('crc32cHeader24 (24-byte PDU headers, table per byte position)', () => {
  it('is the CRC32C of the 24 bytes at the offset: all-zero, all-ones, random, and one bit at a time', async () => {
    const { crc32cHeader24 } = await loadDigest('node-rs');
    const b = Buffer.alloc(24 + 7);
    expect(crc32cHeader24(b, 3)).toBe(refCrc32c(b.subarray(3, 27)));
    b.fill(0xff);
    expect(crc32cHeader24(b, 7)).toBe(refCrc32c(b.subarray(7, 31)));
    for (let bit = 0; bit < 24 * 8; bit++) {
      b.fill(0);
      b[5 + (bit >> 3)] = 1 << (bit & 7);
      expect(crc32cHeader24(b, 5)).toBe(refCrc32c(b.subarray(5, 29)));
    }
    for (let i = 0; i < 200; i++) {
      const r = randomBytes(40);
      const o = i % 16;
      expect(crc32cHeader24(r, o)).toBe(refCrc32c(r.subarray(o, o + 24)));
    }
  });
});

describe('crc32cJoin4k (a digest from the digests of its 4 KiB blocks)', () => {
  it('gives the CRC32C of A followed by a 4 KiB B from their CRCs, for every bit of the first CRC', async () => {
    const { crc32cJoin4k } = await loadDigest('node-rs');
    for (const lenA of [0, 1, 24, 4096, 8192 + 5]) {
      const a = randomBytes(lenA);
      const b = randomBytes(4096);
      expect(crc32cJoin4k(refCrc32c(a), refCrc32c(b))).toBe(refCrc32c(Buffer.concat([a, b])));
    }
    // Every byte of A's CRC goes through its own table: a lone bit in each of the 32 places of an
    // all-zero 4-byte A (whose CRC then has bits everywhere) and of random ones.
    const b = Buffer.alloc(4096);
    for (let bit = 0; bit < 32; bit++) {
      const a = Buffer.alloc(4);
      a[bit >> 3] = 1 << (bit & 7);
      expect(crc32cJoin4k(refCrc32c(a), refCrc32c(b))).toBe(refCrc32c(Buffer.concat([a, b])));
    }
    const blocks = [randomBytes(4096), Buffer.alloc(4096), randomBytes(4096)];
    let c = refCrc32c(blocks[0]!);
    for (const blk of blocks.slice(1)) c = crc32cJoin4k(c, refCrc32c(blk));
    expect(c).toBe(refCrc32c(Buffer.concat(blocks)));
  });
});

describe('crc32cBlocks (a digest from kept block digests)', () => {
  it('sums blocks not known and keeps their CRC + 1, and takes known ones from the table', async () => {
    const { crc32cBlocks } = await loadDigest('auto');
    const data = randomBytes(3 * 4096);
    const t = new Float64Array(8);
    expect(crc32cBlocks(t, 2, data)).toBe(refCrc32c(data));
    expect([...t]).toEqual([0, 0, ...[0, 1, 2].map((i) => refCrc32c(data.subarray(i * 4096, (i + 1) * 4096)) + 1), 0, 0, 0]);
    expect(crc32cBlocks(t, 3, data.subarray(4096, 8192))).toBe(refCrc32c(data.subarray(4096, 8192)));
    // A known block is not summed again: what the table says is what it gets.
    t[3] = 0x12345678 + 1;
    expect(crc32cBlocks(t, 3, data.subarray(4096, 8192))).toBe(0x12345678);
  });
});

describe('the addon refuses what it cannot read', () => {
  it.runIf(process.arch === 'x64')('range and offset outside the buffer: RangeError, no read or write past the end', async () => {
    const d = await loadDigest('auto');
    expect(d.CRC32C_BACKEND).toMatch(/addon/);
    const b = Buffer.alloc(100);
    expect(() => d.crc32cRange(b, 10, 101)).toThrow(RangeError);
    expect(() => d.crc32cRange(b, 50, 40)).toThrow(RangeError);
    expect(() => d.crc32cInto(b, Buffer.alloc(8), 5)).toThrow(RangeError);
    expect(() => d.crc32cRange('abc' as unknown as Buffer, 0, 1)).toThrow(RangeError);
  });
});

describe.each(MODES.slice(0, 2))('data digests with %s', (_name, mode) => {
  it('agree with @node-rs/crc32 at every length and start', async () => {
    const { CRC32C_BACKEND, crc32c } = await loadDigest(mode);
    if (process.arch === 'x64') expect(CRC32C_BACKEND).toMatch(/addon/);
    // Around the fold's 256-byte steps, the 3-lane round (3 x 1360 bytes), the 8-byte steps and
    // chaining from an initial value, at every alignment of the start.
    for (const n of [255, 256, 257, 511, 512, 520, 767, 1000, 4079, 4080, 4081, 4095, 4096, 4097, 8160, 8161, 12240, 65536 + 5, 131072, 1 << 20]) {
      for (const start of n <= 8192 ? [0, 1, 3, 8, 13, 63] : [3]) {
        const b = randomBytes(n + start).subarray(start);
        expect(crc32c(b), `${n} at +${start}`).toBe(nodeRsCrc32c(b));
        expect(crc32c(b, 0xdeadbeef), `${n} at +${start} chained`).toBe(nodeRsCrc32c(b, 0xdeadbeef));
      }
    }
    const zeros = Buffer.alloc(4096);
    expect(crc32c(zeros), 'all zeros').toBe(refCrc32c(zeros));
    const ones = Buffer.alloc(4096, 0xff);
    expect(crc32c(ones), 'all ones').toBe(refCrc32c(ones));
    expect(crc32c(Buffer.concat([Buffer.from('123456789'), Buffer.alloc(300)]).subarray(0, 9))).toBe(0xe3069283);
  });
});
