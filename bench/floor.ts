// The floor for any Node.js server on this machine: a minimal node:net responder that answers each
// 72-byte request (a CapsuleCmd's size) with 4 KiB + 40 bytes (C2HData header + data + CapsuleResp),
// and a minimal client. A target figure is always reported as a ratio to this, measured in the same run.
import net from 'node:net';

export const REQ = 72;
export const RESP = 4096 + 40;

export function startFloorServer(port = 0): Promise<{ port: number; close: () => void }> {
  const reply = Buffer.alloc(RESP, 0x5a);
  const server = net.createServer({ noDelay: true }, (s) => {
    let pending = 0;
    s.on('data', (c: Buffer) => {
      pending += c.length;
      const n = Math.floor(pending / REQ);
      pending -= n * REQ;
      if (n === 1) s.write(reply);
      else if (n > 1) {
        s.cork();
        for (let i = 0; i < n; i++) s.write(reply);
        s.uncork();
      }
    });
    s.on('error', () => {});
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const a = server.address() as net.AddressInfo;
      resolve({ port: a.port, close: () => server.close() });
    });
  });
}

export interface FloorResult {
  ops: number;
  seconds: number;
  latenciesUs: Float64Array;
}

/** Keep `depth` requests outstanding for `seconds`; latency per request (FIFO order on one socket). */
export function runFloorClient(port: number, depth: number, seconds: number): Promise<FloorResult> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const req = Buffer.alloc(REQ, 1);
    const sentAt: number[] = [];
    let lat = new Float64Array(1 << 20);
    let n = 0;
    let pending = 0;
    let start = 0;
    let done = false;
    s.on('connect', () => {
      start = performance.now();
      for (let i = 0; i < depth; i++) {
        sentAt.push(performance.now());
        s.write(req);
      }
    });
    s.on('data', (c: Buffer) => {
      pending += c.length;
      while (pending >= RESP) {
        pending -= RESP;
        const now = performance.now();
        if (n === lat.length) {
          const bigger = new Float64Array(lat.length * 2);
          bigger.set(lat);
          lat = bigger;
        }
        lat[n++] = (now - sentAt.shift()!) * 1000;
        if (now - start >= seconds * 1000) {
          if (!done) {
            done = true;
            s.destroy();
            resolve({ ops: n, seconds: (now - start) / 1000, latenciesUs: lat.subarray(0, n) });
          }
          return;
        }
        sentAt.push(performance.now());
        s.write(req);
      }
    });
    s.on('error', reject);
  });
}
