import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  DEFAULT_SUBSYSTEM_NQN,
  DEFAULT_TOPOLOGY,
  loadConfig,
  loadSettings,
  parseSize,
  validateTopology,
  type ConfigIssue,
} from '../../src/config/index.js';

const GiB = 1024 ** 3;
const SUB = 'nqn.2024-01.io.example:sub1';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555';

/** Run f, expect a ConfigError, return its issues. */
function issues(f: () => unknown): ConfigIssue[] {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).errors;
  }
  throw new Error('expected a ConfigError');
}

/** A small valid topology in file form; `mut` edits a deep copy. */
function topo(mut: (t: any) => void = () => {}): any {
  const t = {
    hosts: [{ nqn: HOST }],
    ports: [
      {
        portid: 1,
        addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420 },
        subsystems: [SUB],
      },
    ],
    subsystems: [
      {
        nqn: SUB,
        attr: { allow_any_host: false },
        allowed_hosts: [HOST],
        namespaces: [{ nsid: 1, enable: true, emulation: { type: 'nvm', capacity: '1GiB' } }],
      },
    ],
  };
  mut(t);
  return t;
}

describe('parseSize', () => {
  it.each([
    [1073741824, GiB],
    ['512', 512],
    ['4KiB', 4096],
    ['64MiB', 64 * 1024 ** 2],
    ['1GiB', GiB],
    ['1G', GiB],
    ['1g', GiB],
    ['1TiB', 1024 ** 4],
    ['1.5GiB', 1.5 * GiB],
    ['512B', 512],
    [' 2 MiB ', 2 * 1024 ** 2],
    [0, 0],
  ])('parses %j', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each([
    ['1.3KiB', /not a whole number of bytes/],
    ['1GB', /ambiguous unit "GB"/],
    ['4Ki', /incomplete unit/],
    ['abc', /expected a byte count/],
    ['-1', /expected a byte count/],
    ['', /empty/],
    [1.5, /whole number of bytes/],
    [-4096, /must not be negative/],
    [Number.NaN, /finite/],
    ['99999PiB', /too large/],
  ])('rejects %j', (input, reason) => {
    expect(() => parseSize(input)).toThrow(reason);
  });
});

describe('validateTopology', () => {
  it('accepts DEFAULT_TOPOLOGY and normalises it', () => {
    const t = validateTopology(DEFAULT_TOPOLOGY);
    expect(t.ports).toEqual([
      {
        portid: 1,
        addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: 4420, treq: 'not specified' },
        param: { inline_data_size: 8192, pi_enable: false },
        subsystems: [DEFAULT_SUBSYSTEM_NQN],
      },
    ]);
    expect(t.subsystems).toHaveLength(1);
    const s = t.subsystems[0]!;
    expect(s.nqn).toBe('nqn.2024-01.io.nvmf-emu:default');
    expect(s.attr).toMatchObject({ allow_any_host: true, serial: 'NVMFEMU0001', model: 'nvmf-emu' });
    expect(s.namespaces).toEqual([
      {
        nsid: 1,
        enable: true,
        device: {},
        emulation: { type: 'nvm', capacity: GiB, lba_size: 512, read_latency_ns: 0, write_latency_ns: 0 },
      },
    ]);
    expect(t.settings).toBeUndefined();
  });

  it('normalises an nvmetcli save file (string scalars, -1 defaults, ANA/resv groups)', () => {
    // Shape as written by `nvmetcli save` on a recent kernel, plus our emulation block.
    const file = {
      hosts: [{ nqn: HOST }],
      ports: [
        {
          addr: { adrfam: 'ipv6', traddr: '::', treq: 'not specified', trsvcid: '4420', trtype: 'tcp', tsas: 'none' },
          ana_groups: [{ ana: { state: 'optimized' }, grpid: 1 }],
          param: { inline_data_size: '-1', max_queue_size: '-1', pi_enable: '0' },
          portid: 2,
          referrals: [],
          subsystems: [SUB],
        },
        {
          addr: { adrfam: 'ipv4', traddr: '0.0.0.0', treq: 'not required', trsvcid: '4421', trtype: 'tcp' },
          param: { inline_data_size: '16384', max_queue_size: '256' },
          portid: 3,
          subsystems: [],
        },
      ],
      subsystems: [
        {
          allowed_hosts: [HOST],
          attr: {
            allow_any_host: '0',
            cntlid_max: '65519',
            cntlid_min: '1',
            firmware: '6.8.0',
            ieee_oui: '0x0050c2',
            model: 'Linux',
            pi_enable: '0',
            qid_max: '64',
            serial: '9a2a0c2b4a3cd6b7',
            version: '1.3',
          },
          namespaces: [
            {
              ana: { grpid: '1' },
              ana_grpid: 1,
              device: {
                nguid: '00000000-0000-0000-0000-000000000000',
                path: '/dev/null',
                uuid: '1C4AB6B1-7C0E-4E4F-9B5A-2E6C9D3F0A11',
              },
              enable: 1,
              nsid: 1,
              resv: { enable: '0' },
              emulation: { type: 'nvm', capacity: 1073741824, lba_size: 4096, read_latency_ns: 20000 },
            },
            {
              device: { nguid: 'ABCDEF01-2345-6789-abcd-ef0123456789', path: '', eui64: '00:11:22:33:44:55:66:77' },
              enable: '0',
              nsid: 2,
              emulation: { type: 'zns', preset: 'zns-prototype', capacity: '64MiB', zone_size: '1MiB' },
            },
          ],
          nqn: SUB,
        },
      ],
    };
    const t = validateTopology(file);
    expect(t.ports).toEqual([
      {
        portid: 2,
        addr: { trtype: 'tcp', adrfam: 'ipv6', traddr: '::', trsvcid: 4420, treq: 'not specified' },
        param: { inline_data_size: 8192, pi_enable: false },
        subsystems: [SUB],
      },
      {
        portid: 3,
        addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '0.0.0.0', trsvcid: 4421, treq: 'not required' },
        param: { inline_data_size: 16384, max_queue_size: 256, pi_enable: false },
        subsystems: [],
      },
    ]);
    const s = t.subsystems[0]!;
    expect(s.attr).toEqual({
      allow_any_host: false,
      serial: '9a2a0c2b4a3cd6b7',
      model: 'Linux',
      version: '1.3',
      cntlid_min: 1,
      cntlid_max: 0xffef,
      qid_max: 64,
      firmware: '6.8.0',
      ieee_oui: 0x0050c2,
      pi_enable: false,
      offload: false,
    });
    expect(s.allowed_hosts).toEqual([HOST]);
    expect(s.namespaces[0]).toEqual({
      nsid: 1,
      enable: true,
      // All-zero NGUID means "not set"; UUID is lower-cased.
      device: { path: '/dev/null', uuid: '1c4ab6b1-7c0e-4e4f-9b5a-2e6c9d3f0a11' },
      ana_grpid: 1,
      emulation: { type: 'nvm', capacity: GiB, lba_size: 4096, read_latency_ns: 20000, write_latency_ns: 0 },
    });
    expect(s.namespaces[1]).toEqual({
      nsid: 2,
      enable: false,
      device: { nguid: 'abcdef0123456789abcdef0123456789', eui64: '0011223344556677' },
      emulation: {
        type: 'zns',
        preset: 'zns-prototype',
        capacity: 64 * 1024 ** 2,
        lba_size: 512,
        zone_size: 1024 ** 2,
      },
    });
  });

  it('does not modify its input and passes settings through', () => {
    const input = topo((t) => (t.settings = { http: { port: 1 } }));
    const before = JSON.stringify(input);
    const out = validateTopology(input);
    expect(JSON.stringify(input)).toBe(before);
    expect(out.settings).toEqual({ http: { port: 1 } });
    expect(out.settings).not.toBe(input.settings);
  });

  it('reports unknown keys at several depths', () => {
    const errs = issues(() =>
      validateTopology(
        topo((t) => {
          t.colour = 'blue';
          t.ports[0].addr.foo = 1;
          t.subsystems[0].attr.bar = 1;
          t.subsystems[0].namespaces[0].emulation.zone_size = 4;
          t.subsystems[0].namespaces[0].device = { path: '/x', 'odd.key': 1 };
        }),
      ),
    );
    expect(errs).toEqual(
      expect.arrayContaining([
        { path: 'colour', message: 'unknown key' },
        { path: 'ports[0].addr.foo', message: 'unknown key' },
        { path: 'subsystems[0].attr.bar', message: 'unknown key' },
        { path: 'subsystems[0].namespaces[0].emulation.zone_size', message: 'unknown key' },
        { path: 'subsystems[0].namespaces[0].device["odd.key"]', message: 'unknown key' },
      ]),
    );
    expect(errs).toHaveLength(5);
  });

  it('reports wrong types with the ajv-style reason', () => {
    const errs = issues(() =>
      validateTopology(
        topo((t) => {
          t.ports[0].portid = '1';
          t.subsystems[0].namespaces[0].nsid = 1.5;
          t.subsystems[0].allowed_hosts = HOST;
        }),
      ),
    );
    expect(errs).toEqual(
      expect.arrayContaining([
        { path: 'ports[0].portid', message: 'must be integer' },
        { path: 'subsystems[0].namespaces[0].nsid', message: 'must be integer' },
        { path: 'subsystems[0].allowed_hosts', message: 'must be array' },
      ]),
    );
    expect(issues(() => validateTopology([]))).toEqual([{ path: '(root)', message: 'must be object' }]);
  });

  it('reports a duplicate nsid with both locations', () => {
    const errs = issues(() =>
      validateTopology(
        topo((t) => t.subsystems[0].namespaces.push({ nsid: 1, emulation: { type: 'nvm', capacity: 4096 } })),
      ),
    );
    expect(errs).toEqual([
      { path: 'subsystems[0].namespaces[1].nsid', message: 'duplicate nsid 1 (also at subsystems[0].namespaces[0])' },
    ]);
  });

  it('reports a port exporting an unknown subsystem NQN', () => {
    const errs = issues(() => validateTopology(topo((t) => t.ports[0].subsystems.push('nqn.2024-01.io.example:nope'))));
    expect(errs).toEqual([
      { path: 'ports[0].subsystems[1]', message: 'unknown subsystem NQN "nqn.2024-01.io.example:nope" (not in subsystems[])' },
    ]);
  });

  it('reports an allowed host that is not declared in hosts[]', () => {
    const errs = issues(() => validateTopology(topo((t) => (t.hosts = []))));
    expect(errs).toEqual([{ path: 'subsystems[0].allowed_hosts[0]', message: `host NQN not declared in hosts[]: "${HOST}"` }]);
  });

  describe('DH-HMAC-CHAP host keys', () => {
    const KEY = 'DHHC-1:01:vYcm5QemILkz5zSIeZidb4nPGcxongu2l/OaWMRgM9iIk/2A:';
    const CTRL_KEY = 'DHHC-1:00:RbgmpCGRaCwY1m4SexVxhf7tsJCXuAg77iH0Z18Ys25TgI/K:';

    it('accepts keys, hash and DH group lists (one name or several), normalised to lists', () => {
      const t = validateTopology(
        topo((x) => Object.assign(x.hosts[0], { dhchap_key: KEY, dhchap_ctrl_key: CTRL_KEY, dhchap_hash: 'hmac(sha512)', dhchap_dhgroup: ['ffdhe4096', 'null'] })),
      );
      expect(t.hosts[0]).toEqual({ nqn: HOST, dhchap_key: KEY, dhchap_ctrl_key: CTRL_KEY, dhchap_hash: ['hmac(sha512)'], dhchap_dhgroup: ['ffdhe4096', 'null'] });
      expect(validateTopology(topo()).hosts[0]).toEqual({ nqn: HOST });
    });

    it('names the exact key that is bad, and why', () => {
      const corrupt = KEY.replace('vYcm', 'vYcn');
      const errs = issues(() =>
        validateTopology(
          topo((x) => {
            x.hosts[0].dhchap_key = corrupt;
            x.hosts.push({ nqn: `${HOST}9`, dhchap_key: 'secret', dhchap_ctrl_key: KEY.replace(':01:', ':07:') });
            x.hosts.push({ nqn: `${HOST}8`, dhchap_ctrl_key: KEY, dhchap_hash: ['hmac(md5)'], dhchap_dhgroup: ['null', 'null'] });
          }),
        ),
      );
      expect(errs).toEqual([
        { path: 'hosts[0].dhchap_key', message: 'CRC-32 mismatch: the secret is corrupted or mistyped' },
        { path: 'hosts[1].dhchap_key', message: 'must be a DHHC-1 secret: "DHHC-1:<hh>:<base64>:" (see `nvmf-emu gen-dhchap-key`)' },
        { path: 'hosts[1].dhchap_ctrl_key', message: 'unknown key transformation hash 07 (00 none, 01 SHA-256, 02 SHA-384, 03 SHA-512)' },
        { path: 'hosts[2].dhchap_hash', message: 'must be a hash name or a non-empty list of them: hmac(sha256), hmac(sha384), hmac(sha512)' },
        { path: 'hosts[2].dhchap_dhgroup', message: 'must not repeat a name' },
        { path: 'hosts[2].dhchap_ctrl_key', message: 'needs dhchap_key (authentication is off for this host)' },
        { path: 'hosts[2].dhchap_hash', message: 'needs dhchap_key (authentication is off for this host)' },
        { path: 'hosts[2].dhchap_dhgroup', message: 'needs dhchap_key (authentication is off for this host)' },
      ]);
    });
  });

  it.each([
    ['lots', 'invalid size "lots": expected a byte count'],
    [0, 'must be greater than 0'],
    ['1.1TiB', 'invalid size "1.1TiB": not a whole number of bytes'],
    [1000, 'must be a multiple of lba_size (512), got 1000 bytes'],
    [true, 'must be a size'],
  ])('reports bad capacity %j', (capacity, reason) => {
    const errs = issues(() => validateTopology(topo((t) => (t.subsystems[0].namespaces[0].emulation.capacity = capacity))));
    expect(errs).toHaveLength(1);
    expect(errs[0]!.path).toBe('subsystems[0].namespaces[0].emulation.capacity');
    expect(errs[0]!.message).toContain(reason);
  });

  it('reports a missing emulation block and a missing capacity', () => {
    const errs = issues(() =>
      validateTopology(
        topo((t) => {
          delete t.subsystems[0].namespaces[0].emulation;
          t.subsystems[0].namespaces.push({ nsid: 2, emulation: { type: 'nvm' } });
        }),
      ),
    );
    expect(errs).toEqual([
      { path: 'subsystems[0].namespaces[0].emulation', message: 'missing required key' },
      { path: 'subsystems[0].namespaces[1].emulation.capacity', message: 'missing required key' },
    ]);
  });

  it('reports traddr not matching adrfam, both ways', () => {
    const errs = issues(() =>
      validateTopology(
        topo((t) => {
          t.ports[0].addr.traddr = '::1';
          t.ports.push({ portid: 2, addr: { trtype: 'tcp', adrfam: 'ipv6', traddr: '10.0.0.1', trsvcid: '4420' } });
          t.ports.push({ portid: 3, addr: { trtype: 'tcp', adrfam: 'ipv5', traddr: 'localhost', trsvcid: 4420 } });
        }),
      ),
    );
    expect(errs).toEqual([
      { path: 'ports[2].addr.adrfam', message: 'must be one of ipv4, ipv6' },
      { path: 'ports[0].addr.traddr', message: 'must be an IPv4 address (adrfam is ipv4), got "::1"' },
      { path: 'ports[1].addr.traddr', message: 'must be an IPv6 address (adrfam is ipv6), got "10.0.0.1"' },
      { path: 'ports[2].addr.traddr', message: 'must be an IP address, got "localhost"' },
    ]);
  });

  it('reports bad lba_size, emulation type, and trsvcid', () => {
    const errs = issues(() =>
      validateTopology(
        topo((t) => {
          t.subsystems[0].namespaces[0].emulation.lba_size = 1024;
          t.subsystems[0].namespaces.push({ nsid: 2, emulation: { type: 'ssd', capacity: 4096 } });
          t.ports[0].addr.trsvcid = '44x';
          t.ports[0].addr.trtype = 'rdma';
        }),
      ),
    );
    expect(errs).toEqual([
      { path: 'ports[0].addr.trtype', message: 'must be "tcp"' },
      { path: 'ports[0].addr.trsvcid', message: 'must be a TCP port number in 1..65535' },
      { path: 'subsystems[0].namespaces[0].emulation.lba_size', message: 'must be one of 512, 4096' },
      { path: 'subsystems[0].namespaces[1].emulation.type', message: 'must be one of nvm, conv, zns, kv' },
    ]);
  });

  it('accepts params for no emulation type (every type has explicit keys)', () => {
    const errs = issues(() => validateTopology(topo((x) => (x.subsystems[0].namespaces[0].emulation.params = {}))));
    expect(errs).toEqual([{ path: 'subsystems[0].namespaces[0].emulation.params', message: 'unknown key' }]);
    for (const type of ['conv', 'kv', 'zns']) {
      const e = issues(() => validateTopology(topo((x) => (x.subsystems[0].namespaces[0].emulation = { type, capacity: '32MiB', params: {} }))));
      expect(e).toEqual([{ path: 'subsystems[0].namespaces[0].emulation.params', message: 'unknown key' }]);
    }
  });

  it('kv: command_set defaults to nvmevirt, keys are validated with exact paths, all at once', () => {
    const t = validateTopology(topo((x) => (x.subsystems[0].namespaces[0].emulation = { type: 'kv', preset: 'kv-prototype', capacity: '64MiB' })));
    expect(t.subsystems[0]!.namespaces[0]!.emulation).toEqual({
      type: 'kv',
      preset: 'kv-prototype',
      capacity: 64 * 2 ** 20,
      lba_size: 512,
      command_set: 'nvmevirt',
      vendor_key_length: 'bytes',
    });
    const t2 = validateTopology(
      topo((x) => (x.subsystems[0].namespaces[0].emulation = { type: 'kv', capacity: '64MiB', command_set: 'nvme-kv', index_ns: 0, write_buffer_size: '2MiB' })),
    );
    expect(t2.subsystems[0]!.namespaces[0]!.emulation).toMatchObject({ command_set: 'nvme-kv', index_ns: 0, write_buffer_size: 2 * 2 ** 20 });
    const errs = issues(() =>
      validateTopology(
        topo(
          (x) =>
            (x.subsystems[0].namespaces[0].emulation = {
              type: 'kv',
              capacity: '64MiB',
              command_set: 'samsung',
              vendor_key_length: 'minus-one',
              read_latency_ns: 5,
              channels: 0,
              flash_page_size: '6KiB',
              index_ns: -1,
            }),
        ),
      ),
    );
    const P = 'subsystems[0].namespaces[0].emulation';
    expect(errs).toEqual(
      expect.arrayContaining([
        { path: `${P}.command_set`, message: 'must be one of nvmevirt, nvme-kv' },
        { path: `${P}.vendor_key_length`, message: 'must be one of bytes, zero-based' },
        { path: `${P}.read_latency_ns`, message: 'unknown key' },
        { path: `${P}.channels`, message: 'must be >= 1' },
        { path: `${P}.flash_page_size`, message: 'must be a multiple of 4 KiB (4096 bytes)' },
        { path: `${P}.index_ns`, message: 'must be >= 0' },
      ]),
    );
    expect(errs).toHaveLength(6);
  });

  it('reports duplicates, NQN problems and cntlid range', () => {
    const errs = issues(() =>
      validateTopology(
        topo((t) => {
          t.hosts.push({ nqn: HOST });
          t.ports.push({ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '0.0.0.0', trsvcid: 4420 } });
          t.subsystems.push({ nqn: SUB }, { nqn: 'nqn.2014-08.org.nvmexpress.discovery' }, { nqn: 'iqn.2001-04.com.example' });
          t.subsystems[0].attr.cntlid_min = '10';
          t.subsystems[0].attr.cntlid_max = 5;
          t.subsystems[0].attr.serial = 'é';
        }),
      ),
    );
    expect(errs).toEqual([
      { path: 'subsystems[0].attr.serial', message: 'must contain only printable ASCII characters' },
      { path: 'subsystems[2].nqn', message: 'must not be the discovery NQN' },
      { path: 'subsystems[3].nqn', message: 'must be an NQN starting with "nqn."' },
      { path: 'hosts[1].nqn', message: 'duplicate host NQN (also at hosts[0].nqn)' },
      { path: 'subsystems[0].attr.cntlid_min', message: 'must be <= cntlid_max (5)' },
      { path: 'subsystems[1].nqn', message: 'duplicate subsystem NQN (also at subsystems[0].nqn)' },
      { path: 'ports[1].portid', message: 'duplicate portid 1 (also at ports[0])' },
      { path: 'ports[1].addr', message: 'listen address 0.0.0.0:4420 conflicts with ports[0] (127.0.0.1:4420)' },
    ]);
  });

  it('rejects non-empty referrals but ignores ana_groups', () => {
    const errs = issues(() => validateTopology(topo((t) => (t.ports[0].referrals = [{ name: 'r1' }]))));
    expect(errs).toEqual([{ path: 'ports[0].referrals', message: 'referrals are not supported (must be empty)' }]);
    expect(() => validateTopology(topo((t) => (t.ports[0].ana_groups = [{ grpid: 1 }])))).not.toThrow();
  });

  it('reports multiple errors together, one `path: reason` per message line', () => {
    let err: unknown;
    try {
      validateTopology(
        topo((t) => {
          t.extra = true;
          t.ports[0].addr.adrfam = 'ipv6';
          t.subsystems[0].namespaces[0].emulation.lba_size = 520;
          t.subsystems[0].namespaces.push({ nsid: 1, emulation: { type: 'nvm', capacity: '1MiB' } });
        }),
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect(ce.errors).toEqual([
      { path: 'extra', message: 'unknown key' },
      { path: 'subsystems[0].namespaces[0].emulation.lba_size', message: 'must be one of 512, 4096' },
      { path: 'subsystems[0].namespaces[1].nsid', message: 'duplicate nsid 1 (also at subsystems[0].namespaces[0])' },
      { path: 'ports[0].addr.traddr', message: 'must be an IPv6 address (adrfam is ipv6), got "127.0.0.1"' },
    ]);
    expect(ce.message.split('\n')).toEqual(ce.errors.map((e) => `${e.path}: ${e.message}`));
  });
});

