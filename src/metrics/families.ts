// Every Prometheus metric the daemon exports, read at scrape time from counters the data path
// keeps anyway (plain fields and typed arrays): collecting never touches the hot path, and the
// hot path never calls into prom-client. Names follow Prometheus practice (one prefix, base
// units, _total on counters, read and write as separate metrics) and node_exporter's disk names
// where one exists; labels are bounded by configuration (nqn, nsid), never by data.
import { Registry } from 'prom-client';
import type { Namespace } from '../controller/namespace.js';
import type { Target } from '../controller/target.js';
import type { DeviceEngine } from '../devices/engine/engine.js';
import type { KvStats } from '../devices/kv/kv-store.js';
import { ZONE_STATE_NAMES, type ZoneStats } from '../devices/zns/zones.js';
import { PduType } from '../protocol/constants.js';
import { VERSION } from '../version.js';
import { LATENCY_BUCKETS_S, type LatencyHistogram } from './latency-histogram.js';

export const METRIC_PREFIX = 'nvmf_emu_';

type Labels = Record<string, string | number>;
interface Sample {
  value: number;
  labels?: Labels;
  metricName?: string;
}
type MetricType = 'counter' | 'gauge' | 'histogram';

/**
 * One metric family computed on demand. prom-client's Registry accepts any object with this
 * shape (name, help, type, get, reset); its own Counter/Gauge would make us copy every value into
 * label maps on each scrape for nothing.
 */
class Family {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly read: () => Sample[],
  ) {}
  get(): Promise<{ name: string; help: string; type: MetricType; values: Sample[]; aggregator: string }> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values: this.read(), aggregator: this.aggregator });
  }
  reset(): void {}
}

/** What the families read: the target (subsystems, namespaces, transport counters) and the engine. */
export interface MetricsSources {
  target: Target;
  engine: DeviceEngine;
  /** Live connections' byte counts (closed ones are in target.counters). */
  connections: () => Iterable<{ bytesIn: number; bytesOut: number }>;
  listeners: () => Iterable<{ portid: number; traddr: string; trsvcid: number }>;
}

/** PDU types a target receives and sends, with their label values. */
const RX_PDUS: readonly [number, string][] = [
  [PduType.ICReq, 'icreq'],
  [PduType.CapsuleCmd, 'capsule_cmd'],
  [PduType.H2CData, 'h2c_data'],
  [PduType.H2CTermReq, 'h2c_term_req'],
];
const TX_PDUS: readonly [number, string][] = [
  [PduType.ICResp, 'icresp'],
  [PduType.CapsuleResp, 'capsule_resp'],
  [PduType.C2HData, 'c2h_data'],
  [PduType.R2T, 'r2t'],
  [PduType.C2HTermReq, 'c2h_term_req'],
];

/** Kinds whose model has a flash translation layer (blocks, GC, erases). */
const FTL_KINDS = new Set(['conv', 'zns']);

