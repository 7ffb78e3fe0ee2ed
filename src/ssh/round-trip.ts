/**
 * The round trip to an SSH target, measured with the target's answers to
 * `keepalive@openssh.com` global requests sent with want-reply (RFC 4254 §4: a server answers
 * each one, SUCCESS or FAILURE, in the order they came; OpenSSH answers FAILURE). It is
 * measured apart from the terminal's echo on purpose: the echo window
 * (src/recording/echo-window.ts) must not learn from echoes, as a window that ends before the
 * echo arrives never sees that echo. The request travels the same connection as the
 * keystrokes and their echo, so it waits behind the same queued output, the same network and
 * the same turns of Gatehouse's event loop.
 */
import type { Client } from 'ssh2';

/** How often the round trip is measured again while a terminal channel is open. */
export const ROUND_TRIP_PROBE_INTERVAL_MS = 5_000;
/** Share of the gap that a lower answer closes: the estimate rises at once and falls slowly. */
const FALL_SHARE = 0.25;

/**
 * Sends one request that the target answers; `onAnswer(true)` once it answered, `false` when
 * the connection closed first. Returns false when nothing could be sent.
 */
export type SendProbe = (onAnswer: (isAnswered: boolean) => void) => boolean;

/** Options of {@link RoundTripProbe}. */
export interface RoundTripProbeOptions {
  /** Milliseconds that never go backwards (default `performance.now`). */
  readonly clock?: () => number;
  /** Time between probes while held (default {@link ROUND_TRIP_PROBE_INTERVAL_MS}). */
  readonly intervalMs?: number;
}

/**
 * Keeps an estimate of one connection's round trip. At most one probe is in flight; while
 * `hold` is kept a new one goes out every interval, else only when `probe` is called.
 *
 * The estimate is the highest recent answer: an answer above it replaces it, one below it
 * lowers it by a quarter of the gap, so one slow moment (a saturated link, a busy gateway)
 * lengthens the window at once and a calm one shortens it over several probes. A probe still
 * unanswered counts for as long as it has waited, so a link that has just become slow is seen
 * before its answer comes back.
 */
export class RoundTripProbe {
  readonly #send: SendProbe;
  readonly #clock: () => number;
  readonly #intervalMs: number;
  #estimateMs: number | undefined;
  #sentAtMs: number | undefined;
  #holds = 0;
  #timer: NodeJS.Timeout | undefined;
  #isStopped = false;

  constructor(send: SendProbe, options: RoundTripProbeOptions = {}) {
    this.#send = send;
    this.#clock = options.clock ?? (() => performance.now());
    this.#intervalMs = options.intervalMs ?? ROUND_TRIP_PROBE_INTERVAL_MS;
  }

  /** The round trip estimate in ms, or undefined before any probe was sent. */
  estimateMs(): number | undefined {
    if (this.#sentAtMs === undefined) return this.#estimateMs;
    return Math.max(this.#estimateMs ?? 0, this.#clock() - this.#sentAtMs);
  }

  /** Sends a probe now, unless one is in flight or probing stopped. */
  probe(): void {
    if (this.#isStopped || this.#sentAtMs !== undefined) return;
    const sentAtMs = this.#clock();
    this.#sentAtMs = sentAtMs;
    const isSent = this.#send((isAnswered) => {
      if (this.#sentAtMs !== sentAtMs) return;
      this.#sentAtMs = undefined;
      if (isAnswered) this.#note(this.#clock() - sentAtMs);
      else this.stop();
    });
    if (!isSent) {
      this.#sentAtMs = undefined;
      this.stop();
    }
  }

  /** Probes every interval while at least one hold is kept; returns the release. */
  hold(): () => void {
    if (this.#holds++ === 0 && !this.#isStopped) {
      this.#timer = setInterval(() => this.probe(), this.#intervalMs);
      this.#timer.unref();
    }
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      if (--this.#holds === 0) clearInterval(this.#timer);
    };
  }

  /** Stops probing for good (the connection closed, or cannot be probed). */
  stop(): void {
    this.#isStopped = true;
    clearInterval(this.#timer);
  }

  #note(sampleMs: number): void {
    const previous = this.#estimateMs;
    this.#estimateMs =
      previous === undefined || sampleMs >= previous
        ? sampleMs
        : previous - (previous - sampleMs) * FALL_SHARE;
  }
}

/** What {@link sendKeepalive} uses of an ssh2 client; not in its public API. */
interface Ssh2ClientInternals {
  readonly _protocol?: { readonly ping?: unknown };
  readonly _callbacks?: unknown;
}

/**
 * A {@link SendProbe} for an ssh2 client: the `keepalive@openssh.com` request its own
 * keepalive sends (ssh2 1.17 `client.js`: the reply's callback is pushed on `_callbacks`, then
 * `_protocol.ping()`; replies pop the callbacks in order). ssh2 has no public method for a
 * global request whose answer one can await. If a later ssh2 lacks these, nothing is sent and
 * the caller goes on without a measurement.
 */
export function sendKeepalive(client: Client): SendProbe {
  return (onAnswer) => {
    const internals = client as unknown as Ssh2ClientInternals;
    const protocol = internals._protocol;
    const callbacks = internals._callbacks;
    const ping = protocol?.ping;
    if (typeof ping !== 'function' || !Array.isArray(callbacks)) return false;
    // ssh2 calls it with a boolean (failure reply or not) for an answer, an Error on close.
    (callbacks as unknown[]).push((outcome: unknown) => onAnswer(typeof outcome === 'boolean'));
    try {
      (ping as () => void).call(protocol);
    } catch {
      callbacks.pop();
      return false;
    }
    return true;
  };
}
