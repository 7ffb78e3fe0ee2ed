import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeEventLine } from './asciicast-format.js';
import { incompleteUtf8Tail, maxJsonStringBytes, writeJsonString } from './json-string-bytes.js';

// What the string path writes for `text`: the JSON string of `encodeEventLine`'s line.
function viaString(text: string): Buffer {
  const line = encodeEventLine(0, 'o', text);
  return Buffer.from(line.slice('[0.000, "o", '.length, -']\n'.length), 'utf8');
}

function viaBytes(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(maxJsonStringBytes(bytes.length));
  return out.subarray(0, writeJsonString(bytes, out, 0));
}

describe('JSON strings from UTF-8 bytes', () => {
  it('every-code-point-class-is-escaped-as-the-string-encoder-does', () => {
    // All of U+0000–U+07FF one by one (C0, DEL, C1, Latin-1, two-byte forms), then the
    // edges of three- and four-byte forms, line and paragraph separators, noncharacters.
    const points: number[] = [];
    for (let cp = 0; cp < 0x800; cp++) points.push(cp);
    points.push(0xfff, 0x1000, 0x2028, 0x2029, 0xd7ff, 0xe000, 0xfeff, 0xfffd, 0xfffe, 0xffff);
    points.push(0x10000, 0x1f600, 0x10fffd, 0x10ffff);
    for (const cp of points) {
      const text = String.fromCodePoint(cp);
      expect(viaBytes(Buffer.from(text, 'utf8')).toString('latin1'), `U+${cp.toString(16)}`).toBe(
        viaString(text).toString('latin1'),
      );
    }
  });

  it('terminal-output-with-escape-sequences-quotes-and-c1-is-encoded-identically', () => {
    const text =
      '\u001b[1;31mred\u001b[0m "quoted" back\\slash\ttab\r\n\u0007bell \u009b2J c1-csi ' +
      '\u0085nel é ü 中文 😀 \u007fdel \u0000nul \u2028';
    expect(viaBytes(Buffer.from(text, 'utf8'))).toEqual(viaString(text));
  });

  it('random-valid-utf8-is-encoded-identically', () => {
    for (let round = 0; round < 200; round++) {
      // Random bytes decoded and encoded again: valid UTF-8 with U+FFFD where they were not.
      const text = randomBytes(1 + (round % 97) * 13).toString('utf8');
      const bytes = Buffer.from(text, 'utf8');
      expect(isUtf8(bytes)).toBe(true);
      expect(viaBytes(bytes)).toEqual(viaString(text));
    }
  });

  it('the-size-bound-holds-for-the-worst-input', () => {
    const controls = Buffer.alloc(100, 0x01); // each becomes \u0001
    expect(viaBytes(controls).length).toBe(maxJsonStringBytes(controls.length));
  });

  it('a-character-cut-at-the-end-is-found-only-when-it-can-still-be-finished', () => {
    const tail = (...bytes: number[]): number => incompleteUtf8Tail(Uint8Array.from(bytes));
    expect(tail()).toBe(0);
    expect(tail(0x41)).toBe(0);
    expect(tail(0x41, 0xc3)).toBe(1); // é cut after its lead
    expect(tail(0xe4, 0xb8)).toBe(2); // 中 cut after two bytes
    expect(tail(0xf0, 0x9f, 0x98)).toBe(3); // 😀 cut after three
    expect(tail(0xe4, 0xb8, 0xad)).toBe(0); // 中 whole
    expect(tail(0xf0, 0x9f, 0x98, 0x80)).toBe(0); // 😀 whole
    expect(tail(0xc0)).toBe(-1); // overlong lead: never valid
    expect(tail(0xe0, 0x80)).toBe(-1); // overlong three-byte form
    expect(tail(0xed, 0xa0)).toBe(-1); // a surrogate
    expect(tail(0xf4, 0x90)).toBe(-1); // past U+10FFFF
    expect(tail(0xf5)).toBe(-1);
    expect(tail(0xf0, 0x9f, 0x41)).toBe(0); // cut by ASCII: not held (the decoder replaces it)
    expect(tail(0x80, 0x80)).toBe(0); // stray continuation bytes: for isUtf8 to refuse
  });
});
