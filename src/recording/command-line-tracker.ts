import type { SettledInput } from './echo-tracker.js';

/** Longest command line kept; characters typed beyond it are dropped. */
export const MAX_COMMAND_CHARS = 4096;

/** A command line typed at an interactive shell, reconstructed from keys. */
export interface CommandLine {
  readonly text: string;
  /** When Enter was typed, in the time base of the settled input (ms). */
  readonly atMs: number;
  /** Always true: history recall, tab completion and cursor edits are not seen. */
  readonly isBestEffort: true;
}

const ENTER = new Set(['\r', '\n']);
const BACKSPACE = new Set(['\u007f', '\b']);
const CTRL_C = '\u0003';
const CTRL_U = '\u0015';
const CTRL_W = '\u0017';

/**
 * Follows settled input (see EchoTracker) and yields the line typed so far on Enter, for a
 * `m` marker and an `ssh.command` audit event. Handles Backspace, Ctrl-U, Ctrl-W and
 * Ctrl-C; drops Tab, arrow keys and other escape sequences, so a line edited with them, or
 * recalled from history, comes out wrong or empty (hence `isBestEffort`). A line in which
 * any character was masked (typed without echo: a password) is never yielded, nor are its
 * characters kept.
 */
export class CommandLineTracker {
  #chars: string[] = [];
  #hasMasked = false;

  /** Feeds settled tokens in order; returns the command lines completed by them. */
  push(tokens: readonly SettledInput[]): CommandLine[] {
    const lines: CommandLine[] = [];
    for (const token of tokens) {
      const line = this.#pushOne(token);
      if (line !== undefined) lines.push(line);
    }
    return lines;
  }

  #pushOne(token: SettledInput): CommandLine | undefined {
    if (token.kind === 'masked') {
      this.#hasMasked = true;
      this.#chars = []; // keep nothing from a line that holds a secret
      return undefined;
    }
    if (token.kind === 'typed') {
      if (!this.#hasMasked && this.#chars.length < MAX_COMMAND_CHARS) this.#chars.push(token.text);
      return undefined;
    }
    const key = token.text;
    if (ENTER.has(key)) {
      const text = this.#chars.join('').trim();
      const isSecret = this.#hasMasked;
      this.#clear();
      return isSecret || text === '' ? undefined : { text, atMs: token.atMs, isBestEffort: true };
    }
    if (BACKSPACE.has(key)) this.#chars.pop();
    else if (key === CTRL_U || key === CTRL_C) this.#clear();
    else if (key === CTRL_W) this.#deleteWord();
    return undefined; // Tab, arrows, other keys: not followed
  }

  #clear(): void {
    this.#chars = [];
    this.#hasMasked = false;
  }

  // Ctrl-W (readline unix-word-rubout): trailing blanks, then the word before them.
  #deleteWord(): void {
    while (this.#chars.length > 0 && /\s/.test(this.#chars.at(-1) ?? '')) this.#chars.pop();
    while (this.#chars.length > 0 && !/\s/.test(this.#chars.at(-1) ?? '')) this.#chars.pop();
  }
}
