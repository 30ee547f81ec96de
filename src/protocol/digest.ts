// CRC32C for NVMe/TCP header and data digests. @node-rs/crc32 uses the SSE4.2/ARMv8 CRC
// instructions; the digest on the wire is the final CRC value, little-endian.
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

export function crc32c(data: Uint8Array, initial = 0): number {
  return nativeCrc32c(data as Buffer, initial) >>> 0;
}

/** CRC32C over several buffers as if concatenated. */
export function crc32cList(parts: readonly Uint8Array[]): number {
  let c = 0;
  for (const p of parts) c = nativeCrc32c(p as Buffer, c);
  return c >>> 0;
}
