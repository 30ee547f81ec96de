// Prometheus metrics over the admin HTTP port, driven by real I/O from our initiator: counters
// move by exactly what the host did, latency histograms count every command (the modelled media
// time lands in its bucket deterministically), transport counters see PDUs, bytes, connections
// and rejects, and the exposition is valid text format. With metrics off there is no /metrics and
// no latency accounting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateTopology, type TopologyInput } from '../../src/config/topology.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost, NvmeStatusError } from '../../src/initiator/index.js';
import { AdminOpcode, NvmOpcode, SglId } from '../../src/protocol/constants.js';
import { encodeSqe } from '../../src/protocol/sqe.js';
import { Status } from '../../src/protocol/status.js';
import { ZoneSendAction } from '../../src/protocol/zns.js';
import { RawClient } from './helpers/raw-client.js';
import { openController } from './helpers/target.js';
import { parsePrometheusText, type Scrape } from '../helpers/prom-text.js';
import { pattern } from '../helpers/pattern.js';

const NQN = 'nqn.2024-01.io.nvmf-emu:metrics';
const LAT_NS = 200_000;
const N = 40;
const ZONE = 256; // blocks per zone of namespace 3
const GC_OVERWRITES = 4096;
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:0000aaaa-0000-0000-0000-000000000001';

function topology(): TopologyInput {
  return {
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [NQN] }],
    subsystems: [
      {
        nqn: NQN,
        attr: { allow_any_host: 1, serial: 'METRICS0001', model: 'metrics test' },
        namespaces: [
          { nsid: 1, emulation: { type: 'nvm', capacity: '64MiB', lba_size: 4096, read_latency_ns: LAT_NS, write_latency_ns: LAT_NS } },
          { nsid: 2, emulation: { type: 'conv', preset: 'samsung-970pro', capacity: '32MiB', pages_per_block: 4 } },
          // 8 zones of 1 MiB (256 blocks), at most 2 open.
          { nsid: 3, emulation: { type: 'zns', preset: 'zns-prototype', capacity: '8MiB', lba_size: 4096, zone_size: '1MiB', max_open_zones: 2, max_active_zones: 3 } },
          { nsid: 4, emulation: { type: 'kv', preset: 'kv-prototype', capacity: '1MiB' } },
        ],
      },
    ],
  };
}

async function start(metrics: boolean): Promise<Daemon> {
  const t = validateTopology(topology());
  t.ports[0]!.addr.trsvcid = 0;
  return startDaemon({ topology: t, http: { address: '127.0.0.1', port: 0, enabled: true }, metrics: { enabled: metrics }, engine: { workers: 1 } });
}

async function scrape(d: Daemon): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${d.httpPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parsePrometheusText(await res.text());
}

let daemon: Daemon;
let host: NvmeHost;
let before: Scrape;
let after: Scrape;

