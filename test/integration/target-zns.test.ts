// Zoned namespaces over real TCP with our initiator: the Zoned Namespace Command Set as a host
// discovers it (CAP.CSS, CSI descriptor, Identify CNS 05h/06h CSI 2, effects log for CSI 2), report
// zones with filters and partial reports, Zone Append returning LBAs, write pointer errors, open
// limits, reset rewinding a zone and paying the modelled erase time, Zone Descriptor Changed
// (AEN + log BFh) after fault injection through the admin HTTP API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateTopology } from '../../src/config/topology.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { NvmeHost, NvmeStatusError } from '../../src/initiator/index.js';
import { AdminOpcode, FeatureId, IdentifyCns, LogPage, NvmOpcode, Oaes } from '../../src/protocol/constants.js';
import { Status, statusName } from '../../src/protocol/status.js';
import {
  decodeChangedZoneList,
  decodeIdentifyZnsNamespace,
  ZoneReportFilter,
  ZoneSendAction,
  ZoneState,
} from '../../src/protocol/zns.js';
import { pattern } from '../helpers/pattern.js';

const SUBNQN = 'nqn.2024-01.io.nvmf-emu:target-zns';
const LBA = 4096;
const ZONE = 256; // 1 MiB zones of 4 KiB blocks
const ZCAP = 192; // 768 KiB writable
const ZONES = 32;
const ERASE_NS = 20_000_000;

let daemon: Daemon;
let host: NvmeHost;
let api: string;

beforeAll(async () => {
  const topology = validateTopology({
    hosts: [],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 }, subsystems: [SUBNQN] }],
    subsystems: [
      {
        nqn: SUBNQN,
        attr: { allow_any_host: 1 },
        namespaces: [
          {
            nsid: 1,
            emulation: {
              type: 'zns',
              preset: 'wd-zn540',
              capacity: '32MiB',
              lba_size: LBA,
              zone_size: '1MiB',
              zone_capacity: '768KiB',
              max_open_zones: 3,
              max_active_zones: 4,
              zone_append_size_limit: '64KiB',
              zone_descriptor_extension_size: 64,
              erase_latency_ns: ERASE_NS,
            },
          },
          { nsid: 2, emulation: { type: 'nvm', capacity: '4MiB', lba_size: 4096 } },
        ],
      },
    ],
  });
  topology.ports[0]!.addr.trsvcid = 0;
  daemon = await startDaemon({ topology, http: { enabled: true, address: '127.0.0.1', port: 0 }, engine: { workers: 1 } });
  api = `http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems/${encodeURIComponent(SUBNQN)}/namespaces/1`;
  host = await NvmeHost.connect({ host: '127.0.0.1', port: daemon.listeners[0]!.port, subnqn: SUBNQN, ioQueues: 2 });
});

afterAll(async () => {
  await host?.disconnect().catch(() => {});
  await daemon?.stop();
});

/** Status of a rejected command, by name. */
async function failsWith(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof NvmeStatusError) return e.statusName;
    throw e;
  }
  return 'Success';
}
const zslba = (z: number): number => z * ZONE;

