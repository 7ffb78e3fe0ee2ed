import type { Direction, FuzzInput, Segment } from './input.js';
import type { Rng } from './rng.js';

/** A length or count field a target found in a segment (for length tampering). */
export interface LengthField {
  readonly offset: number;
  /** Width in bytes: 1, 2, 3, 4 or 8. */
  readonly width: 1 | 2 | 3 | 4 | 8;
  readonly isLittleEndian: boolean;
}

/** What a target tells the mutator about its inputs. */
export interface MutationHints {
  /** Length fields of a segment (headers of the packets in it, string lengths…). */
  readonly lengthFields?: (segment: Segment) => readonly LengthField[];
  /** Tokens worth inserting (keywords, magic numbers, separators). */
  readonly dictionary?: readonly Buffer[];
  /** Segments of this direction are mutated most (the untrusted peer); default client. */
  readonly focus?: Direction;
  /** Variant bits a mutation may flip. */
  readonly variantBits?: number;
}

/** Largest input the mutator builds (bytes over all segments). */
export const MAX_INPUT_BYTES = 1024 * 1024;

/** Values a length field is set to: boundaries, absurd sizes, sign flips. */
const INTERESTING = [
  0, 1, 2, 3, 4, 5, 7, 8, 0x7f, 0x80, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0x100, 0x7fff, 0x8000,
  0xffff, 0x1_0000, 0xff_fffe, 0xff_ffff, 0x100_0000, 0x3fff_ffff, 0x4000_0000, 0x7fff_ffff,
  0x8000_0000, 0xffff_fffe, 0xffff_ffff,
];

/** The mutations, by name (names appear in crash files). */
export const MUTATORS = [
  'flip-bits',
  'set-byte',
  'insert-bytes',
  'duplicate-range',
  'delete-range',
  'splice',
  'tamper-length',
  'truncate',
  'drop-tail',
  're-split',
  'split-fine',
  'merge',
  'dictionary',
  'swap-segments',
  'variant',
] as const;

/** One mutator's name. */
export type MutatorName = (typeof MUTATORS)[number];

/**
 * Applies 1–8 random mutations to `base`. `others` are the other corpus inputs of the target
 * (splice material). Pure in (rng state, base, others): the same seed gives the same input.
 */
