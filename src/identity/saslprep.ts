/**
 * SASLprep-lite (RFC 4013), following PostgreSQL's `pg_saslprep` as used for SCRAM verifiers:
 * pure ASCII passes unchanged; otherwise non-ASCII spaces (RFC 3454 C.1.2) become U+0020,
 * "commonly mapped to nothing" characters (B.1) are dropped, the result is NFKC-normalized,
 * and when it is empty or contains a prohibited character (C.2–C.9) the raw password is used
 * instead, as PostgreSQL does.
 *
 * Gap, documented: the unassigned-code-point check (Unicode 3.2, table A.1) and the bidi rule
 * (RFC 3454 §6) are not applied. For a password that PostgreSQL would refuse to prepare for one
 * of those two reasons (and so use raw), our verifier differs and the password will not work
 * over SCRAM; every other password gives the same bytes as PostgreSQL.
 */

type Range = readonly [number, number];

// RFC 3454 C.1.2 Non-ASCII space characters.
const NON_ASCII_SPACE: readonly Range[] = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];

// RFC 3454 B.1 Commonly mapped to nothing.
const MAPPED_TO_NOTHING: readonly Range[] = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];

// RFC 4013 §2.3 prohibited output: RFC 3454 C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9.
const PROHIBITED: readonly Range[] = [
  ...NON_ASCII_SPACE,
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x180e, 0x180e],
  [0x200c, 0x200f],
  [0x2028, 0x202e],
  [0x2060, 0x2063],
  [0x206a, 0x206f],
  [0xfeff, 0xfeff],
  [0xfff9, 0xfffd],
  [0x1d173, 0x1d17a],
  [0xe000, 0xf8ff],
  [0xf0000, 0xffffd],
  [0x100000, 0x10fffd],
  [0xfdd0, 0xfdef],
  [0xd800, 0xdfff],
  [0x2ff0, 0x2ffb],
  [0x0340, 0x0341],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
];

/** Normalizes a password the way PostgreSQL does before deriving a SCRAM verifier (see module doc). */
export function saslPrepLite(password: string): string {
  // PostgreSQL: "an ASCII string requires no further processing".
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  let mapped = '';
  for (const ch of password) {
    const cp = ch.codePointAt(0) ?? 0;
    if (isIn(cp, NON_ASCII_SPACE)) mapped += ' ';
    else if (!isIn(cp, MAPPED_TO_NOTHING)) mapped += ch;
  }
  const normalized = mapped.normalize('NFKC');
  if (normalized.length === 0) return password;
  for (const ch of normalized) {
    const cp = ch.codePointAt(0) ?? 0;
    if (isIn(cp, PROHIBITED) || isNonCharacter(cp)) return password;
  }
  return normalized;
}

function isIn(cp: number, ranges: readonly Range[]): boolean {
  return ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
}

// RFC 3454 C.4: U+FFFE/U+FFFF in every plane.
function isNonCharacter(cp: number): boolean {
  return (cp & 0xfffe) === 0xfffe;
}
