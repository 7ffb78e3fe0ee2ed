/**
 * Splitting terminal text into keys and printable characters. Shared by the echo and
 * command-line trackers; knows nothing about recording.
 */

/** One unit of typed input: a printable character, or a control key / escape sequence. */
export interface InputToken {
  readonly kind: 'char' | 'control';
  readonly text: string;
}

/** Longest escape sequence kept together; longer ones are cut (garbage, not a key). */
const MAX_ESCAPE_CHARS = 32;
const ESC = 0x1b;

/** True for C0 controls, DEL and C1 controls (code points that print nothing by themselves). */
export function isControlCodePoint(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/**
 * Splits typed input into tokens. ECMA-48 CSI (`ESC [ params final`, arrows, bracketed
 * paste marks) and SS3 (`ESC O x`, keypad) are one control token each. Terminals send a key
 * in one write, so a sequence cut at the end of `text` becomes a control token as it is.
 */
export function tokenizeInput(text: string): InputToken[] {
  const tokens: InputToken[] = [];
  const chars = Array.from(text);
  let i = 0;
  while (i < chars.length) {
    const ch = chars[i] ?? '';
    const cp = ch.codePointAt(0) ?? 0;
    if (cp === ESC) {
      const end = escapeSequenceEnd(chars, i);
      tokens.push({ kind: 'control', text: chars.slice(i, end).join('') });
      i = end;
    } else {
      tokens.push({ kind: isControlCodePoint(cp) ? 'control' : 'char', text: ch });
      i += 1;
    }
  }
  return tokens;
}

// Index just past the escape sequence starting at `start` (chars[start] is ESC).
function escapeSequenceEnd(chars: readonly string[], start: number): number {
  const intro = chars[start + 1];
  if (intro === 'O') return Math.min(start + 3, chars.length);
  if (intro !== '[') return start + 1; // a lone ESC; what follows is read on its own
  let i = start + 2;
  const limit = Math.min(chars.length, start + MAX_ESCAPE_CHARS);
  while (i < limit) {
    const cp = chars[i]?.codePointAt(0) ?? 0;
    i += 1;
    if (cp >= 0x40 && cp <= 0x7e) return i; // final byte
    if (cp < 0x20 || cp > 0x3f) return i; // not a CSI parameter/intermediate: stop here
  }
  return i;
}

/**
 * The characters a terminal would show for `text`, for comparing with typed keys: escape
 * sequences (CSI, OSC, other ESC x) are removed; other control characters are kept, as the
 * echo tracker treats them as significant. A sequence cut at the chunk end is dropped.
 */
export function visibleOutput(text: string): string[] {
  const out: string[] = [];
  const chars = Array.from(text);
  let i = 0;
  while (i < chars.length) {
    const ch = chars[i] ?? '';
    if (ch.codePointAt(0) !== ESC) {
      out.push(ch);
      i += 1;
      continue;
    }
    const intro = chars[i + 1];
    if (intro === '[') {
      i += 2;
      while (i < chars.length) {
        const cp = chars[i]?.codePointAt(0) ?? 0;
        i += 1;
        if (cp >= 0x40 && cp <= 0x7e) break;
      }
    } else if (intro === ']' || intro === 'P' || intro === '_' || intro === '^') {
      // OSC / DCS / APC / PM: up to BEL or ST (ESC \)
      i += 2;
      while (i < chars.length) {
        const c = chars[i];
        i += 1;
        if (c === '\u0007') break;
        if (c === '\u001b' && chars[i] === '\\') {
          i += 1;
          break;
        }
      }
    } else {
      // ESC [intermediates] final: charset selection (ESC ( B), keypad modes, ...
      i += 1;
      while (i < chars.length && /^[\u0020-\u002f]$/.test(chars[i] ?? '')) i += 1;
      if (i < chars.length) i += 1;
    }
  }
  return out;
}
