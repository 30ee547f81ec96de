// The zone state machine (src/devices/zns/zones.ts): every state x every action against the ZNS
// Command Set's transitions and statuses, write pointer rules, the open and active limits
// (implicitly opened zones closed to make room), Select All, reports with filters and partial
// reports, descriptor extensions, fault injection and the stats object.
import { describe, expect, it } from 'vitest';
import { ZoneManager, type ZoneStateName } from '../../src/devices/zns/zones.js';
import { Status, statusName } from '../../src/protocol/status.js';
import { decodeZoneReport, ZoneReceiveAction, ZoneReportFilter, ZoneSendAction, ZoneState } from '../../src/protocol/zns.js';

const ZS = 64; // zone size (blocks)
const ZCAP = 48; // zone capacity (blocks)

function mgr(o: { zones?: number; maxOpen?: number; maxActive?: number; ext?: number } = {}): ZoneManager {
  return new ZoneManager({
    nlb: (o.zones ?? 8) * ZS,
    zoneSize: ZS,
    zoneCapacity: ZCAP,
    maxOpen: o.maxOpen ?? 0,
    maxActive: o.maxActive ?? 0,
    appendLimit: 16,
    descriptorExtensionBytes: o.ext ?? 0,
  });
}

const name = (m: ZoneManager, z: number): ZoneStateName => m.zoneInfo(z).state;
const ok = (s: number): void => expect(statusName(s)).toBe('Success');
const is = (s: number, want: number): void => expect(statusName(s)).toBe(statusName(want));

/** Put zone 1 of a fresh manager in `state`. */
function inState(state: ZoneStateName, m = mgr()): ZoneManager {
  const slba = ZS;
  switch (state) {
    case 'empty':
      break;
    case 'implicit_open':
      ok(m.write(slba, 4));
      break;
    case 'explicit_open':
      ok(m.send(ZoneSendAction.Open, slba, false));
      break;
    case 'closed':
      ok(m.write(slba, 4));
      ok(m.send(ZoneSendAction.Close, slba, false));
      break;
    case 'full':
      ok(m.write(slba, ZCAP));
      break;
    case 'read_only':
      m.inject(1, 'read_only');
      break;
    case 'offline':
      m.inject(1, 'offline');
      break;
  }
  expect(name(m, 1)).toBe(state);
  return m;
}

const STATES: ZoneStateName[] = ['empty', 'implicit_open', 'explicit_open', 'closed', 'full', 'read_only', 'offline'];
const IST = Status.InvalidZoneStateTransition;

// [action, per state: resulting state or a status]
const SEND_TABLE: [string, number, Record<ZoneStateName, ZoneStateName | number>][] = [
  ['open', ZoneSendAction.Open, { empty: 'explicit_open', implicit_open: 'explicit_open', explicit_open: 'explicit_open', closed: 'explicit_open', full: IST, read_only: IST, offline: IST }],
  ['close', ZoneSendAction.Close, { empty: IST, implicit_open: 'closed', explicit_open: 'closed', closed: 'closed', full: IST, read_only: IST, offline: IST }],
  ['finish', ZoneSendAction.Finish, { empty: 'full', implicit_open: 'full', explicit_open: 'full', closed: 'full', full: 'full', read_only: IST, offline: IST }],
  ['reset', ZoneSendAction.Reset, { empty: 'empty', implicit_open: 'empty', explicit_open: 'empty', closed: 'empty', full: 'empty', read_only: IST, offline: IST }],
  ['offline', ZoneSendAction.Offline, { empty: IST, implicit_open: IST, explicit_open: IST, closed: IST, full: IST, read_only: 'offline', offline: 'offline' }],
];

describe('Zone Management Send: every state x every action', () => {
  for (const [actionName, action, row] of SEND_TABLE) {
    for (const state of STATES) {
      const want = row[state];
      it(`${actionName} on ${state} -> ${typeof want === 'string' ? want : statusName(want)}`, () => {
        const m = inState(state);
        const before = m.stats();
        const s = m.send(action, ZS, false);
        if (typeof want === 'number') {
          is(s, want);
          expect(name(m, 1)).toBe(state); // nothing changed
          expect(m.stats()).toEqual(before);
        } else {
          ok(s);
          expect(name(m, 1)).toBe(want);
        }
      });
    }
  }
});

