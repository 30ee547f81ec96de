// CRC32C for NVMe/TCP header and data digests; the digest on the wire is the final CRC value,
// little-endian. Our addon (native/crc32c.c, built by `npm ci` on x64 where a C compiler is
// present) sums data and received headers: AVX-512 VPCLMULQDQ folding where the CPU has it (4 KiB
// in ~75 ns), else SSE4.2 crc32 on three lanes (~20 GB/s); a call costs ~45 ns, and it works on a
// range of a buffer, so a received header's digest needs no view. The 24-byte headers the target
// sends are summed in JS by crc32cHeader24 (below), with or without the addon. Without the addon:
// @node-rs/crc32 (one lane, ~5 GB/s; also ARM) for data, and a slice-by-8 table in JS for other
// headers, where a napi-rs call plus the view it needs would cost ~150-350 ns however short the
// input. NVMF_EMU_CRC32C=sse4.2 keeps the addon on its SSE4.2 kernel, =node-rs makes it unused.
import { createRequire } from 'node:module';
import { crc32c as nodeRsCrc32c } from '@node-rs/crc32';

interface Addon {
  crc32c(data: Uint8Array, initial?: number): number;
  crc32cRange(data: Uint8Array, start: number, end: number): number;
  crc32cInto(data: Uint8Array, out: Uint8Array, outOffset: number): void;
  prefetch(data: Uint8Array): void;
  /** "sse4.2" forces the 3-lane kernel, anything else the fastest the CPU has; returns the kernel in use. */
  setKernel(name: string): string;
}

/** Our addon from build/Release (next to package.json: two levels up from src/, three from dist/src/). */
function loadAddon(): Addon | null {
  if (process.env.NVMF_EMU_CRC32C === 'node-rs') return null;
  const require = createRequire(import.meta.url);
  for (const p of ['../../build/Release/crc32c.node', '../../../build/Release/crc32c.node']) {
    try {
      return require(p) as Addon;
    } catch {
      // not built here (no compiler, not x64, or --ignore-scripts): the next place, then @node-rs
    }
  }
  return null;
}
const addon = loadAddon();
/** Which implementation data digests use (bench output, tests): "nvmf-emu addon (<kernel>)" or "@node-rs/crc32". */
export const CRC32C_BACKEND: string = addon ? `nvmf-emu addon (${addon.setKernel(process.env.NVMF_EMU_CRC32C ?? 'auto')})` : '@node-rs/crc32';

/** Below this many bytes the JS table beats a @node-rs/crc32 call (no addon). */
const JS_MAX = 256;

const T = new Int32Array(8 * 256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[i] = c;
}
for (let t = 1; t < 8; t++) for (let i = 0; i < 256; i++) T[t * 256 + i] = (T[(t - 1) * 256 + i]! >>> 8) ^ T[T[(t - 1) * 256 + i]! & 0xff]!;