describe('what a host reads to find a zoned namespace', () => {
  it('CAP.CSS offers I/O command set selection, so the host selects CC.CSS = 6', () => {
    expect(host.cap!.cssIoSets).toBe(true);
    expect(host.css).toBe(6);
  });

  it('the namespace identification descriptors carry CSI 2 (and CSI 0 for the nvm namespace)', async () => {
    const csiOf = (b: Buffer): number => {
      for (let off = 0; off < b.length && b[off] !== 0; off += 4 + b[off + 1]!) if (b[off] === 4) return b[off + 4]!;
      return -1;
    };
    expect(csiOf(await host.identify(IdentifyCns.NsDescriptors, { nsid: 1 }))).toBe(2);
    expect(csiOf(await host.identify(IdentifyCns.NsDescriptors, { nsid: 2 }))).toBe(0);
  });

  it('Identify CNS 06h CSI 2: ZASL = log2(64 KiB / 4 KiB) = 4, a real limit', async () => {
    const b = await host.identify(IdentifyCns.CsController, { csi: 2 });
    expect(b[0]).toBe(4);
  });

  it('Identify CNS 05h CSI 2: ZOC 0, MOR/MAR zero-based, LBAFE zone size in blocks of each format', async () => {
    const z = decodeIdentifyZnsNamespace(await host.identify(IdentifyCns.CsNamespace, { nsid: 1, csi: 2 }));
    expect(z).toMatchObject({ zoc: 0, mor: 2, mar: 3 });
    expect(z.lbafe[0]).toEqual({ zsze: BigInt(ZONE * 8), zdes: 1 }); // 512-byte format
    expect(z.lbafe[1]).toEqual({ zsze: BigInt(ZONE), zdes: 1 }); // the 4 KiB format in use
    const other = await host.adminCommand({ opcode: AdminOpcode.Identify, nsid: 2, cdw10: IdentifyCns.CsNamespace, cdw11: 2 << 24 }, { readLength: 4096 });
    expect(statusName(other.cqe.status)).toBe('InvalidField');
  });

  it('command set combinations and the CSI 2 active namespace list include the zoned namespace', async () => {
    const combos = await host.identify(IdentifyCns.CommandSetCombinations);
    expect(combos.readBigUInt64LE(0)).toBe(0b111n);
    const list = await host.identify(IdentifyCns.CsActiveNsList, { nsid: 0, csi: 2 });
    expect(list.readUInt32LE(0)).toBe(1);
    expect(list.readUInt32LE(4)).toBe(0);
  });

  it('the effects log for CSI 2 marks Zone Append, Send and Receive supported (CSI 0 does not)', async () => {
    const zns = await host.getLogPage(LogPage.CommandEffects, 4096, { csi: 2 });
    const io = (b: Buffer, op: number): number => b.readUInt32LE(1024 + op * 4);
    expect(io(zns, NvmOpcode.ZoneAppend) & 1).toBe(1);
    expect(io(zns, NvmOpcode.ZoneMgmtSend) & 1).toBe(1);
    expect(io(zns, NvmOpcode.ZoneMgmtReceive) & 1).toBe(1);
    expect(io(zns, NvmOpcode.Write) & 1).toBe(1);
    const nvm = await host.getLogPage(LogPage.CommandEffects, 4096, { csi: 0 });
    expect(io(nvm, NvmOpcode.ZoneAppend)).toBe(0);
  });

  it('OAES advertises Zone Descriptor Changed notices', () => {
    expect((host.identifyData!.readUInt32LE(92) & Oaes.ZoneDescriptorChanged) >>> 0).not.toBe(0);
  });

  it('zone commands on the nvm namespace are Invalid Opcode', async () => {
    expect(await failsWith(host.zoneAppend(2, 0, Buffer.alloc(4096)))).toBe('InvalidOpcode');
  });
});