describe('writes, appends and reads in every state', () => {
  const WRITE: Record<ZoneStateName, ZoneStateName | number> = {
    empty: 'implicit_open',
    implicit_open: 'implicit_open',
    explicit_open: 'explicit_open',
    closed: 'implicit_open',
    full: Status.ZoneIsFull,
    read_only: Status.ZoneIsReadOnly,
    offline: Status.ZoneIsOffline,
  };
  for (const state of STATES) {
    const want = WRITE[state];
    it(`write at the write pointer of a ${state} zone -> ${typeof want === 'string' ? want : statusName(want)}`, () => {
      const m = inState(state);
      const wp = m.wp(1);
      const s = m.write(state === 'full' ? ZS : wp, 1);
      if (typeof want === 'number') is(s, want);
      else {
        ok(s);
        expect(name(m, 1)).toBe(want);
        expect(m.wp(1)).toBe(wp + 1);
      }
    });
    it(`append to a ${state} zone -> ${typeof want === 'string' ? 'assigned LBA' : statusName(want)}`, () => {
      const m = inState(state);
      const wp = m.wp(1);
      const s = m.append(ZS, 2);
      if (typeof want === 'number') is(s, want);
      else {
        ok(s);
        expect(m.appendedLba).toBe(wp);
        expect(m.wp(1)).toBe(wp + 2);
      }
    });
    it(`read of a ${state} zone -> ${state === 'offline' ? 'ZoneIsOffline' : 'Success'}`, () => {
      const m = inState(state);
      is(m.checkRead(ZS, 8), state === 'offline' ? Status.ZoneIsOffline : Status.Success);
    });
  }
});

describe('write pointer rules', () => {
  it('a write elsewhere than the write pointer is a Zone Invalid Write', () => {
    const m = mgr();
    is(m.write(1, 1), Status.ZoneInvalidWrite);
    ok(m.write(0, 4));
    is(m.write(0, 1), Status.ZoneInvalidWrite);
    is(m.write(5, 1), Status.ZoneInvalidWrite);
    ok(m.write(4, 1));
    expect(m.wp(0)).toBe(5);
    expect(m.stats().zoneErrors).toBe(3);
  });

  it('writing past the zone capacity is a Zone Boundary Error; reaching it makes the zone full', () => {
    const m = mgr();
    ok(m.write(0, ZCAP - 4));
    is(m.write(ZCAP - 4, 5), Status.ZoneBoundaryError);
    expect(name(m, 0)).toBe('implicit_open');
    ok(m.write(ZCAP - 4, 4));
    expect(name(m, 0)).toBe('full');
    expect(m.wp(0)).toBe(ZCAP);
    expect(m.stats()).toMatchObject({ open: 0, active: 0, full: 1 });
    is(m.write(ZCAP, 1), Status.ZoneIsFull);
  });

  it('append: to the zone start only, within the append limit; assigns increasing LBAs', () => {
    const m = mgr();
    is(m.append(ZS + 1, 1), Status.InvalidField);
    is(m.append(ZS, 17), Status.InvalidField); // appendLimit 16
    const lbas: number[] = [];
    for (let i = 0; i < 3; i++) {
      ok(m.append(ZS, 8));
      lbas.push(m.appendedLba);
    }
    expect(lbas).toEqual([ZS, ZS + 8, ZS + 16]);
    is(m.append(ZS, 16), Status.Success); // 40 of 48
    is(m.append(ZS, 16), Status.ZoneBoundaryError);
    expect(m.stats()).toMatchObject({ appends: 4, appendedBlocks: 40 });
  });

  it('reset rewinds the write pointer and finish puts it at the writable end', () => {
    const m = mgr();
    ok(m.write(0, 10));
    ok(m.send(ZoneSendAction.Finish, 0, false));
    expect(m.wp(0)).toBe(ZCAP);
    ok(m.send(ZoneSendAction.Reset, 0, false));
    expect(m.wp(0)).toBe(0);
    ok(m.write(0, 1));
    expect(m.stats()).toMatchObject({ resets: 1, finishes: 1 });
  });

  it('reads may cross zone boundaries but not into an offline zone', () => {
    const m = mgr();
    ok(m.checkRead(ZS - 4, 8));
    m.inject(2, 'offline');
    is(m.checkRead(ZS + 60, 8), Status.ZoneIsOffline);
  });

  it('a send naming an LBA that is not a zone start is Invalid Field; beyond the namespace, LBA Out of Range', () => {
    const m = mgr();
    is(m.send(ZoneSendAction.Open, 3, false), Status.InvalidField);
    is(m.send(ZoneSendAction.Open, 8 * ZS, false), Status.LbaOutOfRange);
    is(m.send(0x7f, 0, false), Status.InvalidField);
  });
});