/** Slice-by-8 CRC32C of b[start, end), continuing from `initial`. */
function tableCrc(b: Uint8Array, start: number, end: number, initial: number): number {
  let c = ~initial;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
    c = T[1792 + (a & 0xff)]! ^ T[1536 + ((a >>> 8) & 0xff)]! ^ T[1280 + ((a >>> 16) & 0xff)]! ^ T[1024 + (a >>> 24)]!
      ^ T[768 + b[i + 4]!]! ^ T[512 + b[i + 5]!]! ^ T[256 + b[i + 6]!]! ^ T[b[i + 7]!]!;
  }
  for (; i < end; i++) c = T[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// The addon's functions are taken out of its exports once: a property load per call on a native
// module's exports object costs more than the call.
/** CRC32C of data, continuing from `initial`. */
export const crc32c: (data: Uint8Array, initial?: number) => number = addon !== null ? addon.crc32c
  : (data, initial = 0) => (data.length <= JS_MAX ? tableCrc(data, 0, data.length, initial) : nodeRsCrc32c(data as Buffer, initial) >>> 0);

/** CRC32C of b[start, end) without making a view (header digests). */
export const crc32cRange: (b: Buffer, start: number, end: number) => number = addon !== null ? addon.crc32cRange
  : (b, start, end) => (end - start <= JS_MAX ? tableCrc(b, start, end, 0) : nodeRsCrc32c(b.subarray(start, end), 0) >>> 0);

/** Write the CRC32C of `data` into out[outOffset, +4), little-endian: a data digest in place. */
export const crc32cInto: (data: Uint8Array, out: Buffer, outOffset: number) => void = addon !== null ? addon.crc32cInto
  : (data, out, outOffset) => void out.writeUInt32LE(crc32c(data), outOffset);

/**
 * Have the first 4 KiB of `data` loaded into the cache while other work goes on (its data digest
 * is computed later): a random block of a namespace is in DRAM. No-op without the addon.
 */
export const prefetch: (data: Uint8Array) => void = addon !== null ? addon.prefetch : () => {};

// A 24-byte header's CRC (CapsuleResp, C2HData, R2T: two of them per read sent) is affine in its
// bytes: crc(M) = crc(24 zero bytes) ^ XOR over i of P[i][M[i]], with P[i][v] the register left by
// byte v followed by 23 - i zero bytes. 24 independent table loads in JS take ~17 ns, where a call
// into the addon costs ~45 ns however short the input (and @node-rs more).
const H24 = new Int32Array(24 * 256);
for (let i = 0; i < 24; i++) {
  for (let v = 0; v < 256; v++) {
    let c = T[v]!;
    for (let k = 0; k < 23 - i; k++) c = T[c & 0xff]! ^ (c >>> 8);
    H24[i * 256 + v] = c;
  }
}
const H24_ZERO = ~tableCrc(new Uint8Array(24), 0, 24, 0); // the register 24 zero bytes leave (from ~0)

/** CRC32C of the 24 bytes at b[o]: a PDU header digest. */
export function crc32cHeader24(b: Uint8Array, o: number): number {
  return (
    ~(H24_ZERO ^ H24[b[o]!]! ^ H24[256 | b[o + 1]!]! ^ H24[512 | b[o + 2]!]! ^ H24[768 | b[o + 3]!]!
      ^ H24[1024 | b[o + 4]!]! ^ H24[1280 | b[o + 5]!]! ^ H24[1536 | b[o + 6]!]! ^ H24[1792 | b[o + 7]!]!
      ^ H24[2048 | b[o + 8]!]! ^ H24[2304 | b[o + 9]!]! ^ H24[2560 | b[o + 10]!]! ^ H24[2816 | b[o + 11]!]!
      ^ H24[3072 | b[o + 12]!]! ^ H24[3328 | b[o + 13]!]! ^ H24[3584 | b[o + 14]!]! ^ H24[3840 | b[o + 15]!]!
      ^ H24[4096 | b[o + 16]!]! ^ H24[4352 | b[o + 17]!]! ^ H24[4608 | b[o + 18]!]! ^ H24[4864 | b[o + 19]!]!
      ^ H24[5120 | b[o + 20]!]! ^ H24[5376 | b[o + 21]!]! ^ H24[5632 | b[o + 22]!]! ^ H24[5888 | b[o + 23]!]!) >>> 0
  );
}

/** CRC32C over several buffers as if concatenated. */
export function crc32cList(parts: readonly Uint8Array[]): number {
  let c = 0;
  for (const p of parts) c = crc32c(p, c);
  return c >>> 0;
}

/** Bytes of a unit whose CRC crc32cJoin4k appends. */
export const JOIN_UNIT = 4096;

// Appending B to A: crc(A || B) = Z(crc(A)) ^ crc(B), where Z is what |B| zero bytes do to a register
// started at crc(A) (the ~0 start and final inversion cancel out). Z is linear: four tables of what
// it makes of each byte of the register, built from its 32 single-bit images.
const Z4K = new Int32Array(4 * 256);
{
  const bit = new Int32Array(32);
  for (let j = 0; j < 32; j++) {
    let c = 1 << j;
    for (let k = 0; k < JOIN_UNIT; k++) c = T[c & 0xff]! ^ (c >>> 8);
    bit[j] = c;
  }
  for (let b = 0; b < 4; b++) {
    for (let v = 0; v < 256; v++) {
      let c = 0;
      for (let j = 0; j < 8; j++) if ((v >>> j) & 1) c ^= bit[b * 8 + j]!;
      Z4K[b * 256 + v] = c;
    }
  }
}

/** CRC32C of A followed by B from their CRCs, B being 4096 bytes (data digests from per-block digests). */
export function crc32cJoin4k(crcA: number, crcB: number): number {
  return (Z4K[crcA & 0xff]! ^ Z4K[256 | ((crcA >>> 8) & 0xff)]! ^ Z4K[512 | ((crcA >>> 16) & 0xff)]! ^ Z4K[768 | (crcA >>> 24)]! ^ crcB) >>> 0;
}

/**
 * CRC32C of `data`, whole 4 KiB blocks whose CRCs `table` keeps from `first` on, each as CRC + 1
 * (0 where not known: summed now and kept). A store keeps such a table for its memory, a block's
 * entry cleared when its bytes change: a block read again needs no pass over its bytes.
 */
export function crc32cBlocks(table: Float64Array, first: number, data: Buffer): number {
  let c = 0;
  for (let at = 0, b = first; at < data.length; at += JOIN_UNIT, b++) {
    let e = table[b]!;
    if (e === 0) {
      e = crc32cRange(data, at, at + JOIN_UNIT) + 1;
      table[b] = e;
    }
    c = at === 0 ? e - 1 : crc32cJoin4k(c, e - 1);
  }
  return c;
}