/** A fresh registry holding every family (one per daemon, so several daemons can share a process). */
export function createMetricsRegistry(src: MetricsSources): Registry {
  const reg = new Registry();
  const add = (name: string, type: MetricType, help: string, read: () => Sample[]): void => {
    reg.registerMetric(new Family(METRIC_PREFIX + name, help, type, read) as never);
  };
  const t = src.target;

  function* namespaces(): Generator<[Labels, Namespace]> {
    for (const s of t.subsystems.values()) for (const ns of s.namespaces.values()) yield [{ nqn: s.nqn, nsid: ns.nsid }, ns];
  }
  const perNs = (name: string, type: 'counter' | 'gauge', help: string, value: (ns: Namespace) => number | undefined): void =>
    add(name, type, help, () => {
      const out: Sample[] = [];
      for (const [labels, ns] of namespaces()) {
        const v = value(ns);
        if (v !== undefined) out.push({ labels, value: v });
      }
      return out;
    });
  const histogram = (name: string, help: string, pick: (ns: Namespace) => LatencyHistogram): void =>
    add(name, 'histogram', help, () => {
      const out: Sample[] = [];
      const full = METRIC_PREFIX + name;
      for (const [labels, ns] of namespaces()) {
        const h = pick(ns);
        const cum = h.cumulative();
        for (let i = 0; i < cum.length; i++) {
          const le = i < LATENCY_BUCKETS_S.length ? String(LATENCY_BUCKETS_S[i]) : '+Inf';
          out.push({ metricName: `${full}_bucket`, labels: { ...labels, le }, value: cum[i]! });
        }
        out.push({ metricName: `${full}_sum`, labels, value: h.sum });
        out.push({ metricName: `${full}_count`, labels, value: h.count });
      }
      return out;
    });
  const ftl = (ns: Namespace): boolean => ns.model !== null && FTL_KINDS.has(ns.model.kind);

  // ---- namespaces: what the host did (node_exporter disk names)
  perNs('namespace_reads_completed_total', 'counter', 'Read and Compare commands completed.', (ns) => ns.stats.readCommands);
  perNs('namespace_writes_completed_total', 'counter', 'Write and Write Zeroes commands completed.', (ns) => ns.stats.writeCommands);
  perNs('namespace_discards_completed_total', 'counter', 'Dataset Management deallocate commands completed.', (ns) => ns.stats.discards);
  perNs('namespace_flush_requests_total', 'counter', 'Flush commands completed.', (ns) => ns.stats.flushes);
  perNs('namespace_read_bytes_total', 'counter', 'Bytes read by hosts.', (ns) => ns.stats.bytesRead);
  perNs('namespace_written_bytes_total', 'counter', 'Bytes written by hosts.', (ns) => ns.stats.bytesWritten);
  perNs('namespace_discarded_bytes_total', 'counter', 'Bytes deallocated by hosts.', (ns) => ns.stats.bytesDiscarded);
  perNs('namespace_errors_total', 'counter', 'I/O commands completed with an error status.', (ns) => ns.stats.errors);
  perNs('namespace_io_now', 'gauge', 'I/O commands received and not yet completed.', (ns) => ns.stats.ioNow);
  perNs('namespace_io_time_seconds_total', 'counter', 'Modelled device busy time (sum of command service times).', (ns) => ns.stats.busyMs / 1000);
  perNs('namespace_size_bytes', 'gauge', 'Capacity the host sees.', (ns) => ns.nlb * ns.lbaSize);
  perNs('namespace_allocated_bytes', 'gauge', 'Backing memory in use (sparse storage).', (ns) => ns.device.allocatedBytes);
  histogram('namespace_read_latency_seconds', 'Read latency end to end: command capsule received to response sent.', (ns) => ns.stats.readLatency);
  histogram('namespace_write_latency_seconds', 'Write latency end to end: command capsule received to response sent.', (ns) => ns.stats.writeLatency);
  histogram('namespace_media_read_latency_seconds', 'Modelled device time of reads.', (ns) => ns.stats.mediaReadLatency);
  histogram('namespace_media_write_latency_seconds', 'Modelled device time of writes.', (ns) => ns.stats.mediaWriteLatency);
  // SMART-style gauges (smartctl_exporter names), in percent as the SMART log reports them.
  perNs('namespace_percentage_used', 'gauge', 'SMART percentage used (100 = rated endurance used).', (ns) => (ns.model ? ns.counters().percentageUsed : undefined));
  perNs('namespace_available_spare', 'gauge', 'SMART available spare, percent.', (ns) => (ns.model ? ns.counters().availableSpare : undefined));

  // ---- flash translation layer (conv, zns)
  const perFtl = (name: string, type: 'counter' | 'gauge', help: string, v: (c: ReturnType<Namespace['counters']>) => number | undefined): void =>
    perNs(name, type, help, (ns) => (ftl(ns) ? v(ns.counters()) : undefined));
  perFtl('ftl_host_written_bytes_total', 'counter', 'Bytes the host asked the FTL to write.', (c) => c.hostWrittenBytes);
  add('ftl_media_written_bytes_total', 'counter', 'Bytes programmed to NAND, by source (user = host data, gc = garbage collection).', () => {
    const out: Sample[] = [];
    for (const [labels, ns] of namespaces()) {
      if (!ftl(ns)) continue;
      const c = ns.counters();
      out.push({ labels: { ...labels, source: 'user' }, value: c.mediaWrittenUserBytes }, { labels: { ...labels, source: 'gc' }, value: c.mediaWrittenGcBytes });
    }
    return out;
  });
  perFtl('ftl_media_read_bytes_total', 'counter', 'Bytes read from NAND (host reads and GC).', (c) => c.mediaReadBytes);
  perFtl('ftl_gc_runs_total', 'counter', 'Garbage collection runs (victim blocks reclaimed).', (c) => c.gcRuns);
  perFtl('ftl_gc_pages_moved_total', 'counter', 'Valid pages copied by garbage collection.', (c) => c.gcPagesMoved);
  perFtl('ftl_block_erases_total', 'counter', 'NAND block erases.', (c) => c.erases);
  perFtl('ftl_max_erase_count', 'gauge', 'Highest erase count of any block.', (c) => c.maxEraseCount);
  perFtl('ftl_free_blocks', 'gauge', 'Erased blocks ready to be written.', (c) => c.freeBlocks);
  perFtl('ftl_blocks', 'gauge', 'NAND blocks (superblock lines) in the device.', (c) => c.totalBlocks);
  perFtl('ftl_trimmed_bytes_total', 'counter', 'Bytes deallocated in the FTL.', (c) => c.trimmedBytes);
  perFtl('ftl_write_amplification', 'gauge', 'Media bytes written / host bytes written since start (rate() of the two counters gives it over a window).', (c) =>
    c.hostWrittenBytes > 0 ? (c.mediaWrittenUserBytes + c.mediaWrittenGcBytes) / c.hostWrittenBytes : undefined,
  );

  // ---- zoned namespaces
  const zonesOf = (ns: Namespace): ZoneStats | undefined => ns.zones?.stats();
  add('zns_zones', 'gauge', 'Zones by state.', () => {
    const out: Sample[] = [];
    for (const [labels, ns] of namespaces()) {
      const z = zonesOf(ns);
      if (z) for (const state of ZONE_STATE_NAMES) out.push({ labels: { ...labels, state }, value: z[state] });
    }
    return out;
  });
  perNs('zns_open_zones', 'gauge', 'Zones holding an open resource (implicitly or explicitly open).', (ns) => zonesOf(ns)?.open);
  perNs('zns_active_zones', 'gauge', 'Zones holding an active resource (open or closed).', (ns) => zonesOf(ns)?.active);
  perNs('zns_max_open_zones', 'gauge', 'Max open zones (0 = no limit).', (ns) => zonesOf(ns)?.maxOpen);
  perNs('zns_max_active_zones', 'gauge', 'Max active zones (0 = no limit).', (ns) => zonesOf(ns)?.maxActive);
  perNs('zns_zone_resets_total', 'counter', 'Zones reset (Zone Management Send Reset).', (ns) => zonesOf(ns)?.resets);
  perNs('zns_zone_finishes_total', 'counter', 'Zones finished (Zone Management Send Finish).', (ns) => zonesOf(ns)?.finishes);
  perNs('zns_zone_appends_total', 'counter', 'Zone Append commands that succeeded.', (ns) => zonesOf(ns)?.appends);
  perNs('zns_implicit_closes_total', 'counter', 'Implicitly opened zones the controller closed to make room under the open limit.', (ns) => zonesOf(ns)?.implicitCloses);

  // ---- key-value namespaces
  const kvOf = (ns: Namespace): KvStats | undefined => ns.kv?.stats();
  add('kv_commands_total', 'counter', 'KV commands completed, by operation (both command layouts).', () => {
    const out: Sample[] = [];
    for (const [labels, ns] of namespaces()) {
      const k = kvOf(ns);
      if (!k) continue;
      for (const [op, value] of Object.entries(k.commands)) out.push({ labels: { ...labels, op }, value });
    }
    return out;
  });
  perNs('kv_keys', 'gauge', 'Keys stored.', (ns) => kvOf(ns)?.keys);
  perNs('kv_used_bytes', 'gauge', 'Bytes of keys and values stored (deletes and overwrites give space back).', (ns) => kvOf(ns)?.usedBytes);
  perNs('kv_capacity_bytes', 'gauge', 'Bytes of keys and values the namespace can hold.', (ns) => kvOf(ns)?.capacityBytes);

  // ---- transport
  const cnt = t.counters;
  const scalar = (name: string, type: 'counter' | 'gauge', help: string, v: () => number): void => add(name, type, help, () => [{ value: v() }]);
  scalar('connections', 'gauge', 'Open NVMe/TCP connections (one per queue).', () => cnt.connectionsActive);
  scalar('connections_accepted_total', 'counter', 'NVMe/TCP connections accepted.', () => cnt.connectionsAccepted);
  scalar('connections_refused_total', 'counter', 'NVMe/TCP connections refused at accept (limits.max_connections).', () => cnt.connectionsRefused);
  scalar('memory_used_bytes', 'gauge', 'Namespace data held in memory, all namespaces.', () => t.memory.used);
  scalar('memory_limit_bytes', 'gauge', 'limits.max_memory (0 = unlimited).', () => t.memory.limit);
  add('controllers', 'gauge', 'Live controllers, by subsystem (the discovery subsystem included).', () => {
    const out: Sample[] = [{ labels: { nqn: t.discovery.nqn }, value: t.discovery.controllers.size }];
    for (const s of t.subsystems.values()) out.push({ labels: { nqn: s.nqn }, value: s.controllers.size });
    return out;
  });
  scalar('queue_pairs', 'gauge', 'Connected queue pairs (admin and I/O) of live controllers.', () => {
    let n = 0;
    for (const c of t.allControllers()) n += c.queues.size;
    return n;
  });
  const byPduType = (arr: Float64Array, types: readonly [number, string][]): Sample[] => types.map(([type, name]) => ({ labels: { type: name }, value: arr[type]! }));
  add('pdus_received_total', 'counter', 'PDUs received, by PDU type.', () => byPduType(cnt.pdusReceived, RX_PDUS));
  add('pdus_sent_total', 'counter', 'PDUs sent, by PDU type.', () => byPduType(cnt.pdusSent, TX_PDUS));
  scalar('transport_received_bytes_total', 'counter', 'Bytes received on NVMe/TCP connections.', () => {
    let n = cnt.closedBytesIn;
    for (const c of src.connections()) n += c.bytesIn;
    return n;
  });
  scalar('transport_sent_bytes_total', 'counter', 'Bytes sent on NVMe/TCP connections.', () => {
    let n = cnt.closedBytesOut;
    for (const c of src.connections()) n += c.bytesOut;
    return n;
  });
  scalar('header_digest_errors_total', 'counter', 'PDUs whose header digest did not match (connection terminated).', () => cnt.headerDigestErrors);
  scalar('data_digest_errors_total', 'counter', 'PDUs whose data digest did not match (command failed, transient).', () => cnt.dataDigestErrors);
  add('connect_rejects_total', 'counter', 'Fabrics Connect commands refused, by reason.', () => [...cnt.connectRejects].map(([reason, value]) => ({ labels: { reason }, value })));
  add('auth_total', 'counter', 'DH-HMAC-CHAP transactions, by result (a failure tears the controller down).', () => [
    { labels: { result: 'success' }, value: cnt.authSuccesses },
    { labels: { result: 'failure' }, value: cnt.authFailures },
  ]);
  scalar('keep_alive_timeouts_total', 'counter', 'Controllers torn down because the host stopped sending Keep Alive.', () => cnt.keepAliveTimeouts);
  scalar('term_reqs_sent_total', 'counter', 'C2HTermReq PDUs sent (fatal transport errors).', () => cnt.termReqsSent);

  // ---- device engine
  const ec = src.engine.counters;
  scalar('engine_worker_failures_total', 'counter', 'Device worker threads that threw or exited.', () => ec.workerFailures);
  scalar('engine_worker_restarts_total', 'counter', 'Device worker threads restarted after a failure.', () => ec.workerRestarts);
  scalar('engine_workers_stuck_total', 'counter', 'Device worker threads the watchdog found stuck and terminated.', () => ec.workersStuck);
  scalar('engine_commands_failed_total', 'counter', 'Commands failed with Internal Error because their worker failed or was down.', () => ec.commandsFailed);

  // ---- info (value 1; dashboards join on them)
  add('build_info', 'gauge', 'Build information.', () => [{ labels: { version: VERSION, node_version: process.version }, value: 1 }]);
  add('subsystem_info', 'gauge', 'Configured NVM subsystems.', () => [...t.subsystems.values()].map((s) => ({ labels: { nqn: s.nqn, serial: s.serial, model: s.model }, value: 1 })));
  add('namespace_info', 'gauge', 'Configured namespaces, with their emulated device kind and preset.', () =>
    [...namespaces()].map(([labels, ns]) => ({ labels: { ...labels, kind: KIND_NAMES[ns.device.kind] ?? ns.device.kind, preset: ns.model?.spec.emulation.preset ?? '' }, value: 1 })),
  );
  add('listener_info', 'gauge', 'NVMe/TCP listeners.', () => [...src.listeners()].map((l) => ({ labels: { portid: l.portid, traddr: l.traddr, trsvcid: l.trsvcid }, value: 1 })));
  return reg;
}

const KIND_NAMES: Record<string, string> = { conv: 'conventional', nvm: 'nvm', zns: 'zns', kv: 'kv' };
