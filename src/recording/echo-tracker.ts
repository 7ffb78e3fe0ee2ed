import { tokenizeInput, visibleOutput, isControlCodePoint } from './terminal-text.js';

/** Default time typed characters wait for their echo before they are masked. */
export const ECHO_WINDOW_MS = 250;
/** What a masked printable character is recorded as. */
export const MASK_CHAR = '*';

/** One input token after the echo decision, with the time it was typed. */
export interface SettledInput {
  /** When it was typed, in the caller's time base (ms). */
  readonly atMs: number;
  /** `typed`: echoed, kept as is; `masked`: not echoed, record as `*`; `control`: a key. */
  readonly kind: 'typed' | 'masked' | 'control';
  /** The token's text (for `masked`, the secret itself: never write it anywhere). */
  readonly text: string;
}

/** Options of {@link EchoTracker}. */
export interface EchoTrackerOptions {
  /**
   * How long typed characters wait for their echo (default 250 ms), or a function asked at
   * each decision, for a window that follows the target's round trip (see `echoWindowFor`).
   */
  readonly windowMs?: number | (() => number);
  /** Cap on held characters; beyond it the oldest are masked at once (default 4096). */
  readonly maxHeld?: number;
}

interface HeldToken {
  readonly atMs: number;
  readonly kind: 'char' | 'control';
  readonly text: string;
}

/**
 * Decides whether typed characters were echoed, so that input typed while the terminal
 * does not echo (passwords) is kept only as `*` (DESIGN §6).
 *
 * The bastion cannot see the target's termios, so this is a heuristic: typed tokens are
 * held; the next output is compared with them in order, after removing escape sequences
 * and skipping control characters other than `\n`. A printable character that shows up
 * next in the output is `typed`; on the first one that does not (or when the output reaches
 * a `\n`, i.e. the echo of Enter came first), it and everything still held is `masked`.
 * Held characters no output has answered within the window are `masked`. Control keys are
 * released as they are, in order. The window may change while characters are held (SSH
 * sessions stretch it with the target's measured round trip, `echoWindowFor`): a character
 * is due once it has waited the window as it is when the decision is taken. A longer window
 * only delays the decision for characters no output has answered yet; it never turns a
 * mismatch, or the `\n` barrier, into an echo.
 *
 * Limits (all but the first err towards masking):
 * - Output that starts with the same characters as a password typed just before it (by
 *   coincidence, or a program that prints the secret back) makes them count as echoed; the
 *   `\n` barrier keeps the shell prompt after Enter from doing so. The first output within
 *   the window decides, so a window stretched for a slow target leaves more time for such
 *   output to come.
 * - Echo slower than the window is masked. SSH sessions give an echo 250 ms plus two measured
 *   round trips to the target (at most 5 s); echo slower than that (a link or gateway that
 *   became more than twice as slow since the last measurement, or a target further than
 *   ~2.4 s away) is masked.
 * - Editors and pagers (vim normal mode, less) do not echo keys: they are masked.
 * - Shells that redraw the whole line for each key (some fish/zsh setups), or a key typed
 *   right after Backspace whose echo is `\b \b`, are masked.
 * - The count of `*` shows the length of a password.
 */
export class EchoTracker {
  readonly #windowMs: () => number;
  readonly #maxHeld: number;
  #held: HeldToken[] = [];

  constructor(options: EchoTrackerOptions = {}) {
    const windowMs = options.windowMs ?? ECHO_WINDOW_MS;
    this.#windowMs =
      typeof windowMs === 'number'
        ? () => windowMs
        : () => {
            const ms = windowMs();
            return ms > 0 && ms !== Number.POSITIVE_INFINITY ? ms : ECHO_WINDOW_MS; // NaN too
          };
    this.#maxHeld = options.maxHeld ?? 4096;
  }

  /** Holds `text`, typed at `atMs`; returns tokens released to keep the hold bounded. */
  input(text: string, atMs: number): SettledInput[] {
    for (const token of tokenizeInput(text)) this.#held.push({ atMs, ...token });
    if (this.#held.length <= this.#maxHeld) return [];
    return this.#release(this.#held.length - this.#maxHeld, 'masked');
  }

  /** True while typed tokens wait for their echo (only then does output need comparing). */
  get isHolding(): boolean {
    return this.#held.length > 0;
  }

  /** Compares held tokens with output `text` (decoded) and returns those now decided. */
  output(text: string): SettledInput[] {
    if (this.#held.length === 0) return [];
    const visible = visibleOutput(text);
    const settled: SettledInput[] = [];
    let cursor = 0;
    while (this.#held.length > 0) {
      const token = this.#held[0];
      if (token === undefined) break;
      if (token.kind === 'control') {
        settled.push({ atMs: token.atMs, kind: 'control', text: token.text });
        this.#held.shift();
        continue;
      }
      while (cursor < visible.length && isSkippedControl(visible[cursor] ?? '')) cursor += 1;
      const shown = visible[cursor];
      if (shown === undefined) break; // output ran out: wait for more, or for the window
      if (shown !== token.text) return settled.concat(this.#release(this.#held.length, 'masked'));
      settled.push({ atMs: token.atMs, kind: 'typed', text: token.text });
      this.#held.shift();
      cursor += 1;
    }
    return settled;
  }

  /** Masks held characters typed more than the window before `nowMs`. */
  settleDue(nowMs: number): SettledInput[] {
    const windowMs = this.#windowMs();
    let count = 0;
    while (count < this.#held.length && (this.#held[count]?.atMs ?? 0) + windowMs <= nowMs)
      count += 1;
    return this.#release(count, 'masked');
  }

  /** Masks everything still held (end of session). */
  settleAll(): SettledInput[] {
    return this.#release(this.#held.length, 'masked');
  }

  /** How long a typed character waits for its echo, now. */
  get windowMs(): number {
    return this.#windowMs();
  }

  /** When the oldest held token's window ends, or undefined when nothing is held. */
  get nextDeadlineMs(): number | undefined {
    const first = this.#held[0];
    return first === undefined ? undefined : first.atMs + this.#windowMs();
  }

  // Releases the first `count` held tokens: characters as `kind`, control keys as they are.
  #release(count: number, kind: 'typed' | 'masked'): SettledInput[] {
    return this.#held
      .splice(0, count)
      .map((t) =>
        t.kind === 'control'
          ? { atMs: t.atMs, kind: 'control', text: t.text }
          : { atMs: t.atMs, kind, text: t.text },
      );
  }
}

// Control characters in output that do not decide anything (CR, BS, BEL, ...). `\n` does:
// output reaching a new line means the echo of what was typed before Enter is over.
function isSkippedControl(ch: string): boolean {
  return ch !== '\n' && isControlCodePoint(ch.codePointAt(0) ?? 0);
}

/** Turns settled tokens into the text of an `i` event: masked characters become `*`. */
export function maskedText(tokens: readonly SettledInput[]): string {
  return tokens.map((t) => (t.kind === 'masked' ? MASK_CHAR : t.text)).join('');
}
