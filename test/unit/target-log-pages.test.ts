// Log page layouts byte by byte (NVMe Base 2.0 5.16): SMART / health, error information entry,
// Get Log Page field decoding. Expected bytes are written out by hand.
import { describe, expect, it } from 'vitest';
import {
  bytesToDataUnits,
  decodeGetLogPage,
  encodeChangedNsList,
  encodeEffectsLog,
  encodeFirmwareSlotLog,
  encodeSmartLog,
  writeErrorLogEntry,
  type SmartLogFields,
} from '../../src/protocol/log-pages.js';

const hex = (b: Buffer, off: number, len: number): string => b.subarray(off, off + len).toString('hex');
const zeros = (n: number): string => '00'.repeat(n);

function smart(over: Partial<SmartLogFields> = {}): SmartLogFields {
  return {
    criticalWarning: 0x02,
    temperatureK: 308,
    availableSpare: 100,
    spareThreshold: 10,
    percentageUsed: 3,
    dataUnitsRead: 0x0102n,
    dataUnitsWritten: (1n << 64n) + 5n,
    hostReadCommands: 0xdeadbeefn,
    hostWriteCommands: 7n,
    controllerBusyMinutes: 9n,
    powerCycles: 1n,
    powerOnHours: 0x1234n,
    unsafeShutdowns: 0n,
    mediaErrors: 0n,
    errorLogEntries: 0x42n,
    ...over,
  };
}

describe('SMART / Health Information (02h)', () => {
  const b = encodeSmartLog(smart());

  it('is 512 bytes', () => {
    expect(b.length).toBe(512);
  });

  it('critical warning 0, composite temperature 1..2, spare 3, threshold 4, percentage used 5', () => {
    expect(hex(b, 0, 6)).toBe('02' + '3401' + '64' + '0a' + '03');
    expect(hex(b, 6, 26)).toBe(zeros(26));
  });

  it('128-bit LE counters: data units read 32, written 48, host reads 64, host writes 80', () => {
    expect(hex(b, 32, 16)).toBe('0201000000000000' + zeros(8));
    expect(hex(b, 48, 16)).toBe('0500000000000000' + '0100000000000000');
    expect(hex(b, 64, 16)).toBe('efbeadde00000000' + zeros(8));
    expect(hex(b, 80, 16)).toBe('0700000000000000' + zeros(8));
  });

  it('busy time 96, power cycles 112, power on hours 128, unsafe shutdowns 144, media errors 160, error entries 176', () => {
    expect(hex(b, 96, 16)).toBe('09' + zeros(15));
    expect(hex(b, 112, 16)).toBe('01' + zeros(15));
    expect(hex(b, 128, 16)).toBe('3412' + zeros(14));
    expect(hex(b, 144, 32)).toBe(zeros(32));
    expect(hex(b, 176, 16)).toBe('42' + zeros(15));
    expect(hex(b, 192, 512 - 192)).toBe(zeros(512 - 192));
  });

  it('percentage used saturates at 255', () => {
    expect(encodeSmartLog(smart({ percentageUsed: 300 }))[5]).toBe(255);
  });

  it('the largest 128-bit value fills all 16 bytes', () => {
    const c = encodeSmartLog(smart({ hostWriteCommands: (1n << 128n) - 1n }));
    expect(hex(c, 80, 16)).toBe('ff'.repeat(16));
  });
});

describe('data units: thousands of 512-byte units, rounded up', () => {
  it.each([
    [0n, 0n],
    [512n, 1n],
    [4096n, 1n],
    [512n * 1000n, 1n],
    [512n * 1001n, 2n],
    [512n * 2000n, 2n],
    [512n * 2001n, 3n],
    [1n << 20n, 3n], // 2048 units
    [1n << 40n, 2147484n], // 2^31 units = 2147483.648 thousands
  ])('%s bytes -> %s', (bytes, units) => {
    expect(bytesToDataUnits(bytes)).toBe(units);
  });
});

