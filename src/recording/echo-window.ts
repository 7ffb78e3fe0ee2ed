import { ECHO_WINDOW_MS } from './echo-tracker.js';

/** Longest time typed characters wait for their echo, however slow the target is. */
export const MAX_ECHO_WINDOW_MS = 5_000;
/** Round trips to the target an echo is given on top of {@link ECHO_WINDOW_MS}. */
export const ECHO_WINDOW_ROUND_TRIPS = 2;

/**
 * How long typed characters wait for their echo on a target whose measured round trip is
 * `roundTripMs` (undefined: not measured yet): `ECHO_WINDOW_MS + 2 × round trip`, at most
 * {@link MAX_ECHO_WINDOW_MS}.
 *
 * - The 250 ms base is what a target next door needs: the shell's turn and Gatehouse's own,
 *   with no distance at all. It stays for every target, near or far.
 * - Two round trips, not one: the echo itself takes one, and the estimate is refreshed only
 *   every few seconds, so the second absorbs a link or gateway that gets twice as slow in
 *   between (the estimate also grows at once with a probe that waits longer).
 * - The cap: an echo slower than 5 s is no longer interactive use, and a character typed at a
 *   no-echo prompt with no output after it must still be decided (masked) in bounded time.
 *
 * A longer window only delays decisions: output that does not match masks at once, and so
 * does output reaching a new line before the echo (src/recording/echo-tracker.ts).
 */
export function echoWindowFor(roundTripMs: number | undefined): number {
  if (roundTripMs === undefined || !(roundTripMs > 0)) return ECHO_WINDOW_MS; // NaN too
  return Math.min(MAX_ECHO_WINDOW_MS, ECHO_WINDOW_MS + ECHO_WINDOW_ROUND_TRIPS * roundTripMs);
}