describe('zones over TCP', () => {
  it('reports every zone empty at first, each with ZT 2, ZCAP and WP at the start', async () => {
    const r = await host.reportZones(1, 0, { bytes: 64 + ZONES * 64 });
    expect(r.nrZones).toBe(ZONES);
    expect(r.zones).toHaveLength(ZONES);
    r.zones.forEach((d, i) => expect(d).toEqual({ zt: 2, zs: ZoneState.Empty, za: 0, zai: 0, zcap: ZCAP, zslba: zslba(i), wp: zslba(i) }));
  });

  it('writes at the write pointer succeed and elsewhere fail with Zone Invalid Write; data reads back', async () => {
    const d = pattern(8 * LBA, 1);
    await host.write(1, zslba(0), d);
    expect(await failsWith(host.write(1, zslba(0), d))).toBe('ZoneInvalidWrite');
    expect(await failsWith(host.write(1, zslba(0) + 16, d))).toBe('ZoneInvalidWrite');
    await host.write(1, zslba(0) + 8, d);
    expect((await host.read(1, zslba(0), 8)).equals(d)).toBe(true);
    const r = await host.reportZones(1, 0, { bytes: 128, partial: true });
    expect(r.zones[0]).toMatchObject({ zs: ZoneState.ImplicitlyOpened, wp: 16 });
  });

  it('Zone Append returns increasing LBAs and the data lands there; over ZASL is Invalid Field', async () => {
    const lbas: number[] = [];
    for (let i = 0; i < 4; i++) lbas.push(await host.zoneAppend(1, zslba(1), pattern(4 * LBA, 100 + i)));
    expect(lbas).toEqual([0, 4, 8, 12].map((x) => zslba(1) + x));
    expect((await host.read(1, zslba(1) + 8, 4)).equals(pattern(4 * LBA, 102))).toBe(true);
    expect(await failsWith(host.zoneAppend(1, zslba(1), Buffer.alloc(17 * LBA)))).toBe('InvalidField');
    expect(await failsWith(host.zoneAppend(1, zslba(1) + 4, Buffer.alloc(LBA)))).toBe('InvalidField');
    // Parallel appends on two queues: each gets its own range, no two overlap.
    const many = await Promise.all(Array.from({ length: 8 }, (_, i) => host.zoneAppend(1, zslba(1), pattern(2 * LBA, 200 + i), { qid: 1 + (i % 2) })));
    expect(new Set(many).size).toBe(8);
    expect([...many].sort((a, b) => a - b)).toEqual(Array.from({ length: 8 }, (_, i) => zslba(1) + 16 + 2 * i));
  });

  it('Zone Append with FUA completes once programmed (modelled media time >= program latency); without, once buffered', async () => {
    // wd-zn540 completes buffered writes early; the media histogram holds the model's own time.
    const h = daemon.target.subsystems.get(SUBNQN)!.namespaces.get(1)!.stats.mediaWriteLatency;
    const mediaSeconds = async (fua: boolean): Promise<number> => {
      const [sum, count] = [h.sum, h.count];
      await host.zoneAppend(1, zslba(1), pattern(LBA, fua ? 11 : 10), { fua });
      expect(h.count).toBe(count + 1);
      return h.sum - sum;
    };
    const PROGRAM_S = 561e-6; // the preset's TLC program latency
    expect(await mediaSeconds(false)).toBeLessThan(PROGRAM_S / 2);
    expect(await mediaSeconds(true)).toBeGreaterThanOrEqual(PROGRAM_S);
  });

  it('filling a zone to its capacity makes it full; beyond is a Zone Boundary Error, then Zone Is Full', async () => {
    const z = 2;
    expect(await failsWith(host.write(1, zslba(z), Buffer.alloc((ZCAP + 1) * LBA)))).toBe('ZoneBoundaryError');
    await host.write(1, zslba(z), pattern(ZCAP * LBA, 2));
    expect((await host.reportZones(1, zslba(z), { bytes: 128, partial: true })).zones[0]).toMatchObject({ zs: ZoneState.Full, wp: zslba(z) + ZCAP });
    expect(await failsWith(host.write(1, zslba(z) + ZCAP, Buffer.alloc(LBA)))).toBe('ZoneIsFull');
    expect(await failsWith(host.zoneAppend(1, zslba(z), Buffer.alloc(LBA)))).toBe('ZoneIsFull');
    // Blocks between the capacity and the zone size read as zeroes.
    expect((await host.read(1, zslba(z) + ZCAP, 4)).every((x) => x === 0)).toBe(true);
  });

  it('open limit: with 3 open, a 4th implicit open closes the oldest implicitly opened zone', async () => {
    // Zones 0 and 1 are implicitly open from the tests above.
    await host.write(1, zslba(3), Buffer.alloc(LBA));
    await host.write(1, zslba(4), Buffer.alloc(LBA)); // closes zone 0
    const closed = await host.reportZones(1, 0, { filter: ZoneReportFilter.Closed });
    expect(closed.zones.map((d) => d.zslba)).toEqual([zslba(0)]);
    const open = await host.reportZones(1, 0, { filter: ZoneReportFilter.ImplicitlyOpened });
    expect(open.nrZones).toBe(3);
    // Active limit 4: zones 0 (closed), 1, 3, 4 are active; a fifth is refused.
    expect(await failsWith(host.write(1, zslba(5), Buffer.alloc(LBA)))).toBe('TooManyActiveZones');
    const s = (await (await fetch(`${api}/zones`)).json()) as { stats: Record<string, number> };
    expect(s.stats).toMatchObject({ open: 3, active: 4, closed: 1, implicit_open: 3, implicitCloses: 1, maxOpen: 3, maxActive: 4 });
  });

  it('partial report: NZ = descriptors returned; without it, NZ = all matching zones', async () => {
    const all = await host.reportZones(1, zslba(1), { bytes: 64 + 2 * 64 });
    expect(all.nrZones).toBe(ZONES - 1);
    expect(all.zones.map((d) => d.zslba)).toEqual([zslba(1), zslba(2)]);
    const partial = await host.reportZones(1, zslba(1), { bytes: 64 + 2 * 64, partial: true });
    expect(partial.nrZones).toBe(2);
    const empty = await host.reportZones(1, 0, { filter: ZoneReportFilter.Empty, bytes: 64 });
    expect(empty.nrZones).toBe(ZONES - 5);
  });

  it('finish and reset: reset rewinds the zone, zeroes its data and pays the modelled erase latency', async () => {
    await host.zoneManagementSend(1, zslba(3), ZoneSendAction.Finish);
    expect((await host.reportZones(1, zslba(3), { bytes: 128, partial: true })).zones[0]).toMatchObject({ zs: ZoneState.Full, wp: zslba(3) + ZCAP });
    expect(await failsWith(host.write(1, zslba(3) + ZCAP, Buffer.alloc(LBA)))).toBe('ZoneIsFull');
    const t0 = performance.now();
    await host.zoneManagementSend(1, zslba(0), ZoneSendAction.Reset);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(ERASE_NS / 1e6 - 1);
    expect((await host.read(1, zslba(0), 8)).every((x) => x === 0)).toBe(true);
    await host.write(1, zslba(0), pattern(LBA, 7)); // at the rewound write pointer
    expect(await failsWith(host.zoneManagementSend(1, zslba(0) + 1, ZoneSendAction.Reset))).toBe('InvalidField');
    expect(await failsWith(host.zoneManagementSend(1, zslba(6), ZoneSendAction.Close))).toBe('InvalidZoneStateTransition');
  });

  it('explicit open beyond the open limit is Too Many Open Zones once no zone is implicitly open', async () => {
    await host.zoneManagementSend(1, 0, ZoneSendAction.Reset, { selectAll: true });
    expect((await host.reportZones(1, 0, { filter: ZoneReportFilter.Empty })).nrZones).toBe(ZONES);
    for (const z of [0, 1, 2]) await host.zoneManagementSend(1, zslba(z), ZoneSendAction.Open);
    expect(await failsWith(host.zoneManagementSend(1, zslba(3), ZoneSendAction.Open))).toBe('TooManyOpenZones');
    expect(await failsWith(host.write(1, zslba(3), Buffer.alloc(LBA)))).toBe('TooManyOpenZones');
    await host.zoneManagementSend(1, 0, ZoneSendAction.Close, { selectAll: true });
    expect((await host.reportZones(1, 0, { filter: ZoneReportFilter.Closed })).nrZones).toBe(3);
    await host.zoneManagementSend(1, 0, ZoneSendAction.Finish, { selectAll: true });
    expect((await host.reportZones(1, 0, { filter: ZoneReportFilter.Full })).nrZones).toBe(3);
    await host.zoneManagementSend(1, 0, ZoneSendAction.Reset, { selectAll: true });
  });

  it('descriptor extensions: set on an empty zone, returned by the extended report', async () => {
    const ext = Buffer.alloc(64, 0xa5);
    await host.zoneManagementSend(1, zslba(9), ZoneSendAction.SetDescriptorExtension, { data: ext });
    const r = await host.reportZones(1, zslba(9), { bytes: 64 + 128, partial: true, extended: true, extensionBytes: 64 });
    expect(r.zones[0]).toMatchObject({ zs: ZoneState.Closed, za: 0x80 });
    expect(r.zones[0]!.extension!.equals(ext)).toBe(true);
    await host.zoneManagementSend(1, zslba(9), ZoneSendAction.Reset);
  });
});

