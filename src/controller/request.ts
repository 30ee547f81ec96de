// The unit that flows from a transport to the controller and back: one NVMe command.
// Transports implement it (pooled, one object per queue slot); handlers only see this.

/** Returned by a handler that will call `complete()` later (device latency, AER). */
export const ASYNC = -1;

export interface NvmeRequest extends BlockDigests {
  /** The 64-byte SQE (owned by the request; valid until completion). */
  readonly sqe: Buffer;
  readonly qid: number;
  readonly cid: number;
  readonly opcode: number;
  readonly nsid: number;
  /** SGL data length of the command in bytes. */
  readonly dataLength: number;
  /** Host-to-controller data (in-capsule or gathered by R2T), exactly dataLength bytes. */
  readonly data: Buffer | null;
  /** LBA for the error log entry of a failed command (0 = none). */
  errorLba: number;
  /** Completion dwords 0 and 1. */
  result0: number;
  result1: number;
  /** Controller-to-host data: views to send as C2HData, in order (no copy needed). */
  readonly c2h: Buffer[];
  c2hLength: number;
  /** Complete an ASYNC command with a status (status.ts form). */
  complete(status: number): void;
}

/**
 * Where a device read's data digest can come from without summing its bytes: the device keeps the
 * CRCs of 4 KiB blocks it was asked for (crc32cBlocks in protocol/digest.ts).
 */
export interface BlockDigests {
  /** The digests of the memory c2h's one view shows (from BlockDevice.readv), or null. */
  c2hDigests: Float64Array | null;
  /** The view's first block in c2hDigests. */
  c2hBlock: number;
}

/** Queue as the controller sees it: something it can close and account against. */
export interface QueueHandle {
  readonly qid: number;
  readonly sqsize: number;
  /** Local address the host connected to (for discovery entries). */
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly portid: number;
  /** Tear the queue's connection down (controller fatal error, keep-alive expiry, shutdown). */
  close(reason: string): void;
}

/** Attach data for the host: a single buffer, clipped to the command's transfer length. */
export function sendData(req: NvmeRequest, buf: Buffer): void {
  const n = Math.min(buf.length, req.dataLength);
  if (n === 0) return;
  req.c2h.push(n === buf.length ? buf : buf.subarray(0, n));
  req.c2hLength += n;
}
