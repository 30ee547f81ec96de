// Reads of an accepted socket into one reused buffer instead of a new Buffer per read.
//
// By default Node gives every socket read its own freshly allocated ArrayBuffer. Under write-heavy
// load (4 KiB writes at QD32: ~400 MB/s in) that external-memory churn makes V8 run a full
// mark-compact every ~50 ms, about a fifth of the target's time. net.Socket's public `onread`
// option reads into a caller's buffer, but only sockets the caller constructs accept it; accepted
// sockets are built by net.Server. This sets the same two fields the option sets (found by their
// symbol descriptions) and points the handle at the buffer, as the option does. When this Node
// does not have them, nothing changes and 'data' events carry on (checked by a unit test, so an
// upgrade that drops them is noticed).
//
// The buffer is reused for the next read, so the callback must consume (copy) whatever it keeps.
// One buffer serves every socket: the event loop runs one read callback at a time.
import type { Socket } from 'node:net';

// 64 KiB, not more: with 256 KiB a QD32 burst of 4 KiB writes was read and run whole before any
// completion left, so host and target took turns instead of overlapping (~25% fewer IOPS). Large
// H2C data does not need a big buffer: it is read in place (TcpQueue's direct mode).
const SIZE = 64 * 1024;
let shared: Buffer | null = null;

interface UserBufferHandle {
  useUserBuffer?: (buf: Uint8Array) => void;
}

function symbolOf(obj: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(obj).find((s) => s.description === description);
}

/** Where the next reads of a socket go: `buf`, or the shared buffer again when null. */
export type ReadRedirect = (buf: Buffer | null) => void;

/**
 * Have `socket` read into the shared buffer and call `onRead(buf, n)` with the `n` bytes read into
 * `buf` (the shared buffer, or the caller's own after a redirect: large data lands in place).
 * Returns the redirect function, or null when this Node cannot (the caller keeps using 'data').
 */
export function readIntoSharedBuffer(socket: Socket, onRead: (buf: Buffer, n: number) => void): ReadRedirect | null {
  const kBuffer = symbolOf(socket, 'kBuffer');
  const kBufferCb = symbolOf(socket, 'kBufferCb');
  const handle = (socket as unknown as { _handle: UserBufferHandle | null })._handle;
  if (kBuffer === undefined || kBufferCb === undefined || typeof handle?.useUserBuffer !== 'function') return null;
  const sharedBuf = (shared ??= Buffer.allocUnsafeSlow(SIZE));
  const s = socket as unknown as Record<symbol, unknown>;
  const use = (buf: Buffer): void => {
    s[kBuffer] = buf;
    handle.useUserBuffer!(buf);
  };
  s[kBufferCb] = (n: number, b: Buffer): void => onRead(b, n);
  use(sharedBuf);
  return (buf) => {
    if ((socket as unknown as { _handle: unknown })._handle === handle) use(buf ?? sharedBuf);
  };
}
