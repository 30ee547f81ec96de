// Incremental NVMe/TCP PDU stream parser. Socket chunks go in through push(); complete PDUs
// come out through a handler. Headers that sit inside one chunk are handed over as subarrays
// (no copy); only headers split across chunks are copied into a scratch buffer. The data of
// C2HData/H2CData PDUs is streamed to the handler piece by piece (so the consumer copies it
// once, straight into its destination); the small data of other PDU types (TermReq's echoed
// header, in-capsule data) is delivered contiguous. Header and data digests are verified
// whenever the PDU's HDGSTF/DDGSTF flags say they are present.
import { PduFlag, PduType, TermFes } from '../protocol/constants.js';
import { crc32c } from '../protocol/digest.js';
import { CH_SIZE, DIGEST_SIZE, FieldOff } from '../protocol/pdu.js';

/** Expected HLEN of each PDU type (index = type); 0 = unknown type. */
const HLEN_BY_TYPE: readonly number[] = (() => {
  const t = new Array<number>(256).fill(0);
  t[PduType.ICReq] = 128;
  t[PduType.ICResp] = 128;
  t[PduType.H2CTermReq] = 24;
  t[PduType.C2HTermReq] = 24;
  t[PduType.CapsuleCmd] = 72;
  t[PduType.CapsuleResp] = 24;
  t[PduType.H2CData] = 24;
  t[PduType.C2HData] = 24;
  t[PduType.R2T] = 24;
  return t;
})();

const isStreamed = (type: number): boolean => type === PduType.C2HData || type === PduType.H2CData;

export type PduErrorKind = 'format' | 'header-digest' | 'data-digest';

/** A malformed PDU or digest mismatch in the received stream. `fes`/`fei` suit a TermReq. */
export class PduStreamError extends Error {
  override readonly name = 'PduStreamError';
  constructor(
    message: string,
    readonly kind: PduErrorKind,
    readonly fes: number,
    readonly fei: number,
    /** Copy of the offending PDU header as far as it was received. */
    readonly header: Buffer,
  ) {
    super(message);
  }
}

export interface PduHandler {
  /**
   * A C2HData/H2CData header arrived (digest verified); its data follows through onData().
   * `dataLength` is the data section length derived from PLEN/PDO/DDGSTF.
   */
  onDataStart(hdr: Buffer, dataLength: number): void;
  /** A piece of the current data PDU's data section; `offset` is relative to its start. */
  onData(chunk: Buffer, offset: number): void;
  /**
   * A complete PDU. `hdr` is CH + PSH + header digest when present (valid only during the
   * call). `data` is the data section for non-streamed types (null when empty or streamed).
   */
  onPdu(hdr: Buffer, data: Buffer | null): void;
  /** Malformed stream or digest mismatch; the reader stops after this. */
  onError(err: PduStreamError): void;
}

export interface PduReaderOptions {
  /** Largest data section buffered for non-streamed PDU types (default 1 MiB + 8 KiB). */
  maxBufferedData?: number;
}

const S_HDR = 0;
const S_PAD = 1;
const S_DATA = 2;
const S_DDGST = 3;
const S_DEAD = 4;

export class PduReader {
  private st = S_HDR;
  /** Scratch for headers split across chunks (max HLEN 255 + digest). */
  private readonly scratch = Buffer.allocUnsafe(260);
  private have = 0;
  private need = CH_SIZE;
  private hdr: Buffer = this.scratch;
  private type = 0;
  private hlen = 0;
  private hd = 0;
  private dd = 0;
  private padLeft = 0;
  private dataLen = 0;
  private dataDone = 0;
  private streamed = false;
  private dataBuf: Buffer | null = null;
  private crc = 0;
  private readonly ddScratch = Buffer.allocUnsafe(4);
  private ddHave = 0;
  private readonly maxBuffered: number;

