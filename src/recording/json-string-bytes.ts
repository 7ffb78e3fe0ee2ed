/**
 * Terminal output as a JSON string, byte for byte: the asciicast line of an output chunk
 * without decoding it to a JS string, `JSON.stringify`-ing it, escaping C1 controls in a
 * second pass and encoding it back to UTF-8 (four passes and three copies per chunk, most of
 * a recording's CPU). The bytes written are the same as `encodeEventLine`'s for the decoded
 * text; `json-string-bytes.test.ts` and the writer's tests hold them to it.
 */

/** Most bytes {@link writeJsonString} writes for `length` input bytes: `\u001b` for one byte, quotes. */
export function maxJsonStringBytes(length: number): number {
  return 6 * length + 2;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = '0123456789abcdef';

// How JSON.stringify writes C0 controls: the five short escapes, `\u00xx` for the rest; 0
// for bytes that are copied as they are.
const SHORT_ESCAPES: Readonly<Record<number, number>> = {
  0x08: 0x62, // \b
  0x09: 0x74, // \t
  0x0a: 0x6e, // \n
  0x0c: 0x66, // \f
  0x0d: 0x72, // \r
};

/**
 * Writes `text` (valid UTF-8: check with `buffer.isUtf8` first) as a JSON string literal,
 * quotes included, into `out` at `offset`; returns the offset past it. As `encodeEventLine`
 * does: `"` and `\` escaped, C0 controls as JSON.stringify writes them, DEL and C1 controls
 * (U+007F–U+009F, asciicast v3 §o: non-printable) as `\u00xx`, everything else copied.
 * `out` must have {@link maxJsonStringBytes} bytes free.
 */
export function writeJsonString(text: Uint8Array, out: Uint8Array, offset: number): number {
  let at = offset;
  out[at++] = QUOTE;
  const length = text.length;
  let i = 0;
  while (i < length) {
    // The common case, printable ASCII and UTF-8 other than C1, is copied as it is.
    let byte = 0;
    while (i < length) {
      byte = text[i] ?? 0;
      if (byte < 0x20 || byte === QUOTE || byte === BACKSLASH || byte === 0x7f) break;
      // U+0080–U+009F are C2 80–C2 9F; a valid C2 is always followed by its second byte.
      if (byte === 0xc2 && (text[i + 1] ?? 0) <= 0x9f) break;
      out[at++] = byte;
      i++;
    }
    if (i >= length) break;
    out[at++] = BACKSLASH;
    if (byte === QUOTE || byte === BACKSLASH) {
      out[at++] = byte;
      i++;
      continue;
    }
    const short = SHORT_ESCAPES[byte];
    if (short !== undefined) {
      out[at++] = short;
      i++;
      continue;
    }
    // C0, DEL, or C1 (the code point is the second byte of C2 80–C2 9F).
    const codePoint = byte === 0xc2 ? (text[i + 1] ?? 0) : byte;
    i += byte === 0xc2 ? 2 : 1;
    at = writeUnicodeEscapeTail(codePoint, out, at);
  }
  out[at++] = QUOTE;
  return at;
}

// `u00xx` (the backslash is written already), lower-case hex as JSON.stringify writes it.
function writeUnicodeEscapeTail(codePoint: number, out: Uint8Array, offset: number): number {
  out[offset] = 0x75; // u
  out[offset + 1] = 0x30;
  out[offset + 2] = 0x30;
  out[offset + 3] = HEX.charCodeAt(codePoint >> 4);
  out[offset + 4] = HEX.charCodeAt(codePoint & 0xf);
  return offset + 5;
}

/**
 * Bytes at the end of `bytes` that start a UTF-8 character and do not finish it, but could
 * (0–3): what a streaming decoder holds back for the next chunk. -1 when the last character
 * is cut and could never be finished (a decoder would replace it): such a chunk needs the
 * decoder.
 */
export function incompleteUtf8Tail(bytes: Uint8Array): number {
  const length = bytes.length;
  // Find the lead byte of the last character among the last three bytes.
  for (let back = 1; back <= Math.min(3, length); back++) {
    const byte = bytes[length - back] ?? 0;
    if (byte < 0x80) return 0; // ASCII: the last character is complete
    if (byte >= 0xc0) {
      const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      if (back >= need) return 0; // complete (isUtf8 judges whether it is valid)
      return isValidPrefix(bytes.subarray(length - back)) ? back : -1;
    }
    // a continuation byte: look further back
  }
  return 0; // only continuation bytes: not a cut character (isUtf8 judges them)
}

// True when `prefix` (a lead byte and fewer continuation bytes than it needs) can still
// become a valid UTF-8 character (RFC 3629 §4: no overlong forms, surrogates or > U+10FFFF).
function isValidPrefix(prefix: Uint8Array): boolean {
  const lead = prefix[0] ?? 0;
  if (lead < 0xc2 || lead > 0xf4) return false;
  const second = prefix[1];
  if (second !== undefined) {
    const [low, high] =
      lead === 0xe0
        ? [0xa0, 0xbf]
        : lead === 0xed
          ? [0x80, 0x9f]
          : lead === 0xf0
            ? [0x90, 0xbf]
            : lead === 0xf4
              ? [0x80, 0x8f]
              : [0x80, 0xbf];
    if (second < low || second > high) return false;
  }
  const third = prefix[2];
  return third === undefined || (third >= 0x80 && third <= 0xbf);
}