beforeAll(async () => {
  daemon = await start(true);
  before = await scrape(daemon);
  host = await NvmeHost.connect({ host: '127.0.0.1', port: daemon.listeners[0]!.port, subnqn: NQN, ioQueues: 2 });
  const data = pattern(4096, 7);
  for (let i = 0; i < N; i++) await host.write(1, i, data);
  for (let i = 0; i < N; i++) await host.read(1, i, 1);
  await host.deallocate(1, [{ slba: 0, nlb: 4 }]);
  await host.flush(1);
  // Enough on the small conv namespace to program NAND (user writes) through its write buffer.
  const big = pattern(128 * 1024, 3);
  for (let i = 0; i < 64; i++) await host.write(2, i * 32, big, { fua: true });
  // Then the whole conv namespace (65536 blocks of 512 B), and scattered 8 KiB overwrites, so
  // garbage collection must run and move valid pages.
  for (let b = 0; b < 256; b += 8) await Promise.all(Array.from({ length: 8 }, (_, k) => host.write(2, (b + k) * 256, big)));
  const eight = pattern(8192, 4);
  for (let i = 0; i < GC_OVERWRITES; i += 16) {
    await Promise.all(Array.from({ length: 16 }, (_, k) => host.write(2, (((i + k) * 7919) % 4095) * 16, eight)));
  }
  // Transport errors: a bad header digest (fatal: TermReq), a bad data digest (the command fails),
  // a controller whose host goes silent for its 1 s keep-alive timeout.
  const port = daemon.listeners[0]!.port;
  const raw = await RawClient.connect(port, { hdgst: true, ddgst: true });
  raw.send(raw.buildCapsule(encodeSqe({ opcode: AdminOpcode.Identify, cid: 3, cdw10: 1, sgl: { length: 4096, type: SglId.TransportDataBlock } }), null, { corruptHeaderDigest: true }));
  await raw.expectTermReq();
  const dctl = await openController(port, { subnqn: NQN, hostnqn: HOSTNQN, ioQueues: 1, hdgst: true, ddgst: true });
  const bad = await dctl.io[0]!.exec({ opcode: NvmOpcode.Write, cid: 0, nsid: 1, cdw10: 500, cdw12: 0 }, { data: pattern(4096, 9), inCapsule: true, corruptDataDigest: true });
  expect(bad.cqe.status).toBe(Status.TransientTransportError);
  await dctl.close();
  const silent = await openController(port, { subnqn: NQN, hostnqn: HOSTNQN, kato: 1000 });
  await silent.admin.closed;
  // Zoned: zone 0 written full (256 blocks), zone 1 written then finished, zone 2 reset after a
  // write, zone 3 appended twice (stays implicitly open), zone 4 explicitly opened.
  for (let i = 0; i < 4; i++) await host.write(3, i * 64, pattern(64 * 4096, i));
  await host.write(3, ZONE, data);
  await host.zoneManagementSend(3, ZONE, ZoneSendAction.Finish);
  await host.write(3, 2 * ZONE, data);
  await host.zoneManagementSend(3, 2 * ZONE, ZoneSendAction.Reset);
  await host.zoneAppend(3, 3 * ZONE, data);
  await host.zoneAppend(3, 3 * ZONE, data);
  await host.zoneManagementSend(3, 4 * ZONE, ZoneSendAction.Open);
  // KV: three keys stored, one overwritten, one deleted, one retrieved, one looked for.
  for (const k of ['a', 'b', 'c']) await host.kvStore(4, Buffer.from(k), Buffer.alloc(1000, k));
  await host.kvStore(4, Buffer.from('a'), Buffer.alloc(10, 'a'));
  await host.kvDelete(4, Buffer.from('b'));
  await host.kvRetrieve(4, Buffer.from('c'));
  await host.kvExists(4, Buffer.from('b'));
  await expect(NvmeHost.connect({ host: '127.0.0.1', port: daemon.listeners[0]!.port, subnqn: 'nqn.2024-01.io.nvmf-emu:nope' })).rejects.toBeInstanceOf(NvmeStatusError);
  after = await scrape(daemon);
});

afterAll(async () => {
  await host?.disconnect().catch(() => {});
  await daemon?.stop();
});

const ns1 = { nqn: NQN, nsid: 1 };
const ns2 = { nqn: NQN, nsid: 2 };
const ns3 = { nqn: NQN, nsid: 3 };
const ns4 = { nqn: NQN, nsid: 4 };
const P = 'nvmf_emu_';