describe('checkWrite / checkAppend: the status write / append would give, nothing changed', () => {
  // Zone 1 in every state, under no limits, and under open/active limits already spent by
  // explicitly opened zones (nothing to close) or by implicitly opened ones (one can be closed).
  const setups: [string, () => ZoneManager][] = [];
  for (const st of STATES) {
    setups.push([`${st}, no limits`, () => inState(st)]);
    setups.push([
      `${st}, limits spent by explicit opens`,
      () => {
        const m = inState(st, mgr({ maxOpen: 2, maxActive: 3 }));
        for (const z of [4, 5]) m.send(ZoneSendAction.Open, z * ZS, false);
        return m;
      },
    ]);
    setups.push([
      `${st}, active limit spent`,
      () => {
        const m = inState(st, mgr({ maxOpen: 3, maxActive: 2 }));
        for (const z of [4, 5]) m.send(ZoneSendAction.Open, z * ZS, false);
        return m;
      },
    ]);
    setups.push([
      `${st}, limits spent by implicit opens`,
      () => {
        const m = inState(st, mgr({ maxOpen: 2, maxActive: 4 }));
        for (const z of [4, 5, 6]) m.write(z * ZS, 1);
        return m;
      },
    ]);
  }
  const writes: [number, number][] = [[ZS, 1], [ZS + 4, 2], [ZS + 5, 1], [ZS, ZCAP], [ZS, ZCAP + 1], [ZS + 4, ZCAP - 4], [ZS + 4, ZCAP - 3]];
  const appends: [number, number][] = [[ZS, 1], [ZS, 16], [ZS, 17], [ZS + 1, 1]];

  const seen = new Set<string>();
  it.each(setups)('%s', (_label, make) => {
    for (const [slba, nlb] of writes) {
      const m = make();
      const before = JSON.stringify(m.list());
      const checked = m.checkWrite(slba, nlb);
      seen.add(statusName(checked));
      expect(JSON.stringify(m.list())).toBe(before);
      is(m.write(slba, nlb), checked);
      if (checked !== Status.Success) expect(JSON.stringify(m.list())).toBe(before);
    }
    for (const [zslba, nlb] of appends) {
      const m = make();
      const before = JSON.stringify(m.list());
      const wp = m.wp(1);
      const checked = m.checkAppend(zslba, nlb);
      expect(JSON.stringify(m.list())).toBe(before);
      is(m.append(zslba, nlb), checked);
      if (checked === Status.Success) expect(m.appendedLba).toBe(wp);
      else expect(JSON.stringify(m.list())).toBe(before);
    }
  });

  it('the cases above cover every refusal a write can get', () => {
    for (const st of [Status.ZoneInvalidWrite, Status.ZoneBoundaryError, Status.ZoneIsFull, Status.ZoneIsReadOnly, Status.ZoneIsOffline, Status.TooManyOpenZones, Status.TooManyActiveZones, Status.Success]) expect(seen).toContain(statusName(st));
  });
});

