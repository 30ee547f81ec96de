// GET /api/v1/status: one snapshot of everything the live status page shows (subsystems,
// namespaces with their cumulative counters, latency histograms and FTL counters, connected hosts,
// transport counters). Everything in it is cumulative or instantaneous: the page polls it and
// computes rates (and windowed latency quantiles, from the bucket counts) between two snapshots.
// Reading it costs what a /metrics scrape costs: plain fields, no round trip to the engine.
import type { FastifyInstance } from 'fastify';
import type { Controller } from '../controller/controller.js';
import type { Namespace } from '../controller/namespace.js';
import type { Target } from '../controller/target.js';
import type { ModelCounters } from '../devices/model.js';
import { LATENCY_BUCKETS_S, type LatencyHistogram } from '../metrics/latency-histogram.js';
import { PduType } from '../protocol/constants.js';
import { VERSION } from '../version.js';
import { API_PREFIX } from './namespace-api.js';

export const STATUS_PATH = `${API_PREFIX}/status`;

/** Kinds whose model has a flash translation layer (GC, erases, WAF), as in the metrics. */
const FTL_KINDS = new Set(['conv', 'zns']);

export interface LatencySnapshot {
  count: number;
  sum_seconds: number;
  /** Since start (or the last stats reset), estimated from the buckets; null before any command. */
  p50_seconds: number | null;
  p99_seconds: number | null;
  /** Per-bucket counts (not cumulative) for the bounds in `latency_bucket_bounds_seconds`, +Inf last. */
  buckets: number[];
}

export interface NamespaceSnapshot {
  nsid: number;
  enabled: boolean;
  kind: string;
  preset: string | null;
  capacity_bytes: number;
  lba_size: number;
  io: {
    reads: number;
    writes: number;
    read_bytes: number;
    written_bytes: number;
    flushes: number;
    discards: number;
    discarded_bytes: number;
    errors: number;
    /** Commands received and not completed yet (queue depth now). */
    in_flight: number;
    busy_seconds: number;
  };
  latency: { read: LatencySnapshot; write: LatencySnapshot; media_read: LatencySnapshot; media_write: LatencySnapshot };
  /** Device model counters of FTL kinds (conv, zns); null for the others. */
  ftl: ModelCounters | null;
  /** Media bytes written (user + GC) / host bytes written since start; null without FTL or writes. */
  waf: number | null;
  percentage_used: number | null;
  available_spare: number | null;
}

export interface HostSnapshot {
  cntlid: number;
  hostnqn: string;
  /** Connected queues, the admin queue included. */
  queues: number;
  io_queues: number;
  /** The host's address (of its admin queue connection), "" if unknown. */
  remote_address: string;
  portid: number;
  kato_ms: number;
  connected_at: string;
}

export interface StatusSnapshot {
  /** Server time of the snapshot, ms since the epoch (rates are computed against it). */
  time_ms: number;
  uptime_seconds: number;
  version: string;
  latency_bucket_bounds_seconds: readonly number[];
  ports: { portid: number; traddr: string; trsvcid: number }[];
  transport: {
    connections_active: number;
    connections_accepted: number;
    received_bytes: number;
    sent_bytes: number;
    capsules_received: number;
    pdus_received: number;
    pdus_sent: number;
    header_digest_errors: number;
    data_digest_errors: number;
    keep_alive_timeouts: number;
    term_reqs_sent: number;
    connect_rejects: Record<string, number>;
  };
  subsystems: {
    nqn: string;
    serial: string;
    model: string;
    allow_any_host: boolean;
    ports: number[];
    namespaces: NamespaceSnapshot[];
    hosts: HostSnapshot[];
  }[];
}

const orNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

function latency(h: LatencyHistogram): LatencySnapshot {
  return { count: h.count, sum_seconds: h.sum, p50_seconds: orNull(h.quantile(0.5)), p99_seconds: orNull(h.quantile(0.99)), buckets: Array.from(h.counts) };
}

