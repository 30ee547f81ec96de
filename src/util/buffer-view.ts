// A Buffer over part of an ArrayBuffer, for the per-I/O path. Buffer#subarray costs ~48 ns: a
// generic property lookup (V8 in Node 20 never inlines a method load on a typed array), the
// species getter, then Node's Buffer class constructor. Calling that constructor directly (it is
// what Buffer[Symbol.species] returns) costs ~20 ns. Callers keep the ArrayBuffer and its offset:
// reading a Buffer's .buffer or .byteOffset is the same slow lookup again.

type BufferClass = new (ab: ArrayBufferLike, byteOffset: number, length: number) => Buffer;

const species = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species];
const FastBuffer: BufferClass | null = typeof species === 'function' ? (species as BufferClass) : null;

/** A Buffer viewing ab[byteOffset, byteOffset + length): no copy. */
export const bufferView: (ab: ArrayBufferLike, byteOffset: number, length: number) => Buffer =
  FastBuffer !== null ? (ab, byteOffset, length) => new FastBuffer(ab, byteOffset, length) : (ab, byteOffset, length) => Buffer.from(ab, byteOffset, length);
