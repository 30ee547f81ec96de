// Byte-size parsing for capacities and similar settings.
//
// All unit letters are binary (K = KiB = 1024). "KB"/"MB"/"GB"/... are rejected
// rather than guessed: for SSD capacities the SI/binary ambiguity is a real
// 7% trap, so the user must say "GiB" (or give a plain byte count).

const UNIT_SHIFT: Record<string, bigint> = { '': 0n, K: 10n, M: 20n, G: 30n, T: 40n, P: 50n, E: 60n };
const SIZE_RE = /^(\d+)(?:\.(\d+))?\s*(?:([KMGTPE])(i)?)?(B)?$/i;
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Parse a byte size: a non-negative integer number, or a string such as "512",
 * "4KiB", "64MiB", "1G", "1.5GiB", "1TiB", "512B". Units are case-insensitive
 * and always powers of 1024. The result must be a whole number of bytes that
 * fits in a JS safe integer. Throws Error with the reason otherwise.
 */
export function parseSize(v: string | number): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`invalid size ${v}: must be a finite number of bytes`);
    if (v < 0) throw new Error(`invalid size ${v}: must not be negative`);
    if (!Number.isInteger(v)) throw new Error(`invalid size ${v}: must be a whole number of bytes`);
    if (!Number.isSafeInteger(v)) throw new Error(`invalid size ${v}: too large (max ${Number.MAX_SAFE_INTEGER} bytes)`);
    return v;
  }
  if (typeof v !== 'string') throw new Error(`invalid size: must be a number or a string, got ${typeof v}`);
  const s = v.trim();
  if (s === '') throw new Error('invalid size "": empty string');
  const m = SIZE_RE.exec(s);
  if (!m) {
    throw new Error(
      `invalid size ${JSON.stringify(v)}: expected a byte count or a number with a binary unit ` +
        '(K, M, G, T, P, KiB, MiB, GiB, TiB, PiB; e.g. "64MiB", "1.5GiB")',
    );
  }
  const [whole, frac = '', letter = '', i, b] = m.slice(1) as [string, string?, string?, string?, string?];
  if (letter && !i && b) {
    const u = `${letter.toUpperCase()}B`;
    throw new Error(`invalid size ${JSON.stringify(v)}: ambiguous unit "${u}", write "${letter.toUpperCase()}iB" (binary) or a plain byte count`);
  }
  if (i && !b) throw new Error(`invalid size ${JSON.stringify(v)}: incomplete unit, did you mean "${letter.toUpperCase()}iB"?`);
  // Exact decimal arithmetic so "1.1TiB" is rejected instead of silently rounded.
  const num = BigInt(whole + frac) << UNIT_SHIFT[letter.toUpperCase()]!;
  const den = 10n ** BigInt(frac.length);
  if (num % den !== 0n) throw new Error(`invalid size ${JSON.stringify(v)}: not a whole number of bytes`);
  const bytes = num / den;
  if (bytes > MAX) throw new Error(`invalid size ${JSON.stringify(v)}: too large (max ${Number.MAX_SAFE_INTEGER} bytes)`);
  return Number(bytes);
}