function namespaceSnapshot(ns: Namespace): NamespaceSnapshot {
  const s = ns.stats;
  const kind = ns.model?.kind ?? ns.device.kind;
  const c = ns.model ? ns.counters() : null;
  const ftl = c && FTL_KINDS.has(kind) ? c : null;
  return {
    nsid: ns.nsid,
    enabled: ns.enabled,
    kind,
    preset: ns.model?.spec.emulation.preset ?? null,
    capacity_bytes: ns.nlb * ns.lbaSize,
    lba_size: ns.lbaSize,
    io: {
      reads: s.readCommands,
      writes: s.writeCommands,
      read_bytes: s.bytesRead,
      written_bytes: s.bytesWritten,
      flushes: s.flushes,
      discards: s.discards,
      discarded_bytes: s.bytesDiscarded,
      errors: s.errors,
      in_flight: s.ioNow,
      busy_seconds: s.busyMs / 1000,
    },
    latency: { read: latency(s.readLatency), write: latency(s.writeLatency), media_read: latency(s.mediaReadLatency), media_write: latency(s.mediaWriteLatency) },
    ftl: ftl ? { ...ftl } : null,
    waf: ftl && ftl.hostWrittenBytes > 0 ? (ftl.mediaWrittenUserBytes + ftl.mediaWrittenGcBytes) / ftl.hostWrittenBytes : null,
    percentage_used: c ? c.percentageUsed : null,
    available_spare: c ? c.availableSpare : null,
  };
}

/** Live connection byte counts, where the queue is a TCP queue that keeps them (TcpQueue does). */
function liveBytes(q: unknown): { in: number; out: number } {
  const b = q as { bytesIn?: unknown; bytesOut?: unknown };
  return { in: typeof b.bytesIn === 'number' ? b.bytesIn : 0, out: typeof b.bytesOut === 'number' ? b.bytesOut : 0 };
}

function hostSnapshot(c: Controller): HostSnapshot {
  const admin = c.queues.get(0);
  return {
    cntlid: c.cntlid,
    hostnqn: c.hostnqn,
    queues: c.queues.size,
    io_queues: [...c.queues.keys()].filter((q) => q !== 0).length,
    remote_address: admin?.remoteAddress ?? '',
    portid: c.portid,
    kato_ms: c.kato,
    connected_at: new Date(c.createdAt).toISOString(),
  };
}

const sum = (a: Float64Array): number => a.reduce((x, y) => x + y, 0);

/** The snapshot itself (exported for tests and for anything else that wants one without HTTP). */
export function statusSnapshot(target: Target): StatusSnapshot {
  const cnt = target.counters;
  // Bytes: closed connections' plus those of live queues that belong to a controller (a connection
  // still in ICReq/Connect has moved a few hundred bytes at most).
  let rx = cnt.closedBytesIn;
  let tx = cnt.closedBytesOut;
  for (const c of target.allControllers()) {
    for (const q of c.queues.values()) {
      const b = liveBytes(q);
      rx += b.in;
      tx += b.out;
    }
  }
  const now = Date.now();
  return {
    time_ms: now,
    uptime_seconds: (now - target.startedAt) / 1000,
    version: VERSION,
    latency_bucket_bounds_seconds: LATENCY_BUCKETS_S,
    ports: [...target.ports.values()].map((p) => ({ portid: p.portid, traddr: p.traddr, trsvcid: p.trsvcid })),
    transport: {
      connections_active: cnt.connectionsActive,
      connections_accepted: cnt.connectionsAccepted,
      received_bytes: rx,
      sent_bytes: tx,
      capsules_received: cnt.pdusReceived[PduType.CapsuleCmd]!,
      pdus_received: sum(cnt.pdusReceived),
      pdus_sent: sum(cnt.pdusSent),
      header_digest_errors: cnt.headerDigestErrors,
      data_digest_errors: cnt.dataDigestErrors,
      keep_alive_timeouts: cnt.keepAliveTimeouts,
      term_reqs_sent: cnt.termReqsSent,
      connect_rejects: Object.fromEntries(cnt.connectRejects),
    },
    subsystems: [...target.subsystems.values()].map((s) => ({
      nqn: s.nqn,
      serial: s.serial,
      model: s.model,
      allow_any_host: s.allowAnyHost,
      ports: [...s.ports].sort((a, b) => a - b),
      namespaces: [...s.namespaces.values()].sort((a, b) => a.nsid - b.nsid).map(namespaceSnapshot),
      hosts: [...s.controllers.values()].sort((a, b) => a.cntlid - b.cntlid).map(hostSnapshot),
    })),
  };
}

export function registerStatusApi(app: FastifyInstance, target: Target): void {
  app.get(STATUS_PATH, async (_req, reply) => {
    void reply.header('cache-control', 'no-store');
    return statusSnapshot(target);
  });
}