describe('loadSettings', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('returns defaults and ignores process.env/process.argv unless passed', () => {
    vi.stubEnv('NVMF_EMU_HTTP_PORT', '1111');
    expect(loadSettings({})).toEqual({
      config: '',
      log_level: 'info',
      http: { address: '127.0.0.1', port: 9464, enabled: true, token: '' },
      metrics: { enabled: true },
      limits: { max_connections: 4096, max_controllers: 1024, max_queue_size: 1024, max_memory: 0 },
      workers: 0,
      advertise_address: '',
    });
  });

  it('applies precedence default < file < env < flag for http.port', () => {
    const fileSettings = { http: { port: 1001 } };
    const env = { NVMF_EMU_HTTP_PORT: '1002' };
    expect(loadSettings({}).http.port).toBe(9464);
    expect(loadSettings({ fileSettings }).http.port).toBe(1001);
    expect(loadSettings({ fileSettings, env }).http.port).toBe(1002);
    expect(loadSettings({ fileSettings, env, argv: ['--http-port', '1003'] }).http.port).toBe(1003);
    expect(loadSettings({ fileSettings, env, argv: ['--http-port=0'] }).http.port).toBe(0);
  });

  it('coerces env strings strictly (booleans, numbers) and ignores empty env vars', () => {
    const s = loadSettings({
      env: { NVMF_EMU_HTTP_ENABLED: '0', NVMF_EMU_WORKERS: '4', NVMF_EMU_LOG_LEVEL: 'debug', NVMF_EMU_HTTP_ADDRESS: '' },
    });
    expect(s.http.enabled).toBe(false);
    expect(s.workers).toBe(4);
    expect(s.log_level).toBe('debug');
    expect(s.http.address).toBe('127.0.0.1');
    expect(loadSettings({ argv: ['--no-http-enabled'] }).http.enabled).toBe(false);
    expect(loadSettings({ fileSettings: { http: { enabled: '1' } } }).http.enabled).toBe(true);
    expect(loadSettings({ env: { NVMF_EMU_METRICS_ENABLED: 'false' } }).metrics.enabled).toBe(false);
    expect(loadSettings({ argv: ['--metrics-enabled', 'off'] }).metrics.enabled).toBe(false);
    expect(loadSettings({ env: { NVMF_EMU_MAX_MEMORY: '16GiB' } }).limits.max_memory).toBe('16GiB');
    expect(() => loadSettings({ env: { NVMF_EMU_MAX_MEMORY: '16GB' } })).toThrow(/limits.max_memory/);
    expect(() => loadSettings({ argv: ['--max-queue-size', '1'] })).toThrow(/limits.max_queue_size: must be an integer from 2 to 65536/);
  });

  it('names the environment variable or flag the bad value came from', () => {
    expect(issues(() => loadSettings({ env: { NVMF_EMU_HTTP_PORT: '80abc' } }))).toEqual([
      {
        path: 'settings.http.port',
        message: 'must be a port number 0..65535 (0 = ephemeral), got "80abc" (from environment variable NVMF_EMU_HTTP_PORT)',
      },
    ]);
    expect(issues(() => loadSettings({ env: { NVMF_EMU_HTTP_ENABLED: 'yes please' } }))[0]!.message).toContain(
      '(from environment variable NVMF_EMU_HTTP_ENABLED)',
    );
    expect(issues(() => loadSettings({ argv: ['--http-port', '70000'] }))).toEqual([
      { path: 'settings.http.port', message: 'must be a port number 0..65535 (0 = ephemeral), got 70000 (from --http-port)' },
    ]);
    // A value from the file layer carries no source suffix; the path says it all.
    expect(issues(() => loadSettings({ fileSettings: { log_level: 'loud' } }))).toEqual([
      { path: 'settings.log_level', message: 'must be one of fatal, error, warn, info, debug, trace, silent, got "loud"' },
    ]);
  });

  it('rejects unknown and misshapen file settings, all at once', () => {
    const errs = issues(() =>
      loadSettings({
        fileSettings: { http: { port: 'x', colour: 1 }, verbose: true, workers: {}, config: 'other.json', advertise_address: 'example.com' },
        env: { NVMF_EMU_WORKERS: '-2' },
      }),
    );
    expect(errs).toEqual([
      { path: 'settings.http.colour', message: 'unknown key' },
      { path: 'settings.verbose', message: 'unknown key' },
      { path: 'settings.workers', message: 'must not be an object' },
      { path: 'settings.config', message: 'cannot be set inside the topology file (use --config or NVMF_EMU_CONFIG)' },
      { path: 'settings.http.port', message: 'must be a port number 0..65535 (0 = ephemeral), got "x"' },
      { path: 'settings.workers', message: 'must be a non-negative integer, got "-2" (from environment variable NVMF_EMU_WORKERS)' },
      {
        path: 'settings.advertise_address',
        message: 'must be an IP address, or "" to use the listener address, got "example.com"',
      },
    ]);
    expect(issues(() => loadSettings({ fileSettings: { http: 8080 } }))).toEqual([
      { path: 'settings.http', message: 'must be object' },
    ]);
  });
});