export function mutate(
  base: FuzzInput,
  others: readonly FuzzInput[],
  rng: Rng,
  hints: MutationHints,
): { input: FuzzInput; applied: MutatorName[] } {
  const segments: Segment[] = base.segments.map((s) => ({ dir: s.dir, data: s.data }));
  let variant = base.variant;
  const applied: MutatorName[] = [];
  const rounds = 1 + Math.min(7, countTrailingOnes(rng.u32()));
  for (let r = 0; r < rounds; r++) {
    const name = rng.pick(MUTATORS);
    if (name === 'variant') {
      if (hints.variantBits === undefined || hints.variantBits === 0) continue;
      variant ^= 1 << rng.below(31 - Math.clz32(hints.variantBits) + 1);
      variant &= hints.variantBits;
      applied.push(name);
      continue;
    }
    if (segments.length === 0) segments.push({ dir: hints.focus ?? 'c', data: Buffer.alloc(0) });
    const at = pickSegment(segments, rng, hints.focus ?? 'c');
    const seg = segments[at];
    if (seg === undefined) continue;
    const d = seg.data;
    const put = (data: Buffer): void => {
      segments[at] = { dir: seg.dir, data };
    };
    switch (name) {
      case 'flip-bits': {
        if (d.length === 0) continue;
        const out = Buffer.from(d);
        for (let i = rng.between(1, 8); i > 0; i--) {
          const pos = rng.below(out.length);
          out[pos] = (out[pos] ?? 0) ^ (1 << rng.below(8));
        }
        put(out);
        break;
      }
      case 'set-byte': {
        if (d.length === 0) continue;
        const out = Buffer.from(d);
        out[rng.below(out.length)] = rng.chance(0.5)
          ? rng.pick([0, 0xff, 0x7f, 0x80, 0x20, 0x0a, 0x22, 0x5c])
          : rng.u32() & 0xff;
        put(out);
        break;
      }
      case 'insert-bytes': {
        const pos = rng.below(d.length + 1);
        put(Buffer.concat([d.subarray(0, pos), rng.bytes(rng.between(1, 16)), d.subarray(pos)]));
        break;
      }
      case 'duplicate-range': {
        if (d.length === 0) continue;
        const from = rng.below(d.length);
        const to = Math.min(d.length, from + rng.between(1, 256));
        const copies = rng.chance(0.1) ? rng.between(16, 4096) : rng.between(1, 4);
        const piece = d.subarray(from, to);
        const reps = Math.max(1, Math.min(copies, Math.floor(MAX_INPUT_BYTES / 4 / piece.length)));
        put(Buffer.concat([d.subarray(0, to), ...Array<Buffer>(reps).fill(piece), d.subarray(to)]));
        break;
      }
      case 'delete-range': {
        if (d.length === 0) continue;
        const from = rng.below(d.length);
        const to = Math.min(
          d.length,
          from + (rng.chance(0.7) ? rng.between(1, 8) : rng.between(1, d.length)),
        );
        put(Buffer.concat([d.subarray(0, from), d.subarray(to)]));
        break;
      }
      case 'splice': {
        const donorInput = others.length > 0 ? rng.pick(others) : base;
        const donors = donorInput.segments.filter((s) => s.dir === seg.dir && s.data.length > 0);
        if (donors.length === 0) continue;
        const donor = rng.pick(donors).data;
        const from = rng.below(donor.length);
        const piece = donor.subarray(from, Math.min(donor.length, from + rng.between(1, 512)));
        const pos = rng.below(d.length + 1);
        const cut = rng.chance(0.5) ? Math.min(d.length, pos + piece.length) : pos;
        put(Buffer.concat([d.subarray(0, pos), piece, d.subarray(cut)]));
        break;
      }
      case 'tamper-length': {
        const fields =
          hints.lengthFields?.(seg).filter((f) => f.offset + f.width <= d.length) ?? [];
        const field: LengthField =
          fields.length > 0 && rng.chance(0.85)
            ? rng.pick(fields)
            : {
                offset: rng.below(Math.max(1, d.length - 3)),
                width: rng.pick([1, 2, 4] as const),
                isLittleEndian: rng.chance(0.5),
              };
        if (field.offset + field.width > d.length) continue;
        const old = readField(d, field);
        const value = rng.chance(0.7)
          ? rng.pick(INTERESTING)
          : rng.chance(0.5)
            ? old + rng.between(1, 16)
            : Math.max(0, old - rng.between(1, 16));
        const out = Buffer.from(d);
        writeField(out, field, value);
        put(out);
        break;
      }
      case 'truncate': {
        if (d.length === 0) continue;
        put(d.subarray(0, rng.below(d.length)));
        break;
      }
      case 'drop-tail': {
        segments.splice(at + 1);
        break;
      }
      case 're-split': {
        if (d.length < 2) continue;
        const pos = rng.between(1, d.length - 1);
        segments.splice(
          at,
          1,
          { dir: seg.dir, data: d.subarray(0, pos) },
          { dir: seg.dir, data: d.subarray(pos) },
        );
        break;
      }
      case 'split-fine': {
        // A slow client: the next bytes arrive one (or a few) at a time.
        if (d.length < 2) continue;
        const from = rng.below(d.length - 1);
        const to = Math.min(d.length, from + rng.between(2, 24));
        const pieces: Segment[] = [];
        if (from > 0) pieces.push({ dir: seg.dir, data: d.subarray(0, from) });
        for (let p = from; p < to;) {
          const n = Math.min(to - p, rng.between(1, 3));
          pieces.push({ dir: seg.dir, data: d.subarray(p, p + n) });
          p += n;
        }
        if (to < d.length) pieces.push({ dir: seg.dir, data: d.subarray(to) });
        segments.splice(at, 1, ...pieces);
        break;
      }
      case 'merge': {
        const next = segments[at + 1];
        if (next === undefined || next.dir !== seg.dir) continue;
        segments.splice(at, 2, { dir: seg.dir, data: Buffer.concat([d, next.data]) });
        break;
      }
      case 'dictionary': {
        const words = hints.dictionary ?? [];
        if (words.length === 0) continue;
        const word = rng.pick(words);
        const pos = rng.below(d.length + 1);
        const cut = rng.chance(0.5) ? Math.min(d.length, pos + word.length) : pos;
        put(Buffer.concat([d.subarray(0, pos), word, d.subarray(cut)]));
        break;
      }
      case 'swap-segments': {
        // Reorders arrival: a reply before its request, two client chunks exchanged.
        const other = rng.below(segments.length);
        const a = segments[at];
        const b = segments[other];
        if (a === undefined || b === undefined || other === at) continue;
        segments[at] = b;
        segments[other] = a;
        break;
      }
    }
    applied.push(name);
    if (totalBytes(segments) > MAX_INPUT_BYTES) return { input: base, applied: [] };
  }
  return { input: { segments, variant }, applied };
}