describe('open and active limits', () => {
  it('implicitly opened zones are closed (least recently opened first) to make room for writes', () => {
    const m = mgr({ maxOpen: 2, maxActive: 4 });
    ok(m.write(0, 1));
    ok(m.write(ZS, 1));
    ok(m.write(2 * ZS, 1)); // closes zone 0
    expect([name(m, 0), name(m, 1), name(m, 2)]).toEqual(['closed', 'implicit_open', 'implicit_open']);
    expect(m.stats()).toMatchObject({ open: 2, active: 3, implicitCloses: 1 });
    ok(m.write(1, 1)); // reopens zone 0, closing zone 1
    expect([name(m, 0), name(m, 1)]).toEqual(['implicit_open', 'closed']);
  });

  it('explicitly opened zones are never closed to make room: Too Many Open Zones', () => {
    const m = mgr({ maxOpen: 2 });
    ok(m.send(ZoneSendAction.Open, 0, false));
    ok(m.send(ZoneSendAction.Open, ZS, false));
    is(m.write(2 * ZS, 1), Status.TooManyOpenZones);
    is(m.send(ZoneSendAction.Open, 2 * ZS, false), Status.TooManyOpenZones);
    expect(name(m, 2)).toBe('empty');
    ok(m.send(ZoneSendAction.Close, 0, false));
    ok(m.write(2 * ZS, 1));
  });

  it('an explicit open may close an implicitly opened zone', () => {
    const m = mgr({ maxOpen: 1 });
    ok(m.write(0, 1));
    ok(m.send(ZoneSendAction.Open, ZS, false));
    expect([name(m, 0), name(m, 1)]).toEqual(['closed', 'explicit_open']);
  });

  it('the active limit counts closed zones too: Too Many Active Zones, and nothing is closed for it', () => {
    const m = mgr({ maxOpen: 2, maxActive: 2 });
    ok(m.write(0, 1));
    ok(m.write(ZS, 1));
    is(m.write(2 * ZS, 1), Status.TooManyActiveZones);
    expect([name(m, 0), name(m, 1), name(m, 2)]).toEqual(['implicit_open', 'implicit_open', 'empty']);
    ok(m.send(ZoneSendAction.Close, 0, false));
    is(m.write(2 * ZS, 1), Status.TooManyActiveZones); // closed still active
    ok(m.write(1, 1)); // a closed zone reopens without a new active resource
    ok(m.send(ZoneSendAction.Finish, 0, false)); // finishing releases it
    ok(m.write(2 * ZS, 1));
    expect(m.stats()).toMatchObject({ active: 2 });
  });

  it('open all: every closed zone, or none when they do not fit', () => {
    const m = mgr({ maxOpen: 2 });
    for (const z of [0, 1, 2]) {
      ok(m.write(z * ZS, 1));
      ok(m.send(ZoneSendAction.Close, z * ZS, false));
    }
    is(m.send(ZoneSendAction.Open, 0, true), Status.TooManyOpenZones);
    expect(m.stats().closed).toBe(3);
    ok(m.send(ZoneSendAction.Reset, 2 * ZS, false));
    ok(m.send(ZoneSendAction.Open, 0, true));
    expect([name(m, 0), name(m, 1), name(m, 2)]).toEqual(['explicit_open', 'explicit_open', 'empty']);
  });
});

describe('select all', () => {
  it('acts on the states the spec selects for each action', () => {
    const m = mgr();
    ok(m.write(0, 1)); // zone 0 implicit open
    ok(m.send(ZoneSendAction.Open, ZS, false)); // zone 1 explicit open
    ok(m.write(2 * ZS, 1));
    ok(m.send(ZoneSendAction.Close, 2 * ZS, false)); // zone 2 closed
    ok(m.write(3 * ZS, ZCAP)); // zone 3 full
    m.inject(4, 'read_only');
    ok(m.send(ZoneSendAction.Close, 0, true));
    expect([0, 1, 2, 3, 4].map((z) => name(m, z))).toEqual(['closed', 'closed', 'closed', 'full', 'read_only']);
    ok(m.send(ZoneSendAction.Finish, 0, true));
    expect([0, 1, 2, 3, 4].map((z) => name(m, z))).toEqual(['full', 'full', 'full', 'full', 'read_only']);
    ok(m.send(ZoneSendAction.Reset, 0, true));
    expect(m.touched).toEqual([0, 1, 2, 3]);
    expect([0, 1, 2, 3, 4].map((z) => name(m, z))).toEqual(['empty', 'empty', 'empty', 'empty', 'read_only']);
    ok(m.send(ZoneSendAction.Offline, 0, true));
    expect(name(m, 4)).toBe('offline');
    is(m.send(ZoneSendAction.SetDescriptorExtension, 0, true), Status.InvalidField);
  });
});

