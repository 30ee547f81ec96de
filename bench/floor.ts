// The floor for any Node.js server on this machine: a minimal node:net responder that speaks just
// enough NVMe/TCP to answer each 72-byte 4 KiB-read capsule with C2HData (24-byte header + 4 KiB)
// and a CapsuleResp (24 bytes) carrying the command's CID, batched per chunk received as the target
// batches. Driven by the same load generator as the target (bench/raw-load.ts), it measures the
// generator's own ceiling too; target figures are reported as a ratio to it, from the same run.
import net from 'node:net';
import { PduType, PduFlag } from '../src/protocol/constants.js';
import { writeCapsuleRespHeader, writeDataHeader } from '../src/protocol/pdu.js';
import { writeCqe } from '../src/protocol/sqe.js';

export const REQ = 72;
const DATA = 4096;
const HDR = 24;

export function startFloorServer(port = 0): Promise<{ port: number; close: () => void }> {
  const data = Buffer.alloc(DATA, 0x5a);
  const server = net.createServer({ noDelay: true }, (s) => {
    const partial = Buffer.alloc(REQ);
    let have = 0;
    s.on('data', (c: Buffer) => {
      const n = Math.floor((have + c.length) / REQ);
      if (n === 0) {
        c.copy(partial, have);
        have += c.length;
        return;
      }
      // Headers of the whole batch in one buffer: [C2H 0][resp 0, C2H 1][resp 1, C2H 2]...[resp n-1].
      const hdrs = Buffer.allocUnsafe(n * 2 * HDR);
      let pos = 0;
      s.cork();
      for (let i = 0; i < n; i++) {
        let cid: number;
        if (i === 0 && have > 0) {
          c.copy(partial, have, 0, REQ - have);
          cid = partial.readUInt16LE(8 + 2);
          pos = REQ - have;
        } else {
          cid = c.readUInt16LE(pos + 8 + 2);
          pos += REQ;
        }
        const h = i * 2 * HDR;
        writeDataHeader(hdrs, h, PduType.C2HData, PduFlag.LAST_PDU, cid, 0, 0, DATA, DATA, false, false);
        writeCapsuleRespHeader(hdrs, h + HDR, false);
        writeCqe(hdrs, h + HDR + 8, 0, 0, 0, 1, cid, 0);
        s.write(i === 0 ? hdrs.subarray(0, HDR) : hdrs.subarray(h - HDR, h + HDR));
        s.write(data);
      }
      s.write(hdrs.subarray(n * 2 * HDR - HDR));
      s.uncork();
      have = c.length - pos;
      c.copy(partial, 0, pos);
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