describe('zone fault injection (admin HTTP) and Zone Descriptor Changed', () => {
  it('GET zones lists states and write pointers', async () => {
    const res = await fetch(`${api}/zones`);
    expect(res.status).toBe(200);
    const j = (await res.json()) as { zone_size: number; zones: { zslba: number; state: string }[] };
    expect(j.zone_size).toBe(ZONE);
    expect(j.zones).toHaveLength(ZONES);
    expect(j.zones[0]).toMatchObject({ zslba: 0, state: 'empty', wp: 0, zcap: ZCAP });
  });

  it('rejects bad requests naming the field', async () => {
    const post = (z: string, body: unknown): Promise<Response> =>
      fetch(`${api}/zones/${z}/fault`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('1', { state: 'offline' })).status).toBe(404);
    const bad = await post('0', { state: 'broken' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'state' });
    const notZoned = await fetch(`http://127.0.0.1:${daemon.httpPort}/api/v1/subsystems/${encodeURIComponent(SUBNQN)}/namespaces/2/zones`);
    expect(notZoned.status).toBe(404);
  });

  it('a zone made read only then offline raises the notice (AEN info EFh, log BFh) and the host sees it', async () => {
    await host.setFeatures(FeatureId.AsyncEventConfig, Oaes.ZoneDescriptorChanged | Oaes.NsAttr);
    await host.write(1, zslba(7), pattern(4 * LBA, 77));
    const aer = host.adminCommand({ opcode: AdminOpcode.AsyncEventRequest });
    const res = await fetch(`${api}/zones/${zslba(7)}/fault`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ state: 'read_only' }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ changed: true, zone: { zslba: zslba(7), state: 'read_only' } });
    const ev = await aer;
    expect(ev.cqe.status).toBe(0);
    expect(ev.cqe.dw0 & 0x7).toBe(2); // notice
    expect((ev.cqe.dw0 >> 8) & 0xff).toBe(0xef); // Zone Descriptor Changed
    expect((ev.cqe.dw0 >> 16) & 0xff).toBe(0xbf); // log page
    const log = decodeChangedZoneList(await host.getLogPage(LogPage.ChangedZoneList, 4096, { nsid: 1, csi: 2 }));
    expect(log).toEqual({ overflow: false, zslbas: [zslba(7)] });
    expect(decodeChangedZoneList(await host.getLogPage(LogPage.ChangedZoneList, 4096, { nsid: 1, csi: 2 })).zslbas).toEqual([]);
    // Read only: reads work, writes fail.
    expect((await host.read(1, zslba(7), 4)).equals(pattern(4 * LBA, 77))).toBe(true);
    expect(await failsWith(host.write(1, zslba(7) + 4, Buffer.alloc(LBA)))).toBe('ZoneIsReadOnly');
    expect(await failsWith(host.zoneManagementSend(1, zslba(7), ZoneSendAction.Reset))).toBe('InvalidZoneStateTransition');
    // The host takes it offline (ZSRO -> ZSO is the one transition it may make).
    await host.zoneManagementSend(1, zslba(7), ZoneSendAction.Offline);
    expect(await failsWith(host.read(1, zslba(7), 4))).toBe('ZoneIsOffline');
    // Injected offline on another zone: a second event once the log was read.
    const aer2 = host.adminCommand({ opcode: AdminOpcode.AsyncEventRequest });
    await fetch(`${api}/zones/${zslba(8)}/fault`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ state: 'offline' }) });
    expect(((await aer2).cqe.dw0 >> 8) & 0xff).toBe(0xef);
    const offline = await host.reportZones(1, 0, { filter: ZoneReportFilter.Offline });
    expect(offline.zones.map((d) => d.zslba)).toEqual([zslba(7), zslba(8)]);
    const conflict = await fetch(`${api}/zones/${zslba(8)}/fault`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ state: 'read_only' }) });
    expect(conflict.status).toBe(409);
  });

  it('namespace stats carry the zone counters as plain numbers', () => {
    const ns = daemon.target.subsystems.get(SUBNQN)!.namespaces.get(1)!;
    const s = ns.zones!.stats();
    expect(s).toMatchObject({ zones: ZONES, offline: 2, injectedFaults: 2, offlines: 1 });
    expect(s.appends).toBeGreaterThanOrEqual(12);
    expect(s.resets).toBeGreaterThan(0);
    expect(Status.ZoneIsOffline).toBeGreaterThan(0);
  });
});