function pickSegment(segments: readonly Segment[], rng: Rng, focus: Direction): number {
  if (rng.chance(0.85)) {
    const focused: number[] = [];
    segments.forEach((s, i) => {
      if (s.dir === focus) focused.push(i);
    });
    if (focused.length > 0) return rng.pick(focused);
  }
  return rng.below(segments.length);
}

function countTrailingOnes(x: number): number {
  let n = 0;
  while ((x & 1) === 1 && n < 32) {
    n += 1;
    x >>>= 1;
  }
  return n;
}

function totalBytes(segments: readonly Segment[]): number {
  let n = 0;
  for (const s of segments) n += s.data.length;
  return n;
}

function readField(b: Buffer, f: LengthField): number {
  switch (f.width) {
    case 1:
      return b.readUInt8(f.offset);
    case 2:
      return f.isLittleEndian ? b.readUInt16LE(f.offset) : b.readUInt16BE(f.offset);
    case 3:
      return f.isLittleEndian ? b.readUIntLE(f.offset, 3) : b.readUIntBE(f.offset, 3);
    case 4:
      return f.isLittleEndian ? b.readUInt32LE(f.offset) : b.readUInt32BE(f.offset);
    case 8:
      return Number(f.isLittleEndian ? b.readBigUInt64LE(f.offset) : b.readBigUInt64BE(f.offset));
  }
}

function writeField(b: Buffer, f: LengthField, value: number): void {
  const v = Math.max(0, Math.floor(value));
  switch (f.width) {
    case 1:
      b.writeUInt8(v & 0xff, f.offset);
      return;
    case 2:
      if (f.isLittleEndian) b.writeUInt16LE(v & 0xffff, f.offset);
      else b.writeUInt16BE(v & 0xffff, f.offset);
      return;
    case 3:
      if (f.isLittleEndian) b.writeUIntLE(v & 0xff_ffff, f.offset, 3);
      else b.writeUIntBE(v & 0xff_ffff, f.offset, 3);
      return;
    case 4:
      if (f.isLittleEndian) b.writeUInt32LE(v >>> 0, f.offset);
      else b.writeUInt32BE(v >>> 0, f.offset);
      return;
    case 8: {
      const big = v === 0xffff_ffff ? 0xffff_ffff_ffff_ffffn : BigInt(v);
      if (f.isLittleEndian) b.writeBigUInt64LE(big, f.offset);
      else b.writeBigUInt64BE(big, f.offset);
      return;
    }
  }
}