describe('Error Information Log entry (01h)', () => {
  it('count 0, SQID 8, CID 10, status 12 (shifted past the phase bit), PEL 14, LBA 16, NSID 24, TRTYPE 29', () => {
    const b = Buffer.alloc(64 * 2, 0xee);
    b.fill(0, 64, 128);
    const status = (1 << 14) | (2 << 8) | 0x85; // DNR, SCT 2, SC 85h (Compare Failure)
    writeErrorLogEntry(b, 64, { errorCount: 0x0102030405n, sqid: 3, cid: 0xbeef, status, paramErrorLocation: 0xffff, lba: 0x1122334455n, nsid: 0xfffffffe, trtype: 3 });
    const e = b.subarray(64);
    expect(hex(e, 0, 8)).toBe('0504030201000000');
    expect(hex(e, 8, 2)).toBe('0300');
    expect(hex(e, 10, 2)).toBe('efbe');
    expect(hex(e, 12, 2)).toBe('0a85'); // (0x4285 << 1) & 0xffff = 0x850a
    expect(hex(e, 14, 2)).toBe('ffff');
    expect(hex(e, 16, 8)).toBe('5544332211000000');
    expect(hex(e, 24, 4)).toBe('feffffff');
    expect(e[28]).toBe(0);
    expect(e[29]).toBe(3);
    expect(hex(e, 30, 34)).toBe(zeros(34));
    // The entry stays inside its 64 bytes.
    expect(b.subarray(0, 64).every((x) => x === 0xee)).toBe(true);
  });

  it('a status of 0x0002 (Invalid Field, no DNR) is stored as 0x0004', () => {
    const b = Buffer.alloc(64);
    writeErrorLogEntry(b, 0, { errorCount: 1n, sqid: 0, cid: 1, status: 0x0002, paramErrorLocation: 0xffff, lba: 0n, nsid: 0, trtype: 3 });
    expect(hex(b, 12, 2)).toBe('0400');
  });
});

describe('Get Log Page command decoding', () => {
  it('NUMDL (cdw10 31:16) and NUMDU (cdw11 15:0) give the byte length; LPO from cdw12/13', () => {
    // LID 02h, LSP 05h, RAE, NUMDL 0x007f -> 128 dwords = 512 bytes
    const d = decodeGetLogPage(0x007f0000 | (1 << 15) | (0x05 << 8) | 0x02, 0x00030000, 0x00000020, 0, 0x02800005);
    expect(d.lid).toBe(0x02);
    expect(d.lsp).toBe(0x05);
    expect(d.rae).toBe(true);
    expect(d.length).toBe(512);
    expect(d.lsi).toBe(3);
    expect(d.offset).toBe(32);
    expect(d.uuidIndex).toBe(5);
    expect(d.ot).toBe(true);
    expect(d.csi).toBe(2);
  });

  it('NUMDU extends NUMD to 32 bits; LPOU is the high dword of the offset', () => {
    const d = decodeGetLogPage(0xffff0070, 0x00000001, 0xfffffffc, 0x00000002, 0);
    expect(d.lid).toBe(0x70);
    expect(d.rae).toBe(false);
    expect(d.length).toBe((0x1ffff + 1) * 4); // NUMD = 0x0001ffff
    expect(d.offset).toBe(2 * 2 ** 32 + 0xfffffffc);
  });

  it('NUMD 0 means one dword', () => {
    expect(decodeGetLogPage(0x00000001, 0, 0, 0, 0).length).toBe(4);
  });
});

describe('other log pages', () => {
  it('firmware slot (03h): AFI at 0, FRS1 at 8 space padded', () => {
    const b = encodeFirmwareSlotLog(1, ['FW1.2']);
    expect(b.length).toBe(512);
    expect(hex(b, 0, 16)).toBe('01' + zeros(7) + Buffer.from('FW1.2').toString('hex') + '202020');
    expect(hex(b, 16, 512 - 16)).toBe(zeros(512 - 16));
  });

  it('changed namespace list (04h): NSIDs, or FFFFFFFFh when more than 1024 changed', () => {
    expect(hex(encodeChangedNsList([1, 0x10]), 0, 12)).toBe('01000000' + '10000000' + '00000000');
    const many = encodeChangedNsList(Array.from({ length: 1025 }, (_, i) => i + 1));
    expect(hex(many, 0, 8)).toBe('ffffffff' + '00000000');
  });

  it('commands supported and effects (05h): admin at opcode x 4, I/O at 1024 + opcode x 4', () => {
    const b = encodeEffectsLog(new Map([[0x06, 1]]), new Map([[0x01, 3]]));
    expect(b.length).toBe(4096);
    expect(hex(b, 24, 4)).toBe('01000000');
    expect(hex(b, 1028, 4)).toBe('03000000');
  });
});
