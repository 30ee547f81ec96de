// Little-endian fields of PDUs and queue entries on the per-I/O path. Buffer's readUInt32LE and
// friends are prototype methods, and V8 in Node 20 never inlines a property load on a typed array
// (a Buffer is one): every such call first pays a generic IC lookup (Builtins_LoadIC, ~7% of the
// target's CPU at QD32 before these). Element loads and stores are inlined. No range checks:
// callers pass offsets inside headers of known size; anything else keeps the Buffer methods.

/** Unsigned 16-bit little-endian at b[o]. */
export function getU16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

/** Unsigned 32-bit little-endian at b[o]. */
export function getU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Store the low 16 bits of v little-endian at b[o]. */
export function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

/** Store the low 32 bits of v little-endian at b[o]. */
export function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}
