// CRC32C speed as the target uses it: the native data digest (CRC32C_BACKEND) on 4 KiB in cache and
// out of it (a random block of 1 GiB, as a random read finds it) and on 128 KiB, and what header
// digests use (24-byte headers sent: the JS table per byte position; 72-byte commands received: the
// addon over a range, or the JS table without it). Prints one line of figures for BENCHMARKS.md.
// The 72-byte figure runs last, after the closure passed to time() has seen five shapes, and
// reads ~2x what a call costs alone (~45 ns).
import { CRC32C_BACKEND, crc32c, crc32cHeader24, crc32cRange } from '../src/protocol/digest.js';

function time(n: number, fn: (i: number) => number): number {
  let x = 0;
  for (let i = 0; i < Math.min(n, 10_000); i++) x ^= fn(i); // warm up
  const t = performance.now();
  for (let i = 0; i < n; i++) x ^= fn(i);
  const ns = ((performance.now() - t) * 1e6) / n;
  if (x === 0.5) process.stdout.write(''); // keep x alive
  return ns;
}

export function crcLine(): string {
  const chunks = Array.from({ length: 4096 }, (_, i) => Buffer.alloc(256 * 1024, i & 0xff)); // 1 GiB
  const block = (i: number): Buffer => chunks[i >>> 6]!.subarray((i & 63) * 4096, (i & 63) * 4096 + 4096);
  const hot = block(0);
  const blocks = Array.from({ length: 1 << 18 }, (_, i) => block(i));
  const big = Buffer.alloc(128 * 1024, 7);
  const hdr = Buffer.alloc(72, 3);
  let seed = 1;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 14;
  const hot4k = time(200_000, () => crc32c(hot));
  const cold4k = time(200_000, () => crc32c(blocks[rnd()]!));
  const big128 = time(5_000, () => crc32c(big));
  const h24 = time(1_000_000, () => crc32cHeader24(hdr, 0));
  const h72 = time(1_000_000, () => crc32cRange(hdr, 0, 72));
  const gbs = (bytes: number, ns: number): string => (bytes / ns).toFixed(1);
  return `CRC32C (one core): data digests (${CRC32C_BACKEND}) 4 KiB in cache ${(hot4k / 1000).toFixed(2)} µs (${gbs(4096, hot4k)} GB/s), 4 KiB from a random block of 1 GiB ${(cold4k / 1000).toFixed(2)} µs, 128 KiB ${gbs(131072, big128)} GB/s; header digests: 24 bytes (the headers the target sends: a JS table per byte position) ${h24.toFixed(0)} ns, 72 bytes (a received command: ${CRC32C_BACKEND.includes('addon') ? 'the addon over a range' : 'JS slice-by-8'}) ${h72.toFixed(0)} ns.`;
}

if (process.argv[1]?.endsWith('crc.js')) process.stdout.write(crcLine() + '\n');
