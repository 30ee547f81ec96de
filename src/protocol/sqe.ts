// Submission queue entry (64 bytes) and completion queue entry (16 bytes) layouts.
// Accessors read straight from the buffer so the hot path allocates no decoded objects.
import { putU16, putU32 } from './bytes.js';

export const SQE_SIZE = 64;
export const CQE_SIZE = 16;

export const SqeOff = {
  opcode: 0,
  flags: 1,
  cid: 2,
  nsid: 4,
  cdw2: 8,
  cdw3: 12,
  mptr: 16,
  sglAddress: 24,
  sglLength: 32,
  sglType: 39,
  cdw10: 40,
  cdw11: 44,
  cdw12: 48,
  cdw13: 52,
  cdw14: 56,
  cdw15: 60,
  /** Fabrics commands: command type in byte 4. */
  fctype: 4,
} as const;

/** Fused operation bits (flags 1:0) and PSDT (flags 7:6). */
export const SqeFlags = { FuseMask: 0x03, PsdtMask: 0xc0 } as const;

export const cdw = (sqe: Buffer, n: number): number => sqe.readUInt32LE(SqeOff.cdw10 + (n - 10) * 4);

export interface SqeFields {
  opcode: number;
  flags?: number;
  cid: number;
  nsid?: number;
  cdw2?: number;
  cdw3?: number;
  sgl?: { address?: bigint; length: number; type: number };
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
  cdw13?: number;
  cdw14?: number;
  cdw15?: number;
}

/** Encode an SQE (used by the initiator and tests; the target only reads them). */
export function encodeSqe(f: SqeFields, out: Buffer = Buffer.alloc(SQE_SIZE), off = 0): Buffer {
  out.fill(0, off, off + SQE_SIZE);
  out[off + SqeOff.opcode] = f.opcode;
  out[off + SqeOff.flags] = f.flags ?? 0x40; // PSDT=01b: SGL for data, as NVMe-oF requires
  out.writeUInt16LE(f.cid, off + SqeOff.cid);
  out.writeUInt32LE((f.nsid ?? 0) >>> 0, off + SqeOff.nsid);
  out.writeUInt32LE((f.cdw2 ?? 0) >>> 0, off + SqeOff.cdw2);
  out.writeUInt32LE((f.cdw3 ?? 0) >>> 0, off + SqeOff.cdw3);
  if (f.sgl) {
    out.writeBigUInt64LE(f.sgl.address ?? 0n, off + SqeOff.sglAddress);
    out.writeUInt32LE(f.sgl.length >>> 0, off + SqeOff.sglLength);
    out[off + SqeOff.sglType] = f.sgl.type;
  }
  const dws = [f.cdw10, f.cdw11, f.cdw12, f.cdw13, f.cdw14, f.cdw15];
  for (let i = 0; i < 6; i++) out.writeUInt32LE((dws[i] ?? 0) >>> 0, off + SqeOff.cdw10 + i * 4);
  return out;
}

export const CqeOff = { dw0: 0, dw1: 4, sqhd: 8, sqid: 10, cid: 12, status: 14 } as const;

/** Write a CQE; `status` is the 15-bit value of status.ts (phase bit is always 0 on fabrics). */
export function writeCqe(
  out: Buffer,
  off: number,
  dw0: number,
  dw1: number,
  sqhd: number,
  sqid: number,
  cid: number,
  status: number,
): void {
  putU32(out, off, dw0);
  putU32(out, off + 4, dw1);
  putU16(out, off + 8, sqhd);
  putU16(out, off + 10, sqid);
  putU16(out, off + 12, cid);
  putU16(out, off + 14, status << 1);
}

export interface Cqe {
  dw0: number;
  dw1: number;
  sqhd: number;
  sqid: number;
  cid: number;
  /** 15-bit status (status.ts form). */
  status: number;
}

export function decodeCqe(buf: Buffer, off = 0): Cqe {
  return {
    dw0: buf.readUInt32LE(off),
    dw1: buf.readUInt32LE(off + 4),
    sqhd: buf.readUInt16LE(off + 8),
    sqid: buf.readUInt16LE(off + 10),
    cid: buf.readUInt16LE(off + 12),
    status: buf.readUInt16LE(off + 14) >> 1,
  };
}
