import type { Logger } from '../log/index.js';

/** Length of one logging window. */
export const EVENT_LOG_WINDOW_MS = 10_000;
/** Connection events logged one by one per window; the rest are counted into a summary. */
export const EVENT_LOG_LINES_PER_WINDOW = 20;
/** Sources named in a summary, at most (the busiest). */
const SUMMARY_TOP_SOURCES = 10;
/** Distinct sources counted per window; later ones are counted as "other" (bounded memory). */
const MAX_COUNTED_SOURCES = 1_000;

/** One connection-level event: refused at the door, login expired, garbage before the login. */
export interface ConnectionEvent {
  /** `ssh`, `postgres`, `mysql`, `web`. */
  readonly listener: string;
  /** Short kebab-case name: `login-timeout`, `too-many-unauthenticated-from-source`, `protocol-violation`, … */
  readonly what: string;
  readonly clientAddr: string;
  /** Extra facts for the individual line (never secrets). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Options of {@link ConnectionEventLog}. */
export interface ConnectionEventLogOptions {
  readonly windowMs?: number;
  readonly linesPerWindow?: number;
}

/**
 * Logs connection-level events at a bounded rate: the first few of each window one line each,
 * the rest as one summary line at the end of the window (counts by listener and event, busiest
 * sources). Ten thousand garbage connections make a few dozen lines, not ten thousand, and
 * the operator still learns how many there were and where they came from.
 */
export class ConnectionEventLog {
  readonly #log: Logger;
  readonly #windowMs: number;
  readonly #linesPerWindow: number;
  #windowStart = 0;
  #lines = 0;
  #suppressed = 0;
  readonly #byKind = new Map<string, number>();
  readonly #bySource = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, options: ConnectionEventLogOptions = {}) {
    this.#log = log;
    this.#windowMs = options.windowMs ?? EVENT_LOG_WINDOW_MS;
    this.#linesPerWindow = options.linesPerWindow ?? EVENT_LOG_LINES_PER_WINDOW;
  }

  /** Logs `event` (message `message`), or counts it when this window's lines are spent. */
  record(event: ConnectionEvent, message: string): void {
    const now = Date.now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.flush();
      this.#windowStart = now;
      this.#lines = 0;
    }
    if (this.#lines < this.#linesPerWindow) {
      this.#lines += 1;
      this.#log.info(
        {
          listener: event.listener,
          event: event.what,
          clientAddr: event.clientAddr,
          ...event.fields,
        },
        message,
      );
      return;
    }
    this.#suppressed += 1;
    const kind = `${event.listener}/${event.what}`;
    this.#byKind.set(kind, (this.#byKind.get(kind) ?? 0) + 1);
    const source =
      this.#bySource.has(event.clientAddr) || this.#bySource.size < MAX_COUNTED_SOURCES
        ? event.clientAddr
        : 'other';
    this.#bySource.set(source, (this.#bySource.get(source) ?? 0) + 1);
    this.#timer ??= setTimeout(
      () => this.flush(),
      Math.max(0, this.#windowStart + this.#windowMs - now),
    ).unref();
  }

  /** Writes the summary of the events counted but not logged, if any. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#suppressed === 0) return;
    const topSources = [...this.#bySource.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, SUMMARY_TOP_SOURCES)
      .map(([clientAddr, count]) => ({ clientAddr, count }));
    this.#log.warn(
      {
        suppressed: this.#suppressed,
        windowMs: this.#windowMs,
        events: Object.fromEntries(this.#byKind),
        topSources,
        sources: this.#bySource.size,
      },
      'connection events not logged one by one',
    );
    this.#suppressed = 0;
    this.#byKind.clear();
    this.#bySource.clear();
  }
}
