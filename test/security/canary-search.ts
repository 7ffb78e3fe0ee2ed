import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The search behind the canary test: secrets with a recognisable random body, every encoding
// of them a leak could take, and a byte search over everything Gatehouse wrote or printed.

/** A secret the test planted somewhere Gatehouse must never repeat it. */
export interface Canary {
  /** What it is, for the report (`ssh-password`, `mysql-alter-user`, …). */
  readonly name: string;
  readonly value: Buffer;
  /** Search the whole value only, not the halves of it (the value mixes secret and public bytes). */
  readonly isWholeOnly?: boolean;
}

/** Something Gatehouse wrote or printed, searched as raw bytes. */
export interface Haystack {
  /** Where it came from (`file:<path>`, `serve-log`, `cli:audit tail`, …). */
  readonly where: string;
  readonly bytes: Buffer;
}

/** One encoding of a canary. */
export interface CanaryForm {
  readonly canary: string;
  /** `plain`, `hex`, `HEX`, `base64+1`, `base64url+2`, `utf16le`, `first-half plain`, … */
  readonly form: string;
  readonly bytes: Buffer;
}

/** A canary found: where, in which form, and the bytes around it (the canary itself masked). */
export interface CanaryHit {
  readonly canary: string;
  readonly form: string;
  readonly where: string;
  readonly offset: number;
  readonly context: string;
}

const CANARY_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
const CANARY_BODY_CHARS = 28;
const CONTEXT_BYTES = 60;
// Parts shorter than this could occur by chance in megabytes of binary data.
const MIN_PART_BYTES = 12;

/**
 * A fresh text canary `CANARY-<label>-<28 random letters and digits>`. The alphabet has no
 * character that SQL, JSON, shell, URL or C-style quoting changes, so the plain form also
 * finds every quoted or escaped copy (`'…'`, `"…"`, `E'…'`, `%…`, `\"…\"`).
 */
export function makeCanary(name: string, label = name): Canary {
  const random = randomBytes(CANARY_BODY_CHARS);
  let body = '';
  for (const byte of random) body += CANARY_ALPHABET[byte % CANARY_ALPHABET.length] ?? 'x';
  return { name, value: Buffer.from(`CANARY-${label}-${body}`, 'utf8') };
}

/** A canary that differs from `of` in its last character only (a near-miss password). */
export function nearMiss(of: Canary, name: string): Canary {
  const text = of.value.toString('utf8');
  const last = text.at(-1) === 'a' ? 'b' : 'a';
  return { name, value: Buffer.from(text.slice(0, -1) + last, 'utf8') };
}

/** The canary as text (for typing and for stdin). */
export function canaryText(canary: Canary): string {
  return canary.value.toString('utf8');
}

/**
 * Every form searched for one canary: the bytes themselves, lower- and upper-case hex,
 * base64 and base64url at the three byte alignments (so a canary inside a longer encoded
 * blob is found too), UTF-16LE; and, for the two halves of its random part, plain and hex
 * (a leak of part of a secret).
 */
export function canaryForms(canary: Canary): CanaryForm[] {
  const forms: CanaryForm[] = [];
  const add = (form: string, bytes: Buffer): void => {
    if (bytes.length > 0) forms.push({ canary: canary.name, form, bytes });
  };
  const v = canary.value;
  add('plain', v);
  add('hex', Buffer.from(v.toString('hex'), 'latin1'));
  add('HEX', Buffer.from(v.toString('hex').toUpperCase(), 'latin1'));
  for (const shift of [0, 1, 2]) {
    const core = base64Core(v, shift);
    add(`base64+${shift}`, Buffer.from(core, 'latin1'));
    const url = core.replaceAll('+', '-').replaceAll('/', '_');
    if (url !== core) add(`base64url+${shift}`, Buffer.from(url, 'latin1'));
  }
  if (isText(v)) add('utf16le', Buffer.from(v.toString('utf8'), 'utf16le'));
  if (canary.isWholeOnly === true) return forms;
  // The random part's halves: a made canary's body follows its last '-'.
  const text = v.toString('latin1');
  const bodyStart = text.startsWith('CANARY-') ? text.lastIndexOf('-') + 1 : 0;
  const body = v.subarray(bodyStart);
  const half = Math.floor(body.length / 2);
  for (const [label, part] of [
    ['first-half', body.subarray(0, half)],
    ['second-half', body.subarray(half)],
  ] as const) {
    if (part.length < MIN_PART_BYTES) continue;
    add(`${label} plain`, Buffer.from(part));
    add(`${label} hex`, Buffer.from(part.toString('hex'), 'latin1'));
  }
  return forms;
}

/** Searches every haystack for every form of every canary. */
export function findCanaries(
  canaries: readonly Canary[],
  haystacks: readonly Haystack[],
): CanaryHit[] {
  const forms = canaries.flatMap(canaryForms);
  const hits: CanaryHit[] = [];
  for (const { where, bytes } of haystacks) {
    for (const form of forms) {
      for (let at = bytes.indexOf(form.bytes); at >= 0; at = bytes.indexOf(form.bytes, at + 1)) {
        hits.push({
          canary: form.canary,
          form: form.form,
          where,
          offset: at,
          context: contextAround(bytes, at, form.bytes.length),
        });
        if (hits.length > 200) return hits; // enough to report
      }
    }
  }
  return hits;
}

/** Every regular file below `dir` (symbolic links not followed), as haystacks `file:<path>`. */
export function fileHaystacks(dir: string, label = 'file'): Haystack[] {
  const out: Haystack[] = [];
  const walk = (path: string): void => {
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (stat === undefined) return;
    if (stat.isDirectory()) {
      for (const name of readdirSync(path)) walk(join(path, name));
    } else if (stat.isFile()) {
      try {
        out.push({ where: `${label}:${path}`, bytes: readFileSync(path) });
      } catch {
        // removed meanwhile (e.g. a -journal file)
      }
    }
  };
  walk(dir);
  return out;
}

/** A text haystack. */
export function textHaystack(where: string, text: string): Haystack {
  return { where, bytes: Buffer.from(text, 'utf8') };
}

/** One line per hit, for an assertion message. */
export function describeHits(hits: readonly CanaryHit[]): string {
  return hits
    .map((h) => `${h.canary} (${h.form}) in ${h.where} at ${h.offset}: …${h.context}…`)
    .join('\n');
}

// Base64 characters that depend only on `value` when it sits `shift` bytes into a longer blob.
function base64Core(value: Buffer, shift: number): string {
  const encoded = Buffer.concat([Buffer.alloc(shift), value]).toString('base64');
  const from = Math.ceil((8 * shift) / 6);
  const to = Math.floor((8 * (shift + value.length)) / 6);
  return encoded.slice(from, to);
}

function isText(value: Buffer): boolean {
  return /^[\x20-\x7e]+$/.test(value.toString('latin1'));
}

function contextAround(bytes: Buffer, at: number, length: number): string {
  const before = bytes.subarray(Math.max(0, at - CONTEXT_BYTES), at);
  const after = bytes.subarray(at + length, at + length + CONTEXT_BYTES);
  const show = (b: Buffer): string => b.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return `${show(before)}[CANARY]${show(after)}`;
}
