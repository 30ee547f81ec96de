import { describe, expect, it } from 'vitest';
import { PduFlag, PduType, TermFes } from '../../src/protocol/constants.js';
import { encodeICResp, encodeTermReq, writeCapsuleRespHeader, writeDataHeader } from '../../src/protocol/pdu.js';
import { writeCqe } from '../../src/protocol/sqe.js';
import { PduReader, type PduHandler, type PduStreamError } from '../../src/initiator/pdu-reader.js';

function refCrc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

interface Ev {
  type: number;
  hdr: string;
  data: string | null;
}

/** Records PDUs; streamed data is checked for contiguous offsets and joined. */
class Recorder implements PduHandler {
  events: Ev[] = [];
  errors: PduStreamError[] = [];
  private pieces: Buffer[] = [];
  private seen = 0;
  private started = false;
  onDataStart(hdr: Buffer, dataLength: number): void {
    expect(this.started).toBe(false);
    this.started = true;
    this.pieces = [];
    this.seen = 0;
    expect(dataLength).toBeGreaterThanOrEqual(0);
    expect(hdr[0] === PduType.C2HData || hdr[0] === PduType.H2CData).toBe(true);
  }
  onData(chunk: Buffer, offset: number): void {
    expect(offset).toBe(this.seen);
    this.seen += chunk.length;
    this.pieces.push(Buffer.from(chunk));
  }
  onPdu(hdr: Buffer, data: Buffer | null): void {
    const streamed = hdr[0] === PduType.C2HData || hdr[0] === PduType.H2CData;
    if (streamed) {
      expect(this.started).toBe(true);
      expect(data).toBeNull();
    }
    this.started = false;
    this.events.push({ type: hdr[0]!, hdr: hdr.toString('hex'), data: streamed ? Buffer.concat(this.pieces).toString('hex') : data ? data.toString('hex') : null });
  }
  onError(err: PduStreamError): void {
    this.errors.push(err);
  }
}

// ---- stream builders ----

function capsuleResp(cid: number, status: number, hdgst: boolean): Buffer {
  const b = Buffer.alloc(hdgst ? 28 : 24);
  writeCapsuleRespHeader(b, 0, hdgst);
  writeCqe(b, 8, 0x1234, 0, 1, 0, cid, status);
  if (hdgst) b.writeUInt32LE(refCrc32c(b.subarray(0, 24)), 24);
  return b;
}

function c2hData(cid: number, datao: number, data: Buffer, flags: number, hdgst: boolean, ddgst: boolean): Buffer {
  const h = Buffer.alloc(28);
  const n = writeDataHeader(h, 0, PduType.C2HData, flags, cid, 0, datao, data.length, data.length, hdgst, ddgst);
  return Buffer.concat([h.subarray(0, n), data, ddgst ? u32(refCrc32c(data)) : Buffer.alloc(0)]);
}

/** C2HData with PDO padded to a 16-byte boundary (CPDA 3). */
function c2hDataPadded(cid: number, data: Buffer, hdgst: boolean, ddgst: boolean): Buffer {
  const hlen = 24 + (hdgst ? 4 : 0);
  const pdo = 32;
  const h = Buffer.alloc(hlen);
  writeDataHeader(h, 0, PduType.C2HData, PduFlag.LAST_PDU, cid, 0, 0, data.length, data.length, hdgst, ddgst);
  h[3] = pdo;
  h.writeUInt32LE(pdo + data.length + (ddgst ? 4 : 0), 4);
  if (hdgst) h.writeUInt32LE(refCrc32c(h.subarray(0, 24)), 24);
  return Buffer.concat([h, Buffer.alloc(pdo - hlen, 0xee), data, ddgst ? u32(refCrc32c(data)) : Buffer.alloc(0)]);
}

function r2t(cid: number, ttag: number, off: number, len: number, hdgst: boolean): Buffer {
  const b = Buffer.alloc(28);
  const n = writeDataHeader(b, 0, PduType.R2T, 0, cid, ttag, off, len, 0, hdgst, false);
  return b.subarray(0, n);
}

const pattern = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

function buildStream(hdgst: boolean, ddgst: boolean): Buffer {
  return Buffer.concat([
    encodeICResp({ pfv: 0, cpda: 0, hdgst, ddgst, maxh2cdata: 8192 }),
    capsuleResp(1, 0, hdgst),
    c2hData(2, 0, pattern(100, 1), 0, hdgst, ddgst),
    c2hData(2, 100, pattern(37, 2), PduFlag.LAST_PDU | PduFlag.SUCCESS, hdgst, ddgst),
    r2t(3, 9, 4096, 8192, hdgst),
    c2hDataPadded(4, pattern(13, 3), hdgst, ddgst),
    capsuleResp(4, 0x4002, hdgst),
    encodeTermReq(PduType.C2HTermReq, TermFes.InvalidHeaderField, 2, pattern(30, 4)),
  ]);
}

function feed(stream: Buffer, cuts: number[]): Recorder {
  const rec = new Recorder();
  const r = new PduReader(rec);
  let prev = 0;
  for (const c of [...cuts, stream.length]) {
    r.push(stream.subarray(prev, c));
    prev = c;
  }
  expect(r.idle || r.stopped).toBe(true);
  return rec;
}

