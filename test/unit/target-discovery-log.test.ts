// Discovery log page (LID 70h) byte by byte: 1024-byte header, 1024-byte entries (NVMe Base 2.0
// 5.16.1.23). Expected bytes are written out by hand.
import { describe, expect, it } from 'vitest';
import { encodeDiscoveryLog, type DiscoveryEntry } from '../../src/protocol/discovery-log.js';

const hex = (b: Buffer, off: number, len: number): string => b.subarray(off, off + len).toString('hex');
const zeros = (n: number): string => '00'.repeat(n);
const spaces = (n: number): string => '20'.repeat(n);
const asciiHex = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

const DISC_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
const NVM_NQN = 'nqn.2024-01.io.nvmf-emu:unit-disc';

const entries: DiscoveryEntry[] = [
  { adrfam: 1, subtype: 3, treq: 0, portid: 1, asqsz: 32, eflags: 3, trsvcid: '4420', subnqn: DISC_NQN, traddr: '192.168.1.20' },
  { adrfam: 2, subtype: 2, treq: 2, portid: 0x0102, asqsz: 32, eflags: 0, trsvcid: '8009', subnqn: NVM_NQN, traddr: 'fd00::2' },
];

describe('discovery log page', () => {
  const b = encodeDiscoveryLog(0x0a0b0c0dn, entries);

  it('is a 1024-byte header plus 1024 bytes per entry', () => {
    expect(b.length).toBe(1024 + 2 * 1024);
  });

  it('header: GENCTR at 0, NUMREC at 8, RECFMT at 16, rest reserved', () => {
    expect(hex(b, 0, 18)).toBe('0d0c0b0a00000000' + '0200000000000000' + '0000');
    expect(hex(b, 18, 1024 - 18)).toBe(zeros(1024 - 18));
  });

  it('entry 0: TRTYPE 3, ADRFAM, SUBTYPE, TREQ, PORTID at 4, CNTLID FFFFh at 6, ASQSZ at 8, EFLAGS at 10', () => {
    const e = b.subarray(1024, 2048);
    expect(hex(e, 0, 12)).toBe('03' + '01' + '03' + '00' + '0100' + 'ffff' + '2000' + '0300');
    expect(hex(e, 12, 20)).toBe(zeros(20));
  });

  it('entry 0: TRSVCID at 32 space padded (32), SUBNQN at 256 NUL padded (256), TRADDR at 512 space padded (256)', () => {
    const e = b.subarray(1024, 2048);
    expect(hex(e, 32, 32)).toBe(asciiHex('4420') + spaces(28));
    expect(hex(e, 64, 192)).toBe(zeros(192));
    expect(hex(e, 256, 256)).toBe(asciiHex(DISC_NQN) + zeros(256 - DISC_NQN.length));
    expect(hex(e, 512, 256)).toBe(asciiHex('192.168.1.20') + spaces(256 - 12));
    // TSAS (768..1023): TCP with no security, all zero.
    expect(hex(e, 768, 256)).toBe(zeros(256));
  });

  it('entry 1 follows at 2048 with its own values', () => {
    const e = b.subarray(2048, 3072);
    expect(hex(e, 0, 12)).toBe('03' + '02' + '02' + '02' + '0201' + 'ffff' + '2000' + '0000');
    expect(hex(e, 32, 32)).toBe(asciiHex('8009') + spaces(28));
    expect(hex(e, 256, 256)).toBe(asciiHex(NVM_NQN) + zeros(256 - NVM_NQN.length));
    expect(hex(e, 512, 256)).toBe(asciiHex('fd00::2') + spaces(256 - 7));
  });

  it('no entries: header only, NUMREC 0', () => {
    const empty = encodeDiscoveryLog(1n, []);
    expect(empty.length).toBe(1024);
    expect(hex(empty, 0, 16)).toBe('0100000000000000' + zeros(8));
  });

  it('a 32-character TRSVCID fills its field with no padding and does not spill', () => {
    const long = encodeDiscoveryLog(1n, [{ ...entries[0]!, trsvcid: '1'.repeat(40) }]);
    expect(hex(long, 1024 + 32, 32)).toBe('31'.repeat(32));
    expect(hex(long, 1024 + 64, 192)).toBe(zeros(192));
  });
});