  constructor(
    private readonly handler: PduHandler,
    opts: PduReaderOptions = {},
  ) {
    this.maxBuffered = opts.maxBufferedData ?? 1024 * 1024 + 8192;
  }

  /** True once an error was reported or stop() was called. */
  get stopped(): boolean {
    return this.st === S_DEAD;
  }

  /** Stop parsing; later pushes are ignored. */
  stop(): void {
    this.st = S_DEAD;
  }

  /** True when no partial PDU is buffered. */
  get idle(): boolean {
    return this.st === S_HDR && this.have === 0;
  }

  push(chunk: Buffer): void {
    const len = chunk.length;
    let off = 0;
    while (off < len) {
      const st = this.st;
      if (st === S_HDR) {
        if (this.have === 0 && len - off >= CH_SIZE) {
          // Fast path: the common header is in this chunk; maybe the whole header is.
          if (!this.parseCommonHeader(chunk, off)) return;
          if (len - off >= this.need) {
            this.hdr = chunk.subarray(off, off + this.need);
            off += this.need;
            if (!this.headerComplete()) return;
            continue;
          }
        }
        const n = Math.min(this.need - this.have, len - off);
        chunk.copy(this.scratch, this.have, off, off + n);
        this.have += n;
        off += n;
        if (this.have < this.need) continue;
        if (this.need === CH_SIZE && this.have === CH_SIZE) {
          if (!this.parseCommonHeader(this.scratch, 0)) return;
          if (this.have < this.need) continue;
        }
        this.hdr = this.scratch.subarray(0, this.need);
        if (!this.headerComplete()) return;
      } else if (st === S_PAD) {
        const n = Math.min(this.padLeft, len - off);
        this.padLeft -= n;
        off += n;
        if (this.padLeft === 0) this.afterPad();
      } else if (st === S_DATA) {
        const n = Math.min(this.dataLen - this.dataDone, len - off);
        const piece = chunk.subarray(off, off + n);
        if (this.dd) this.crc = crc32c(piece, this.crc);
        if (this.streamed) {
          this.handler.onData(piece, this.dataDone);
          if (this.st === S_DEAD) return;
        } else if (this.dataBuf === null && n === this.dataLen) {
          this.dataBuf = piece; // whole data section inside this chunk: no copy
        } else {
          if (this.dataBuf === null) this.dataBuf = Buffer.allocUnsafe(this.dataLen);
          piece.copy(this.dataBuf, this.dataDone);
        }
        this.dataDone += n;
        off += n;
        if (this.dataDone === this.dataLen) {
          if (this.dd) {
            this.st = S_DDGST;
            this.ddHave = 0;
          } else this.finish();
        }
      } else if (st === S_DDGST) {
        const n = Math.min(4 - this.ddHave, len - off);
        chunk.copy(this.ddScratch, this.ddHave, off, off + n);
        this.ddHave += n;
        off += n;
        if (this.ddHave === 4) {
          const got = this.ddScratch.readUInt32LE(0);
          if (got !== this.crc) {
            this.fail(
              `data digest mismatch (type 0x${this.type.toString(16)}: received 0x${got.toString(16)}, computed 0x${this.crc.toString(16)})`,
              'data-digest',
              0,
              0,
            );
            return;
          }
          this.finish();
        }
      } else return; // S_DEAD
    }
  }