describe('/metrics', () => {
  it('announces every family with HELP and TYPE, counters ending in _total', () => {
    for (const [name, type] of after.types) {
      if (!name.startsWith(P)) continue;
      if (type === 'counter') expect(name, name).toMatch(/_total$/);
      else expect(name, name).not.toMatch(/_total$/);
    }
    expect(after.types.get(`${P}namespace_read_latency_seconds`)).toBe('histogram');
    // prom-client's process metrics come through the same registry.
    expect(after.types.has('process_cpu_seconds_total')).toBe(true);
  });

  it('counts what the host did, per namespace', () => {
    expect(before.sum(`${P}namespace_writes_completed_total`, ns1)).toBe(0);
    expect(after.sum(`${P}namespace_writes_completed_total`, ns1)).toBe(N);
    expect(after.sum(`${P}namespace_reads_completed_total`, ns1)).toBe(N);
    expect(after.sum(`${P}namespace_written_bytes_total`, ns1)).toBe(N * 4096);
    expect(after.sum(`${P}namespace_read_bytes_total`, ns1)).toBe(N * 4096);
    expect(after.sum(`${P}namespace_discards_completed_total`, ns1)).toBe(1);
    expect(after.sum(`${P}namespace_discarded_bytes_total`, ns1)).toBe(4 * 4096);
    expect(after.sum(`${P}namespace_flush_requests_total`, ns1)).toBe(1);
    expect(after.sum(`${P}namespace_io_now`, ns1)).toBe(0);
    expect(after.sum(`${P}namespace_writes_completed_total`, ns2)).toBe(64 + 256 + GC_OVERWRITES);
  });

  it('histograms count every read and write end to end, and the modelled media time in its bucket', () => {
    expect(after.sum(`${P}namespace_read_latency_seconds_count`, ns1)).toBe(N);
    expect(after.sum(`${P}namespace_write_latency_seconds_count`, ns1)).toBe(N);
    expect(after.sum(`${P}namespace_read_latency_seconds_bucket`, { ...ns1, le: '+Inf' })).toBe(N);
    // End to end includes the 200 µs device time: nothing can land at or below 150 µs.
    expect(after.sum(`${P}namespace_read_latency_seconds_bucket`, { ...ns1, le: '0.00015' })).toBe(0);
    expect(after.sum(`${P}namespace_read_latency_seconds_sum`, ns1)).toBeGreaterThanOrEqual(N * 200e-6);
    // Media time is the model's own: exactly 200 µs each, so all in (150 µs, 250 µs].
    expect(after.sum(`${P}namespace_media_read_latency_seconds_count`, ns1)).toBe(N);
    expect(after.sum(`${P}namespace_media_read_latency_seconds_bucket`, { ...ns1, le: '0.00015' })).toBe(0);
    expect(after.sum(`${P}namespace_media_read_latency_seconds_bucket`, { ...ns1, le: '0.00025' })).toBe(N);
    expect(after.sum(`${P}namespace_media_read_latency_seconds_sum`, ns1)).toBeCloseTo(N * 200e-6, 9);
    // Buckets are cumulative.
    const b = after.series(`${P}namespace_read_latency_seconds_bucket`, ns1).map(([, v]) => v);
    expect(b).toEqual([...b].sort((x, y) => x - y));
  });

  it('histograms count each of many commands that arrive in one segment and complete in one batch', async () => {
    const prev = await scrape(daemon);
    await Promise.all(Array.from({ length: 64 }, (_, i) => host.read(1, i % N, 1)));
    const now = await scrape(daemon);
    const count = (s: Scrape): number => s.sum(`${P}namespace_read_latency_seconds_count`, ns1);
    expect(count(now) - count(prev)).toBe(64);
    expect(now.sum(`${P}namespace_read_latency_seconds_bucket`, { ...ns1, le: '+Inf' }) - count(prev)).toBe(64);
    const sum = (s: Scrape): number => s.sum(`${P}namespace_read_latency_seconds_sum`, ns1);
    expect(sum(now) - sum(prev)).toBeGreaterThanOrEqual(64 * 200e-6);
  });

  it('exports FTL counters for the conv namespace only: host vs media bytes by source, GC, erases, free blocks', () => {
    const host = (64 + 256) * 128 * 1024 + GC_OVERWRITES * 8192;
    expect(after.sum(`${P}ftl_host_written_bytes_total`, ns2)).toBe(host);
    const user = after.sum(`${P}ftl_media_written_bytes_total`, { ...ns2, source: 'user' });
    const gc = after.sum(`${P}ftl_media_written_bytes_total`, { ...ns2, source: 'gc' });
    expect(user).toBeGreaterThan(0);
    expect(gc).toBeGreaterThan(0); // scattered overwrites of a full namespace: GC moved valid pages
    expect(after.sum(`${P}ftl_gc_runs_total`, ns2)).toBeGreaterThan(0);
    expect(after.sum(`${P}ftl_gc_pages_moved_total`, ns2)).toBeGreaterThan(0);
    expect(after.sum(`${P}ftl_block_erases_total`, ns2)).toBeGreaterThan(0);
    expect(after.sum(`${P}ftl_write_amplification`, ns2)).toBeGreaterThan(1);
    expect(after.sum(`${P}ftl_write_amplification`, ns2)).toBeCloseTo((user + gc) / host, 6);
    expect(after.sum(`${P}ftl_blocks`, ns2)).toBeGreaterThan(0);
    expect(after.sum(`${P}ftl_free_blocks`, ns2)).toBeLessThan(after.sum(`${P}ftl_blocks`, ns2));
    expect(after.sum(`${P}ftl_free_blocks`, ns2)).toBeLessThan(before.sum(`${P}ftl_free_blocks`, ns2));
    expect(after.series(`${P}namespace_percentage_used`, ns2)).toHaveLength(1);
    expect(after.series(`${P}ftl_blocks`, ns1)).toHaveLength(0);
    expect(after.sum(`${P}namespace_available_spare`, ns2)).toBe(100);
  });

  it('exports zone states, resources and zone counters for the zoned namespace', () => {
    const zones = (state: string): number => after.sum(`${P}zns_zones`, { ...ns3, state });
    expect(before.sum(`${P}zns_zones`, { ...ns3, state: 'empty' })).toBe(8);
    expect(zones('full')).toBe(2); // written to capacity; finished
    expect(zones('implicit_open')).toBe(1); // appended to
    expect(zones('explicit_open')).toBe(1);
    expect(zones('empty')).toBe(4); // reset, and never touched
    expect(zones('closed') + zones('read_only') + zones('offline')).toBe(0);
    expect(after.sum(`${P}zns_open_zones`, ns3)).toBe(2);
    expect(after.sum(`${P}zns_active_zones`, ns3)).toBe(2);
    expect(after.sum(`${P}zns_max_open_zones`, ns3)).toBe(2);
    expect(after.sum(`${P}zns_max_active_zones`, ns3)).toBe(3);
    expect(after.sum(`${P}zns_zone_resets_total`, ns3)).toBe(1);
    expect(after.sum(`${P}zns_zone_finishes_total`, ns3)).toBe(1);
    expect(after.sum(`${P}zns_zone_appends_total`, ns3)).toBe(2);
    expect(after.series(`${P}zns_zones`, ns1)).toHaveLength(0);
    // Zoned namespaces run on the flash model too.
    expect(after.sum(`${P}ftl_host_written_bytes_total`, ns3)).toBe((256 + 2 + 2) * 4096); // zone 0, the writes to zones 1 and 2, two appends
  });

  it('exports KV commands by op, keys and bytes used (space given back)', () => {
    expect(after.sum(`${P}kv_commands_total`, { ...ns4, op: 'store' })).toBe(4);
    expect(after.sum(`${P}kv_commands_total`, { ...ns4, op: 'delete' })).toBe(1);
    expect(after.sum(`${P}kv_commands_total`, { ...ns4, op: 'retrieve' })).toBe(1);
    expect(after.sum(`${P}kv_commands_total`, { ...ns4, op: 'exist' })).toBe(1);
    expect(after.sum(`${P}kv_keys`, ns4)).toBe(2);
    // 'a' shrank to 10 bytes and 'b' is gone: only 'c' keeps its 1000.
    expect(after.sum(`${P}kv_used_bytes`, ns4)).toBeGreaterThanOrEqual(1010);
    expect(after.sum(`${P}kv_used_bytes`, ns4)).toBeLessThan(2000);
    expect(after.sum(`${P}kv_capacity_bytes`, ns4)).toBe(1024 * 1024);
  });

  it('counts transport PDUs, bytes, connections and rejects', () => {
    // Admin + 2 I/O queues of the live controller.
    expect(after.sum(`${P}connections`)).toBe(3);
    expect(after.sum(`${P}queue_pairs`)).toBe(3);
    expect(after.sum(`${P}controllers`, { nqn: NQN })).toBe(1);
    const cmds = after.sum(`${P}pdus_received_total`, { type: 'capsule_cmd' });
    expect(cmds).toBeGreaterThanOrEqual(2 * N + 64 + 2);
    expect(after.sum(`${P}pdus_sent_total`, { type: 'capsule_resp' })).toBe(cmds - 1); // the one with a bad header digest got a TermReq
    expect(after.sum(`${P}pdus_sent_total`, { type: 'c2h_data' })).toBeGreaterThanOrEqual(N);
    expect(after.sum(`${P}pdus_sent_total`, { type: 'r2t' })).toBeGreaterThanOrEqual(64); // 128 KiB writes exceed in-capsule data
    expect(after.sum(`${P}transport_received_bytes_total`)).toBeGreaterThan(N * 4096 + 64 * 128 * 1024);
    expect(after.sum(`${P}transport_sent_bytes_total`)).toBeGreaterThan(N * 4096);
    expect(after.sum(`${P}connect_rejects_total`, { reason: 'unknown-subsystem' })).toBe(1);
    expect(after.sum(`${P}pdus_received_total`, { type: 'h2c_data' })).toBeGreaterThanOrEqual(64 + 256);
    expect(after.sum(`${P}term_reqs_sent_total`)).toBe(1);
    expect(after.sum(`${P}header_digest_errors_total`)).toBe(1);
    expect(after.sum(`${P}data_digest_errors_total`)).toBe(1);
    expect(after.sum(`${P}keep_alive_timeouts_total`)).toBe(1);
    expect(before.sum(`${P}term_reqs_sent_total`) + before.sum(`${P}keep_alive_timeouts_total`)).toBe(0);
  });

  it('counts I/O in flight while a command is held by the device', async () => {
    const api = `http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems/${encodeURIComponent(NQN)}/namespaces/1/faults`;
    const f = await fetch(api, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'slow_read', slba: 7, count: 1, delay_ms: 1500 }) });
    expect(f.status).toBe(201);
    const read = host.read(1, 7, 1);
    let inFlight = 0;
    for (let i = 0; i < 50 && inFlight === 0; i++) inFlight = (await scrape(daemon)).sum(`${P}namespace_io_now`, ns1);
    expect(inFlight).toBe(1);
    await read;
    expect((await scrape(daemon)).sum(`${P}namespace_io_now`, ns1)).toBe(0);
  });

  it('carries info metrics that dashboards join on', () => {
    expect(after.sum(`${P}namespace_info`, { ...ns1, kind: 'nvm' })).toBe(1);
    expect(after.sum(`${P}namespace_info`, { ...ns2, kind: 'conventional', preset: 'samsung-970pro' })).toBe(1);
    expect(after.sum(`${P}subsystem_info`, { nqn: NQN, serial: 'METRICS0001', model: 'metrics test' })).toBe(1);
    expect(after.series(`${P}listener_info`, { portid: 1, traddr: '127.0.0.1', trsvcid: daemon.listeners[0]!.port })).toHaveLength(1);
    expect(after.series(`${P}build_info`)[0]![0]).toMatchObject({ version: '0.1.0', node_version: process.version });
  });
});

describe('metrics off', () => {
  it('serves no /metrics and takes no latency samples', async () => {
    const d = await start(false);
    try {
      const h = await NvmeHost.connect({ host: '127.0.0.1', port: d.listeners[0]!.port, subnqn: NQN });
      await h.write(1, 0, pattern(4096, 1));
      await h.read(1, 0, 1);
      await h.disconnect();
      expect((await fetch(`http://127.0.0.1:${d.httpPort}/metrics`)).status).toBe(404);
      const st = d.target.subsystems.get(NQN)!.namespaces.get(1)!.stats;
      expect(st.readLatency.count).toBe(0);
      expect(st.readCommands).toBe(1);
    } finally {
      await d.stop();
    }
  });
});
