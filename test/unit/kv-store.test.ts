import { describe, expect, it } from 'vitest';
import { KvStore, MAX_ITERATORS } from '../../src/devices/kv/kv-store.js';
import { Status } from '../../src/protocol/status.js';

const k = (s: string): Buffer => Buffer.from(s);
const store = (capacityBytes = 1 << 20, maxValueBytes = 4096): KvStore => new KvStore({ capacityBytes, maxValueBytes });

describe('KvStore', () => {
  it('stores, retrieves, overwrites, deletes; 16-byte keys are ordinary keys', () => {
    const s = store();
    const key16 = k('0123456789abcdef');
    expect(s.store(key16, k('v1'))).toBe(Status.Success);
    expect(s.retrieve(key16)!.toString()).toBe('v1');
    expect(s.store(key16, k('value two'))).toBe(Status.Success);
    expect(s.retrieve(key16)!.toString()).toBe('value two');
    expect(s.exists(key16)).toBe(true);
    expect(s.delete(key16)).toBe(true);
    expect(s.exists(key16)).toBe(false);
    expect(s.retrieve(key16)).toBeNull();
    expect(s.delete(key16)).toBe(false);
    expect(KvStore.keyLengthValid(16)).toBe(true);
    expect(KvStore.keyLengthValid(17)).toBe(false);
    expect(KvStore.keyLengthValid(0)).toBe(false);
  });

  it('copies the value in and never mutates a stored value (a retrieve in flight keeps its bytes)', () => {
    const s = store();
    const src = k('abc');
    s.store(k('x'), src);
    src[0] = 0x7a;
    const seen = s.retrieve(k('x'))!;
    expect(seen.toString()).toBe('abc');
    s.store(k('x'), k('def'), { append: true });
    expect(seen.toString()).toBe('abc');
    expect(s.retrieve(k('x'))!.toString()).toBe('abcdef');
  });

  it('store options: must exist, must not exist, append', () => {
    const s = store();
    expect(s.store(k('a'), k('1'), { mustExist: true })).toBe(Status.KvKeyDoesNotExist);
    expect(s.exists(k('a'))).toBe(false);
    expect(s.store(k('a'), k('1'), { mustNotExist: true })).toBe(Status.Success);
    expect(s.store(k('a'), k('2'), { mustNotExist: true })).toBe(Status.KvKeyExists);
    expect(s.retrieve(k('a'))!.toString()).toBe('1');
    expect(s.store(k('a'), k('3'), { mustExist: true })).toBe(Status.Success);
    expect(s.store(k('a'), k('45'), { append: true })).toBe(Status.Success);
    expect(s.retrieve(k('a'))!.toString()).toBe('345');
    expect(s.store(k('b'), k('new'), { append: true })).toBe(Status.Success); // append to nothing = store
    expect(s.retrieve(k('b'))!.toString()).toBe('new');
    expect(s.store(k('c'), k('x'), { append: true, mustExist: true })).toBe(Status.KvKeyDoesNotExist);
  });

  it('values beyond the maximum fail with Invalid Value Size, appends included', () => {
    const s = store(1 << 20, 8);
    expect(s.store(k('a'), Buffer.alloc(9))).toBe(Status.KvInvalidValueSize);
    expect(s.store(k('a'), Buffer.alloc(8))).toBe(Status.Success);
    expect(s.store(k('a'), Buffer.alloc(1), { append: true })).toBe(Status.KvInvalidValueSize);
    expect(s.retrieve(k('a'))!.length).toBe(8);
    expect(s.store(k('e'), Buffer.alloc(0))).toBe(Status.Success);
    expect(s.retrieve(k('e'))!.length).toBe(0);
  });

  it('accounts key + value bytes and reclaims on delete and overwrite; a full namespace says Capacity Exceeded', () => {
    const s = store(100, 100);
    expect(s.store(k('k1'), Buffer.alloc(48))).toBe(Status.Success); // 50 bytes
    expect(s.usedBytes).toBe(50);
    expect(s.store(k('k2'), Buffer.alloc(48))).toBe(Status.Success); // 100
    expect(s.usedBytes).toBe(100);
    expect(s.store(k('k3'), Buffer.alloc(1))).toBe(Status.CapacityExceeded);
    expect(s.exists(k('k3'))).toBe(false);
    // Overwrite counts the space it frees: same size fits, smaller shrinks usage.
    expect(s.store(k('k1'), Buffer.alloc(48))).toBe(Status.Success);
    expect(s.store(k('k1'), Buffer.alloc(8))).toBe(Status.Success);
    expect(s.usedBytes).toBe(60);
    expect(s.store(k('k3'), Buffer.alloc(38))).toBe(Status.Success);
    expect(s.usedBytes).toBe(100);
    // Deletes free space for good: fill and empty many times over (NVMeVirt's allocator would run out).
    expect(s.delete(k('k2'))).toBe(true);
    expect(s.delete(k('k3'))).toBe(true);
    for (let i = 0; i < 1000; i++) {
      expect(s.store(k('big'), Buffer.alloc(87))).toBe(Status.Success); // 90 bytes: exactly the free space
      expect(s.delete(k('big'))).toBe(true);
    }
    expect(s.usedBytes).toBe(10);
    expect(s.keys).toBe(1);
  });

  it('lists keys in byte order from a start key', () => {
    const s = store();
    for (const key of ['b', 'a', 'ab', 'c', 'bb']) s.store(k(key), k('v'));
    expect(s.list(Buffer.alloc(0)).map(String)).toEqual(['a', 'ab', 'b', 'bb', 'c']);
    expect(s.list(k('ab')).map(String)).toEqual(['ab', 'b', 'bb', 'c']);
    expect(s.list(k('b'), 2).map(String)).toEqual(['b', 'bb']);
    s.delete(k('b'));
    expect(s.list(k('b')).map(String)).toEqual(['bb', 'c']);
  });

  it('iterators walk the keys with a prefix, resumable, and close; handles are limited', () => {
    const s = store();
    for (const key of ['p1', 'p2', 'p3', 'q1', 'o9']) s.store(k(key), k('v'));
    const h = s.openIterator(k('p'));
    expect(h).toBeGreaterThan(0);
    expect(s.peekIterator(h, 2)!.map(String)).toEqual(['p1', 'p2']);
    s.advanceIterator(h, 2);
    expect(s.peekIterator(h, 10)!.map(String)).toEqual(['p3']);
    s.advanceIterator(h, 1);
    expect(s.peekIterator(h, 10)).toEqual([]);
    expect(s.closeIterator(h)).toBe(true);
    expect(s.peekIterator(h, 1)).toBeNull();
    const all = s.openIterator(Buffer.alloc(0));
    expect(s.peekIterator(all, 100)!.map(String)).toEqual(['o9', 'p1', 'p2', 'p3', 'q1']);
    for (let i = 1; i < MAX_ITERATORS; i++) expect(s.openIterator(Buffer.alloc(0))).toBeGreaterThan(0);
    expect(s.openIterator(Buffer.alloc(0))).toBe(0);
  });

  it('stats() is a stable plain object: keys, bytes, capacity, commands by op', () => {
    const s = store(4096);
    expect(s.stats()).toEqual({ keys: 0, usedBytes: 0, capacityBytes: 4096, commands: { store: 0, retrieve: 0, delete: 0, exist: 0, list: 0 } });
    s.store(k('a'), k('xyz'));
    s.store(k('a'), k('q'), { mustNotExist: true });
    s.retrieve(k('a'));
    s.exists(k('zz'));
    s.list(Buffer.alloc(0));
    s.delete(k('nope'));
    expect(s.stats()).toEqual({ keys: 1, usedBytes: 4, capacityBytes: 4096, commands: { store: 2, retrieve: 1, delete: 1, exist: 1, list: 1 } });
    expect(JSON.parse(JSON.stringify(s.stats()))).toEqual(s.stats());
  });
});
