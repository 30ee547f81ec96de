// One NVMe command on a TCP queue. Pooled per queue and reused; its index is the transfer tag.
import type { NamespaceStats } from '../controller/namespace.js';
import type { NvmeRequest } from '../controller/request.js';
import { SQE_SIZE } from '../protocol/sqe.js';
import type { TcpQueue } from './tcp-queue.js';

export const ReqState = {
  Free: 0,
  /** In-capsule data still arriving. */
  ReceivingCapsuleData: 1,
  /** R2T sent, H2CData arriving. */
  ReceivingH2C: 2,
  Executing: 3,
} as const;

export class TcpRequest implements NvmeRequest {
  readonly sqe = Buffer.alloc(SQE_SIZE);
  /** The same bytes as 32-bit words: the capsule's SQE is copied in as 16 of them. */
  readonly sqe32 = new Int32Array(this.sqe.buffer, this.sqe.byteOffset, SQE_SIZE / 4);
  qid = 0;
  cid = 0;
  opcode = 0;
  nsid = 0;
  dataLength = 0;
  data: Buffer | null = null;
  result0 = 0;
  result1 = 0;
  readonly c2h: Buffer[] = [];
  c2hLength = 0;
  c2hDigests: Float64Array | null = null;
  c2hBlock = 0;
  state: number = ReqState.Free;
  /** Bytes of H2C data received so far. */
  received = 0;
  /** A data digest failed for this command: it completes with Transient Transport Error. */
  digestError = false;
  /** Pooled backing of `data` when the transport allocated it (R2T), returned at completion. */
  pooled: Buffer | null = null;
  /** Status decided before execution (bad SGL, wrong in-capsule length...), applied once data is in. */
  earlyStatus = 0;
  errorLba = 0;
  /** When the capsule arrived (performance.now(), ms) and whose I/O it is: latency metrics. */
  t0 = 0;
  nsStats: NamespaceStats | null = null;

  constructor(
    readonly queue: TcpQueue,
    readonly ttag: number,
  ) {}

  complete(status: number): void {
    this.queue.completeRequest(this, status);
  }

  reset(): void {
    this.data = null;
    this.pooled = null;
    this.result0 = 0;
    this.result1 = 0;
    this.c2h.length = 0;
    this.c2hLength = 0;
    this.c2hDigests = null;
    this.received = 0;
    this.digestError = false;
    this.earlyStatus = 0;
    this.errorLba = 0;
    this.nsStats = null;
    this.state = ReqState.Free;
  }
}