describe('loadConfig', () => {
  it('uses DEFAULT_TOPOLOGY when no config file is set', () => {
    const c = loadConfig({ env: { NVMF_EMU_LOG_LEVEL: 'warn' } });
    expect(c.source).toBe('default');
    expect(c.topology).toEqual(validateTopology(DEFAULT_TOPOLOGY));
    expect(c.settings.log_level).toBe('warn');
  });

  it('reads the file named by env or flag and layers its settings under env', () => {
    const files: string[] = [];
    const readFile = (p: string): string => {
      files.push(p);
      return JSON.stringify(topo((t) => (t.settings = { http: { port: 2001, address: '0.0.0.0' }, log_level: 'debug' })));
    };
    const c = loadConfig({
      env: { NVMF_EMU_CONFIG: '/env.json', NVMF_EMU_HTTP_PORT: '2002' },
      argv: ['--config', '/flag.json'],
      readFile,
    });
    expect(files).toEqual(['/flag.json']);
    expect(c.source).toBe('/flag.json');
    expect(c.settings).toMatchObject({ config: '/flag.json', log_level: 'debug', http: { port: 2002, address: '0.0.0.0' } });
    expect(c.topology.subsystems[0]!.nqn).toBe(SUB);
  });

  it('reads a real file from disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nvmf-emu-config-'));
    try {
      const path = join(dir, 'topology.json');
      writeFileSync(path, '\uFEFF' + JSON.stringify(topo()));
      expect(loadConfig({ argv: [`--config=${path}`] }).topology.ports[0]!.addr.trsvcid).toBe(4420);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing file and invalid JSON naming the file', () => {
    const missing = join(tmpdir(), 'nvmf-emu-definitely-missing.json');
    let err: unknown;
    try {
      loadConfig({ env: { NVMF_EMU_CONFIG: missing } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).errors).toEqual([{ path: missing, message: 'cannot read topology file: file not found' }]);
    expect((err as ConfigError).source).toBe(missing);

    const errs = issues(() => loadConfig({ argv: ['--config', 'bad.json'], readFile: () => '{"hosts": [' }));
    expect(errs).toHaveLength(1);
    expect(errs[0]!.path).toBe('bad.json');
    expect(errs[0]!.message).toMatch(/^invalid JSON: /);
  });

  it('reports topology and settings errors together', () => {
    const errs = issues(() =>
      loadConfig({
        argv: ['--config', 'x.json', '--workers', 'many'],
        readFile: () => JSON.stringify(topo((t) => ((t.settings = { http: { port: -1 } }), (t.ports[0].portid = 0)))),
      }),
    );
    expect(errs).toEqual([
      { path: 'ports[0].portid', message: 'must be >= 1' },
      { path: 'settings.http.port', message: 'must be a port number 0..65535 (0 = ephemeral), got -1' },
      { path: 'settings.workers', message: 'must be a non-negative integer, got "many" (from --workers)' },
    ]);
  });
});

