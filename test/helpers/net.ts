// Small things integration tests share.
import net from 'node:net';
import { NvmeStatusError } from '../../src/initiator/index.js';

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/** The NVMe status a command's promise ended with: 0 on success, the status of an NvmeStatusError. */
export async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (err) {
    if (err instanceof NvmeStatusError) return err.status;
    throw err;
  }
}
