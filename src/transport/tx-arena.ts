// Memory for the PDU headers the target sends (CapsuleResp, C2HData, R2T, data digests). Headers
// are carved one after another from a large buffer and never rewritten (the socket may still hold
// them), so a queue's consecutive headers leave as one chunk and no Buffer is made per header.
// When a buffer is used up a fresh one replaces it; the old one lives until the sockets let go.
const ARENA_SIZE = 64 * 1024;

export class TxArena {
  buf: Buffer = Buffer.allocUnsafeSlow(ARENA_SIZE);
  /** buf's memory (views of it are made from this: see util/buffer-view.ts). */
  ab: ArrayBufferLike = this.buf.buffer;
  /** Where buf starts in ab. */
  base = this.buf.byteOffset;
  private off = 0;

  /** Reserve `n` bytes of `buf` (which may be replaced first); returns their offset. */
  take(n: number): number {
    if (this.off + n > this.buf.length) {
      this.buf = Buffer.allocUnsafeSlow(Math.max(ARENA_SIZE, n));
      this.ab = this.buf.buffer;
      this.base = this.buf.byteOffset;
      this.off = 0;
    }
    const o = this.off;
    this.off += n;
    return o;
  }

  /** Next offset `take` would return if `buf` does not change. */
  get next(): number {
    return this.off;
  }
}
