// A stand-in for a net.Socket under a TcpQueue: bytes are fed in directly and what the target
// writes is collected, so hundreds of thousands of fuzz cases run without a TCP handshake each.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

export class FakeSocket extends EventEmitter {
  readonly out: Buffer[] = [];
  destroyed = false;
  /** The target ended or destroyed the connection (not the test's own teardown). */
  closedByTarget = false;
  bytesRead = 0;
  bytesWritten = 0;
  readonly writableLength = 0;
  readonly localAddress = '127.0.0.1';
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 40000;
  private tearingDown = false;

  setNoDelay(): this {
    return this;
  }
  cork(): void {}
  uncork(): void {}
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }

  write(b: Uint8Array): boolean {
    if (this.destroyed) return false;
    this.out.push(Buffer.from(b));
    this.bytesWritten += b.length;
    return true;
  }

  end(): this {
    if (!this.tearingDown) this.closedByTarget = true;
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    if (!this.tearingDown) this.closedByTarget = true;
    this.destroyed = true;
    queueMicrotask(() => this.emit('close', false));
    return this;
  }

  /** Bytes from the "host". */
  feed(chunk: Buffer): void {
    if (this.destroyed) return;
    this.bytesRead += chunk.length;
    this.emit('data', chunk);
  }

  /** The test closes its side. */
  teardown(): void {
    this.tearingDown = true;
    this.destroy();
  }

  asSocket(): Socket {
    return this as unknown as Socket;
  }
}
