import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { GatehouseError } from '../core/errors.js';
import type { AsciicastEvent } from './asciicast-reader.js';
import type { MonotonicClock } from './asciicast-writer.js';

/** Options of {@link renderToTerminal}. */
export interface RenderOptions {
  /** Playback speed factor (default 1; 2 plays twice as fast). */
  readonly speed?: number;
  /** Longest pause shown, in recorded seconds (default: none). */
  readonly maxIdleS?: number;
  /** Stops playback early; the promise then resolves. */
  readonly signal?: AbortSignal;
  /** Time source and sleep, injectable for tests (default real time). */
  readonly clock?: MonotonicClock;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** What a playback showed. */
export interface RenderSummary {
  /** Output events written. */
  readonly outputEvents: number;
  /** Playback time in seconds, after `maxIdleS` and `speed`. */
  readonly playedS: number;
  readonly isAborted: boolean;
}

/** Something with events to play: an AsciicastReader. */
export interface EventSource {
  events(): AsyncIterable<AsciicastEvent>;
}

/**
 * Plays the output events of a recording to `out` (a terminal) with their timing, for
 * `gatehouse recording play SID`. Waits are scheduled against the start, not chained, so
 * many short events do not drift. Honours `out`'s backpressure.
 */
export async function renderToTerminal(
  source: EventSource,
  out: Writable,
  options: RenderOptions = {},
): Promise<RenderSummary> {
  const speed = options.speed ?? 1;
  const maxIdleS = options.maxIdleS ?? Number.POSITIVE_INFINITY;
  if (!(speed > 0) || !Number.isFinite(speed))
    throw new GatehouseError('GH_INVALID_ARGUMENT', { detail: `speed ${speed}` });
  if (!(maxIdleS > 0))
    throw new GatehouseError('GH_INVALID_ARGUMENT', { detail: `maxIdleS ${maxIdleS}` });
  const clock = options.clock ?? (() => performance.now());
  const sleep =
    options.sleep ??
    ((ms: number, signal?: AbortSignal) =>
      sleepMs(ms, undefined, signal === undefined ? {} : { signal }));
  const startMs = clock();
  let recordedS = 0;
  let playedS = 0;
  let outputEvents = 0;
  for await (const event of source.events()) {
    if (isAborted(options.signal)) return { outputEvents, playedS, isAborted: true };
    playedS += Math.min(Math.max(0, event.time - recordedS), maxIdleS) / speed;
    recordedS = event.time;
    if (event.code !== 'o') continue;
    const waitMs = playedS * 1000 - (clock() - startMs);
    if (waitMs > 0) {
      try {
        await sleep(waitMs, options.signal);
      } catch (err) {
        if (isAborted(options.signal)) return { outputEvents, playedS, isAborted: true };
        throw err;
      }
    }
    outputEvents += 1;
    if (!out.write(event.data)) {
      try {
        await once(out, 'drain', options.signal === undefined ? {} : { signal: options.signal });
      } catch (err) {
        if (isAborted(options.signal)) return { outputEvents, playedS, isAborted: true };
        throw err;
      }
    }
  }
  return { outputEvents, playedS, isAborted: false };
}

// A function, not an inline test: TypeScript would keep the narrowing across the awaits.
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