describe('report zones', () => {
  const states = (m: ZoneManager, b: Buffer): number[] => decodeZoneReport(b, m.extensionBytes).zones.map((z) => z.zs);

  function mixed(): ZoneManager {
    const m = mgr();
    ok(m.write(0, 1));
    ok(m.send(ZoneSendAction.Open, ZS, false));
    ok(m.write(2 * ZS, 1));
    ok(m.send(ZoneSendAction.Close, 2 * ZS, false));
    ok(m.write(3 * ZS, ZCAP));
    m.inject(4, 'read_only');
    m.inject(5, 'offline');
    return m;
  }

  it('lists every zone with ZT 2, state, ZCAP, ZSLBA and WP', () => {
    const m = mixed();
    const r = m.report(0, ZoneReceiveAction.Report, ZoneReportFilter.All, false, 64 + 8 * 64) as Buffer;
    const d = decodeZoneReport(r);
    expect(d.nrZones).toBe(8);
    expect(d.zones.map((z) => z.zs)).toEqual([2, 3, 4, 0xe, 0xd, 0xf, 1, 1]);
    expect(d.zones.every((z) => z.zt === 2 && z.zcap === ZCAP)).toBe(true);
    expect(d.zones.map((z) => z.zslba)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((z) => z * ZS));
    expect(d.zones[0]!.wp).toBe(1);
    expect(d.zones[3]!.wp).toBe(3 * ZS + ZCAP);
  });

  it.each([
    [ZoneReportFilter.Empty, [ZoneState.Empty, ZoneState.Empty]],
    [ZoneReportFilter.ImplicitlyOpened, [ZoneState.ImplicitlyOpened]],
    [ZoneReportFilter.ExplicitlyOpened, [ZoneState.ExplicitlyOpened]],
    [ZoneReportFilter.Closed, [ZoneState.Closed]],
    [ZoneReportFilter.Full, [ZoneState.Full]],
    [ZoneReportFilter.ReadOnly, [ZoneState.ReadOnly]],
    [ZoneReportFilter.Offline, [ZoneState.Offline]],
  ])('filter %i selects only its state', (filter, want) => {
    const m = mixed();
    const r = m.report(0, ZoneReceiveAction.Report, filter, false, 4096) as Buffer;
    expect(decodeZoneReport(r).nrZones).toBe(want.length);
    expect(states(m, r)).toEqual(want);
  });

  it('starts at the zone holding SLBA; partial = descriptors returned, else all matching', () => {
    const m = mixed();
    const full = m.report(2 * ZS + 5, ZoneReceiveAction.Report, ZoneReportFilter.All, false, 64 + 2 * 64) as Buffer;
    expect(decodeZoneReport(full).nrZones).toBe(6);
    expect(states(m, full)).toEqual([ZoneState.Closed, ZoneState.Full]);
    const partial = m.report(2 * ZS, ZoneReceiveAction.Report, ZoneReportFilter.All, true, 64 + 2 * 64) as Buffer;
    expect(decodeZoneReport(partial).nrZones).toBe(2);
    const headerOnly = m.report(0, ZoneReceiveAction.Report, ZoneReportFilter.All, false, 64) as Buffer;
    expect(decodeZoneReport(headerOnly)).toEqual({ nrZones: 8, zones: [] });
    const tiny = m.report(0, ZoneReceiveAction.Report, ZoneReportFilter.All, false, 8) as Buffer;
    expect(tiny.readBigUInt64LE(0)).toBe(8n);
  });

  it('rejects unknown actions and filters, extended reports without extensions, and SLBAs beyond the namespace', () => {
    const m = mgr();
    is(m.report(0, 2, 0, false, 4096) as number, Status.InvalidField);
    is(m.report(0, 0, 8, false, 4096) as number, Status.InvalidField);
    is(m.report(0, ZoneReceiveAction.ExtendedReport, 0, false, 4096) as number, Status.InvalidField);
    is(m.report(8 * ZS, 0, 0, false, 4096) as number, Status.LbaOutOfRange);
  });

  it('descriptor extensions: set on an empty zone (which becomes closed), reported by the extended report, cleared by reset', () => {
    const m = mgr({ ext: 64, maxActive: 1 });
    const data = Buffer.alloc(64, 0x5a);
    ok(m.send(ZoneSendAction.SetDescriptorExtension, ZS, false, data));
    expect(name(m, 1)).toBe('closed');
    is(m.send(ZoneSendAction.SetDescriptorExtension, 2 * ZS, false, data), Status.TooManyActiveZones);
    is(m.send(ZoneSendAction.SetDescriptorExtension, ZS, false, data), Status.InvalidZoneStateTransition);
    const r = decodeZoneReport(m.report(ZS, ZoneReceiveAction.ExtendedReport, 0, true, 64 + 2 * 128) as Buffer, 64);
    expect(r.zones[0]!.za & 0x80).toBe(0x80);
    expect(r.zones[0]!.extension!.equals(data)).toBe(true);
    expect(r.zones[1]!.extension!.every((x) => x === 0)).toBe(true);
    ok(m.send(ZoneSendAction.Reset, ZS, false));
    expect(m.attributes(1)).toBe(0);
    expect(decodeZoneReport(m.report(ZS, 1, 0, true, 64 + 128) as Buffer, 64).zones[0]!.extension!.every((x) => x === 0)).toBe(true);
    const none = mgr();
    is(none.send(ZoneSendAction.SetDescriptorExtension, 0, false, data), Status.InvalidField);
  });
});