  /** Validate the 8-byte common header at b[off]; sets `need` to the full header length. */
  private parseCommonHeader(b: Buffer, off: number): boolean {
    const type = b[off]!;
    const flags = b[off + 1]!;
    const hlen = b[off + 2]!;
    const pdo = b[off + 3]!;
    const plen = b.readUInt32LE(off + 4);
    this.type = type;
    this.hlen = hlen;
    const expect = HLEN_BY_TYPE[type]!;
    const chCopy = (): Buffer => Buffer.from(b.subarray(off, off + CH_SIZE));
    if (expect === 0) return this.failWith(`unknown PDU type 0x${type.toString(16)}`, 'format', TermFes.InvalidHeaderField, FieldOff.type, chCopy());
    if (hlen !== expect) return this.failWith(`PDU type 0x${type.toString(16)}: HLEN ${hlen}, expected ${expect}`, 'format', TermFes.InvalidHeaderField, FieldOff.hlen, chCopy());
    // ICReq/ICResp/TermReq never carry digests.
    const noDigest = type === PduType.ICReq || type === PduType.ICResp || type === PduType.H2CTermReq || type === PduType.C2HTermReq;
    this.hd = !noDigest && flags & PduFlag.HDGSTF ? DIGEST_SIZE : 0;
    this.dd = !noDigest && flags & PduFlag.DDGSTF ? DIGEST_SIZE : 0;
    const hdrLen = hlen + this.hd;
    if (plen < hdrLen) return this.failWith(`PDU type 0x${type.toString(16)}: PLEN ${plen} shorter than header ${hdrLen}`, 'format', TermFes.InvalidHeaderField, FieldOff.plen, chCopy());
    if (pdo !== 0 && (pdo < hdrLen || pdo > plen)) return this.failWith(`PDU type 0x${type.toString(16)}: PDO ${pdo} out of range`, 'format', TermFes.InvalidHeaderField, FieldOff.pdo, chCopy());
    const dataStart = pdo !== 0 ? pdo : hdrLen;
    const dataLen = plen - dataStart - this.dd;
    if (dataLen < 0 || (this.dd && dataLen === 0)) return this.failWith(`PDU type 0x${type.toString(16)}: PLEN ${plen} inconsistent with PDO/digest flags`, 'format', TermFes.InvalidHeaderField, FieldOff.plen, chCopy());
    this.streamed = isStreamed(type);
    if (!this.streamed && dataLen > this.maxBuffered) return this.failWith(`PDU type 0x${type.toString(16)}: ${dataLen} data bytes exceed ${this.maxBuffered}`, 'format', TermFes.DataTransferLimitExceeded, FieldOff.plen, chCopy());
    this.padLeft = dataStart - hdrLen;
    this.dataLen = dataLen;
    this.need = hdrLen;
    return true;
  }

  private headerComplete(): boolean {
    const h = this.hdr;
    if (this.hd) {
      const got = h.readUInt32LE(this.hlen);
      const want = crc32c(h.subarray(0, this.hlen));
      if (got !== want) {
        return this.failWith(
          `header digest mismatch (type 0x${this.type.toString(16)}: received 0x${got.toString(16)}, computed 0x${want.toString(16)})`,
          'header-digest',
          TermFes.HeaderDigestError,
          0,
          Buffer.from(h),
        );
      }
    }
    this.dataDone = 0;
    this.dataBuf = null;
    this.crc = 0;
    if (this.padLeft > 0) {
      this.st = S_PAD;
      return true;
    }
    this.afterPad();
    return this.st !== S_DEAD;
  }

  private afterPad(): void {
    if (this.streamed) {
      this.handler.onDataStart(this.hdr, this.dataLen);
      if (this.st === S_DEAD) return;
    }
    if (this.dataLen > 0) this.st = S_DATA;
    else this.finish();
  }

  private finish(): void {
    const hdr = this.hdr;
    const data = this.streamed ? null : this.dataBuf;
    // Reset before the callback so the handler may stop() us.
    this.st = S_HDR;
    this.have = 0;
    this.need = CH_SIZE;
    this.dataBuf = null;
    this.handler.onPdu(hdr, data);
  }

  private failWith(msg: string, kind: PduErrorKind, fes: number, fei: number, header: Buffer): false {
    this.st = S_DEAD;
    this.handler.onError(new PduStreamError(msg, kind, fes, fei, header));
    return false;
  }

  private fail(msg: string, kind: PduErrorKind, fes: number, fei: number): void {
    this.failWith(msg, kind, fes, fei, Buffer.from(this.hdr));
  }
}
