// The accepted-socket read path of the target: reads land in one shared buffer (no ArrayBuffer per
// read), byte for byte, on the Node this project runs on.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readIntoSharedBuffer } from '../../src/transport/socket-read-buffer.js';

describe('readIntoSharedBuffer', () => {
  const closers: (() => void)[] = [];
  afterEach(() => closers.splice(0).forEach((c) => c()));

  it('switches an accepted socket to the shared buffer and delivers every byte in order, from two clients', async () => {
    const got = new Map<number, Buffer[]>();
    const buffers = new Set<ArrayBufferLike>();
    const events: string[] = [];
    let switched = 0;
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      const id = s.remotePort!;
      sockets.push(s);
      got.set(id, []);
      s.on('data', () => events.push('data'));
      if (readIntoSharedBuffer(s, (b, n) => {
        buffers.add(b.buffer);
        got.get(id)!.push(Buffer.from(b.subarray(0, n))); // copied: the buffer is reused
      })) switched++;
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const payload = (seed: number): Buffer => Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7 + seed) & 0xff));
    const clients = await Promise.all([1, 2].map((seed) => new Promise<{ port: number; data: Buffer }>((resolve) => {
      const c = net.connect({ port, host: '127.0.0.1' }, () => {
        const data = payload(seed);
        c.end(data, () => resolve({ port: c.localPort!, data }));
      });
      closers.push(() => c.destroy());
    })));
    const total = (p: number): number => (got.get(p) ?? []).reduce((a, b) => a + b.length, 0);
    for (let i = 0; i < 200 && clients.some((c) => total(c.port) < c.data.length); i++) await new Promise((r) => setTimeout(r, 10));
    expect(switched).toBe(2);
    expect(events).toEqual([]); // nothing went the per-read-Buffer way
    expect(buffers.size).toBe(1); // one buffer for both sockets
    for (const c of clients) expect(Buffer.concat(got.get(c.port)!).equals(c.data)).toBe(true);
    // Byte accounting (metrics read it) still works on this path.
    expect(sockets.map((s) => s.bytesRead)).toEqual([300_000, 300_000]);
  });

  it('declines on a socket that has no handle fields (a fake), leaving it alone', () => {
    expect(readIntoSharedBuffer({ _handle: null } as unknown as net.Socket, () => {})).toBeNull();
  });

  it('redirects reads into a caller buffer (bytes land in place, never more than it holds), then back', async () => {
    const target = Buffer.alloc(100_000);
    const seen: { inTarget: boolean; n: number }[] = [];
    const rest: Buffer[] = [];
    let received = 0;
    const server = net.createServer((s) => {
      const redirect = readIntoSharedBuffer(s, (b, n) => {
        const inTarget = b.buffer === target.buffer;
        seen.push({ inTarget, n });
        if (inTarget) {
          received += n;
          redirect!(received < target.length ? target.subarray(received) : null);
        } else rest.push(Buffer.from(b.subarray(0, n)));
      })!;
      redirect(target);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => server.close());
    const data = Buffer.from(Array.from({ length: 150_000 }, (_, i) => (i * 13) & 0xff));
    const c = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1' }, () => c.end(data));
    closers.push(() => c.destroy());
    for (let i = 0; i < 200 && received + rest.reduce((a, b) => a + b.length, 0) < data.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(received).toBe(target.length);
    expect(target.equals(data.subarray(0, target.length))).toBe(true);
    expect(Buffer.concat(rest).equals(data.subarray(target.length))).toBe(true);
    expect(seen.some((x) => !x.inTarget)).toBe(true);
  });
});