describe('fault injection and stats', () => {
  it('read only and offline release the zone\'s resources; offline never comes back', () => {
    const m = mgr({ maxOpen: 2, maxActive: 2 });
    ok(m.write(0, 1));
    ok(m.send(ZoneSendAction.Open, ZS, false));
    expect(m.inject(0, 'read_only')).toBe(true);
    expect(m.inject(0, 'read_only')).toBe(false);
    expect(m.stats()).toMatchObject({ open: 1, active: 1, read_only: 1 });
    expect(m.inject(1, 'offline')).toBe(true);
    expect(m.stats()).toMatchObject({ open: 0, active: 0, offline: 1, injectedFaults: 2 });
    expect(() => m.inject(1, 'read_only')).toThrow(/offline/);
  });

  it('stats are plain numbers with stable keys, per-state counts adding up to the zone count', () => {
    const m = mgr({ maxOpen: 3, maxActive: 5 });
    ok(m.write(0, 1));
    const s = m.stats();
    expect(Object.keys(s)).toEqual([
      'zones', 'empty', 'implicit_open', 'explicit_open', 'closed', 'full', 'read_only', 'offline', 'open', 'active', 'maxOpen', 'maxActive',
      'resets', 'finishes', 'explicitOpens', 'closes', 'offlines', 'implicitOpens', 'implicitCloses', 'appends', 'appendedBlocks', 'zoneErrors', 'injectedFaults',
    ]);
    expect(Object.values(s).every((v) => typeof v === 'number')).toBe(true);
    expect(s.empty + s.implicit_open + s.explicit_open + s.closed + s.full + s.read_only + s.offline).toBe(s.zones);
    expect(s).toMatchObject({ zones: 8, implicit_open: 1, maxOpen: 3, maxActive: 5, implicitOpens: 1 });
  });

  it('rejects layouts Linux cannot use', () => {
    expect(() => new ZoneManager({ nlb: 96 * 4, zoneSize: 96, zoneCapacity: 96, maxOpen: 0, maxActive: 0, appendLimit: 8 })).toThrow(/power of two/);
    expect(() => new ZoneManager({ nlb: 100, zoneSize: 64, zoneCapacity: 64, maxOpen: 0, maxActive: 0, appendLimit: 8 })).toThrow(/whole number/);
    expect(() => new ZoneManager({ nlb: 128, zoneSize: 64, zoneCapacity: 65, maxOpen: 0, maxActive: 0, appendLimit: 8 })).toThrow(/capacity/);
  });
});