describe('PduReader', () => {
  for (const [hdgst, ddgst] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    describe(`hdgst=${hdgst} ddgst=${ddgst}`, () => {
      const stream = buildStream(hdgst, ddgst);
      const whole = feed(stream, []);

      it('parses a whole-buffer stream into the expected PDUs', () => {
        expect(whole.errors).toEqual([]);
        expect(whole.events.map((e) => e.type)).toEqual([
          PduType.ICResp, PduType.CapsuleResp, PduType.C2HData, PduType.C2HData, PduType.R2T, PduType.C2HData, PduType.CapsuleResp, PduType.C2HTermReq,
        ]);
        expect(whole.events[2]!.data).toBe(pattern(100, 1).toString('hex'));
        expect(whole.events[3]!.data).toBe(pattern(37, 2).toString('hex'));
        expect(whole.events[5]!.data).toBe(pattern(13, 3).toString('hex')); // padding skipped
        expect(whole.events[7]!.data).toBe(pattern(30, 4).toString('hex'));
        expect(whole.events[1]!.hdr.length / 2).toBe(hdgst ? 28 : 24);
        expect(whole.events[0]!.data).toBeNull();
      });

      it('gives identical results when split at every byte boundary', () => {
        for (let cut = 1; cut < stream.length; cut++) {
          const rec = feed(stream, [cut]);
          expect(rec.errors).toEqual([]);
          expect(rec.events).toEqual(whole.events);
        }
      });

      it('gives identical results fed one byte at a time and in random chunks', () => {
        expect(feed(stream, Array.from({ length: stream.length - 1 }, (_, i) => i + 1)).events).toEqual(whole.events);
        let seed = 7;
        for (let round = 0; round < 30; round++) {
          const cuts: number[] = [];
          let p = 0;
          for (;;) {
            seed = (seed * 1103515245 + 12345) >>> 0;
            p += 1 + (seed % 90);
            if (p >= stream.length) break;
            cuts.push(p);
          }
          expect(feed(stream, cuts).events).toEqual(whole.events);
        }
      });
    });
  }

  it('hands over a header inside one chunk without copying', () => {
    const resp = capsuleResp(5, 0, false);
    const chunk = Buffer.concat([resp, resp]);
    const seen: Buffer[] = [];
    const r = new PduReader({ onDataStart() {}, onData() {}, onPdu: (h) => seen.push(h), onError: () => {} });
    r.push(chunk);
    expect(seen).toHaveLength(2);
    expect(seen[0]!.buffer).toBe(chunk.buffer);
    expect(seen[1]!.byteOffset).toBe(chunk.byteOffset + 24);
  });

  it('streams large data in pieces without buffering it', () => {
    const data = pattern(200_000, 9);
    const pdu = c2hData(1, 0, data, PduFlag.LAST_PDU, true, true);
    const rec = feed(pdu, [10, 30, 65536, 131072, pdu.length - 2]);
    expect(rec.errors).toEqual([]);
    expect(rec.events[0]!.data).toBe(data.toString('hex'));
  });

  describe('errors (reported once, at any split point)', () => {
    const cases: [string, Buffer, string, number][] = [
      ['header digest', (() => { const b = capsuleResp(1, 0, true); b[26]! ^= 1; return b; })(), 'header-digest', TermFes.HeaderDigestError],
      ['data digest', (() => { const b = c2hData(1, 0, pattern(50, 0), PduFlag.LAST_PDU, false, true); b[b.length - 1]! ^= 0x80; return b; })(), 'data-digest', 0],
      ['corrupted data', (() => { const b = c2hData(1, 0, pattern(50, 0), PduFlag.LAST_PDU, true, true); b[40]! ^= 1; return b; })(), 'data-digest', 0],
      ['unknown type', Buffer.from('0a0018001800000000000000000000000000000000000000', 'hex'), 'format', TermFes.InvalidHeaderField],
      ['wrong HLEN', Buffer.from('0500200020000000' + '00'.repeat(24), 'hex'), 'format', TermFes.InvalidHeaderField],
      ['PLEN shorter than header', Buffer.from('0500180010000000' + '00'.repeat(16), 'hex'), 'format', TermFes.InvalidHeaderField],
      ['PDO inside header', (() => { const b = c2hData(1, 0, pattern(8, 0), 0, false, false); b[3] = 8; return b; })(), 'format', TermFes.InvalidHeaderField],
    ];
    for (const [name, bytes, kind, fes] of cases) {
      it(name, () => {
        const stream = Buffer.concat([capsuleResp(9, 0, false), bytes, capsuleResp(9, 0, false)]);
        for (let cut = 0; cut < stream.length; cut++) {
          const rec = feed(stream, cut ? [cut] : []);
          expect(rec.errors).toHaveLength(1);
          expect(rec.errors[0]!.kind).toBe(kind);
          expect(rec.errors[0]!.fes).toBe(fes);
          // The good PDU before is delivered; nothing after the bad one.
          expect(rec.events.filter((e) => e.type === PduType.CapsuleResp && e.hdr.length === 48)).toHaveLength(1);
        }
      });
    }

    it('rejects oversized buffered data', () => {
      const rec = new Recorder();
      const r = new PduReader(rec, { maxBufferedData: 100 });
      const b = Buffer.alloc(24);
      b[0] = PduType.CapsuleCmd;
      b[2] = 72;
      b[3] = 72;
      b.writeUInt32LE(72 + 1000, 4);
      r.push(b);
      expect(rec.errors[0]?.fes).toBe(TermFes.DataTransferLimitExceeded);
    });
  });

  it('stop() from a handler halts parsing of the rest of the chunk', () => {
    const stream = Buffer.concat([capsuleResp(1, 0, false), capsuleResp(2, 0, false), capsuleResp(3, 0, false)]);
    const seen: number[] = [];
    const reader: PduReader = new PduReader({
      onDataStart() {},
      onData() {},
      onPdu: (h) => {
        seen.push(h.readUInt16LE(20));
        if (seen.length === 2) reader.stop();
      },
      onError() {},
    });
    reader.push(stream);
    expect(seen).toEqual([1, 2]);
    expect(reader.stopped).toBe(true);
  });
});