describe('emulation blocks (presets and per-type keys)', () => {
  const P = 'subsystems[0].namespaces[0].emulation';
  const withEmulation = (emulation: unknown) => topo((t) => (t.subsystems[0].namespaces[0].emulation = emulation));

  it('normalises a conv block: sizes to bytes, preset kept, only the given keys', () => {
    const t = validateTopology(
      withEmulation({
        type: 'conv',
        preset: 'samsung-970pro',
        capacity: '1GiB',
        write_buffer_size: '2MiB',
        read_4k_latency_ns: [30000, 40000],
        read_latency_ns: 50000,
        erase_latency_ns: 0,
        gc_policy: 'cost-benefit',
        over_provisioning: 0.28,
      }),
    );
    expect(t.subsystems[0]!.namespaces[0]!.emulation).toEqual({
      type: 'conv',
      preset: 'samsung-970pro',
      capacity: GiB,
      lba_size: 512,
      write_buffer_size: 2 * 1024 ** 2,
      read_4k_latency_ns: [30000, 40000],
      read_latency_ns: 50000,
      erase_latency_ns: 0,
      gc_policy: 'cost-benefit',
      over_provisioning: 0.28,
    });
  });

  it('normalises nvm: latencies default to 0 without a preset, to the preset with one', () => {
    const plain = validateTopology(withEmulation({ type: 'nvm', capacity: '1MiB', io_units: 8 }));
    expect(plain.subsystems[0]!.namespaces[0]!.emulation).toEqual({
      type: 'nvm',
      capacity: 1024 ** 2,
      lba_size: 512,
      read_latency_ns: 0,
      write_latency_ns: 0,
      io_units: 8,
    });
    const optane = validateTopology(withEmulation({ type: 'nvm', preset: 'intel-optane', capacity: '1MiB', write_latency_ns: 12000 }));
    expect(optane.subsystems[0]!.namespaces[0]!.emulation).toEqual({
      type: 'nvm',
      preset: 'intel-optane',
      capacity: 1024 ** 2,
      lba_size: 512,
      write_latency_ns: 12000,
    });
  });

  it('validates the preset against the presets of the type, naming them', () => {
    const errs = issues(() => validateTopology(withEmulation({ type: 'conv', preset: 'intel-optane', capacity: '1GiB' })));
    expect(errs).toEqual([{ path: `${P}.preset`, message: 'must be one of samsung-970pro' }]);
    const nvm = issues(() => validateTopology(withEmulation({ type: 'nvm', preset: 'samsung-970pro', capacity: '1GiB' })));
    expect(nvm).toEqual([{ path: `${P}.preset`, message: 'must be one of intel-optane' }]);
    for (const [type, preset, capacity] of [['zns', 'wd-zn540', '4GiB'], ['zns', 'zns-prototype', '64MiB'], ['kv', 'kv-prototype', '64MiB']]) {
      expect(() => validateTopology(withEmulation({ type, preset, capacity }))).not.toThrow();
    }
  });

  it('reports unknown and bad conv keys with their exact paths, all at once', () => {
    const errs = issues(() =>
      validateTopology(
        withEmulation({
          type: 'conv',
          capacity: '1GiB',
          write_latency_ns: 5,
          channel: 8,
          gc_policy: 'lru',
          over_provisioning: 1.5,
          flash_page_size: '6KiB',
          read_latency_ns: [1, 2, 3, 4, 5],
          channels: 0,
          pcie_bw_mibps: 0,
        }),
      ),
    );
    expect(errs).toEqual(
      expect.arrayContaining([
        { path: `${P}.write_latency_ns`, message: 'unknown key' },
        { path: `${P}.channel`, message: 'unknown key' },
        { path: `${P}.gc_policy`, message: 'must be one of greedy, cost-benefit' },
        { path: `${P}.over_provisioning`, message: 'must be <= 1' },
        { path: `${P}.flash_page_size`, message: 'must be a multiple of 4 KiB (4096 bytes)' },
        { path: `${P}.read_latency_ns`, message: expect.stringMatching(/^must be a latency in ns/) },
        { path: `${P}.channels`, message: 'must be >= 1' },
        { path: `${P}.pcie_bw_mibps`, message: 'must be > 0' },
      ]),
    );
    expect(errs).toHaveLength(8);
    const nvm = issues(() => validateTopology(withEmulation({ type: 'nvm', capacity: '1GiB', io_units: -1, slot: 4 })));
    expect(nvm).toEqual([
      { path: `${P}.slot`, message: 'unknown key' },
      { path: `${P}.io_units`, message: 'must be >= 0' },
    ]);
  });

  it('normalises a zns block (sizes to bytes) and reports bad zns keys with their exact paths', () => {
    const t = validateTopology(
      withEmulation({ type: 'zns', preset: 'wd-zn540', capacity: '64MiB', zone_size: '4MiB', zone_capacity: '3MiB', max_open_zones: 4, max_active_zones: 6, zone_append_size_limit: '128KiB', erase_latency_ns: 1000 }),
    );
    expect(t.subsystems[0]!.namespaces[0]!.emulation).toEqual({
      type: 'zns',
      preset: 'wd-zn540',
      capacity: 64 * 1024 ** 2,
      lba_size: 512,
      zone_size: 4 * 1024 ** 2,
      zone_capacity: 3 * 1024 ** 2,
      max_open_zones: 4,
      max_active_zones: 6,
      zone_append_size_limit: 128 * 1024,
      erase_latency_ns: 1000,
    });
    const schema = issues(() =>
      validateTopology(withEmulation({ type: 'zns', capacity: '64MiB', zone_size: 'big', max_open_zones: -1, zone_count: 4, write_early_completion: 'yes' })),
    );
    expect(schema).toEqual(
      expect.arrayContaining([
        { path: `${P}.zone_count`, message: 'unknown key' },
        { path: `${P}.zone_size`, message: expect.any(String) },
        { path: `${P}.max_open_zones`, message: 'must be >= 0' },
        { path: `${P}.write_early_completion`, message: 'must be boolean' },
      ]),
    );
    expect(schema).toHaveLength(4);
    const together = issues(() =>
      validateTopology(
        withEmulation({ type: 'zns', capacity: '20MiB', zone_size: '3MiB', zone_capacity: '5MiB', max_open_zones: 8, max_active_zones: 4, zone_append_size_limit: '12KiB', zone_descriptor_extension_size: 100 }),
      ),
    );
    expect(together).toEqual([
      { path: `${P}.zone_size`, message: 'must be a power of two number of logical blocks (lba_size 512), as Linux requires; got 3145728 bytes' },
      { path: `${P}.zone_capacity`, message: 'must be a multiple of lba_size (512) and at most zone_size (3145728), got 5242880' },
      { path: `${P}.max_open_zones`, message: 'must be at most max_active_zones (4), got 8' },
      { path: `${P}.zone_append_size_limit`, message: "must be a power of two from 8 KiB to 1 MiB (ZASL cannot say 4 KiB: 0 means MDTS; 1 MiB is the controller's MDTS), got 12288" },
      { path: `${P}.zone_descriptor_extension_size`, message: 'must be a multiple of 64 bytes up to 16320, got 100' },
    ]);
    const whole = issues(() => validateTopology(withEmulation({ type: 'zns', capacity: '20MiB', zone_size: '8MiB' })));
    expect(whole).toEqual([{ path: `${P}.capacity`, message: 'must be a whole number of zones (zone_size 8388608 bytes), got 20971520 bytes' }]);
    // Conventional zones are refused by name, with the reason and the way out.
    const conventional = issues(() => validateTopology(withEmulation({ type: 'zns', capacity: '64MiB', zone_size: '8MiB', conventional_zones: 2 })));
    expect(conventional).toEqual([{ path: `${P}.conventional_zones`, message: expect.stringMatching(/only sequential-write-required zones.*nvm or conv namespace/) }]);
    expect(() => validateTopology(withEmulation({ type: 'zns', capacity: '64MiB', zone_size: '8MiB', conventional_zones: 0 }))).not.toThrow();
    // ZASL 0 means "MDTS", so a 4 KiB limit could not be reported truthfully.
    const fourK = issues(() => validateTopology(withEmulation({ type: 'zns', capacity: '64MiB', zone_size: '8MiB', zone_append_size_limit: '4KiB' })));
    expect(fourK.map((e) => e.path)).toEqual([`${P}.zone_append_size_limit`]);
  });

  it('reports keys that are fine alone but not together with the preset', () => {
    const errs = issues(() =>
      validateTopology(
        withEmulation({ type: 'conv', preset: 'samsung-970pro', capacity: '1GiB', oneshot_page_size: '48KiB', cell_type: 'tlc' }),
      ),
    );
    expect(errs).toEqual([
      { path: `${P}.oneshot_page_size`, message: 'must be a positive multiple of flash_page_size (32768), got 49152' },
      { path: `${P}.read_4k_latency_ns`, message: 'must list 3 latencies for TLC (lsb, csb, msb), got 2' },
      { path: `${P}.read_latency_ns`, message: 'must list 3 latencies for TLC (lsb, csb, msb), got 2' },
    ]);
    // One number applies to every page type, so this combination is fine.
    expect(() =>
      validateTopology(withEmulation({ type: 'conv', capacity: '1GiB', cell_type: 'tlc', read_4k_latency_ns: 50000, read_latency_ns: 58000 })),
    ).not.toThrow();
  });
});
