// CRC32C for NVMe/TCP header and data digests; the digest on the wire is the final CRC value,
// little-endian. Data digests use our addon (native/crc32c.c: SSE4.2 crc32 on three lanes, ~20
// GB/s, built by `npm ci` on x64 where a C compiler is present) or else @node-rs/crc32 (one
// lane: ~5 GB/s; also ARM). A native call plus the view it needs costs ~150-350 ns however short
// the input, so header digests (24-76 bytes) use a slice-by-8 table in JS over a range instead:
// ~50 ns for 24 bytes.
import { createRequire } from 'node:module';
import { crc32c as nodeRsCrc32c } from '@node-rs/crc32';

type NativeCrc = (data: Uint8Array, initial: number) => number;

/** Our addon from build/Release (next to package.json: two levels up from src/, three from dist/src/). */
function loadAddon(): NativeCrc | null {
  if (process.env.NVMF_EMU_CRC32C === 'node-rs') return null;
  const require = createRequire(import.meta.url);
  for (const p of ['../../build/Release/crc32c.node', '../../../build/Release/crc32c.node']) {
    try {
      return (require(p) as { crc32c: NativeCrc }).crc32c;
    } catch {
      // not built here (no compiler, not x64, or --ignore-scripts): the next place, then @node-rs
    }
  }
  return null;
}
const addon = loadAddon();
const nativeCrc32c: NativeCrc = addon ?? (nodeRsCrc32c as NativeCrc);
/** Which implementation data digests use (bench output, tests). */
export const CRC32C_BACKEND: 'nvmf-emu addon (SSE4.2, 3 lanes)' | '@node-rs/crc32' = addon ? 'nvmf-emu addon (SSE4.2, 3 lanes)' : '@node-rs/crc32';

/** Below this many bytes the JS table beats the native call. */
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

export function crc32c(data: Uint8Array, initial = 0): number {
  if (data.length <= JS_MAX) return tableCrc(data, 0, data.length, initial);
  return nativeCrc32c(data, initial) >>> 0;
}

/** CRC32C of b[start, end) without making a view for short ranges (header digests). */
export function crc32cRange(b: Buffer, start: number, end: number): number {
  if (end - start <= JS_MAX) return tableCrc(b, start, end, 0);
  return nativeCrc32c(b.subarray(start, end), 0) >>> 0;
}

/** CRC32C over several buffers as if concatenated. */
export function crc32cList(parts: readonly Uint8Array[]): number {
  let c = 0;
  for (const p of parts) c = crc32c(p, c);
  return c >>> 0;
}
