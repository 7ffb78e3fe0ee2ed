import { describe, expect, it } from 'vitest';
import {
  ECHO_WINDOW_MS,
  EchoTracker,
  echoWindowFor,
  maskedText,
  MAX_ECHO_WINDOW_MS,
  type SettledInput,
} from './index.js';

describe('echo window', () => {
  it('a-target-next-door-keeps-the-250-ms-window', () => {
    expect(echoWindowFor(undefined)).toBe(ECHO_WINDOW_MS);
    expect(echoWindowFor(0)).toBe(ECHO_WINDOW_MS);
    expect(echoWindowFor(Number.NaN)).toBe(ECHO_WINDOW_MS);
    expect(echoWindowFor(-5)).toBe(ECHO_WINDOW_MS);
    expect(echoWindowFor(0.4)).toBeCloseTo(ECHO_WINDOW_MS + 0.8);
  });

  it('a-far-target-gets-two-round-trips-more', () => {
    expect(echoWindowFor(100)).toBe(450);
    expect(echoWindowFor(400)).toBe(1050);
  });

  it('the-window-is-capped-however-slow-the-target', () => {
    expect(echoWindowFor(2_375)).toBe(MAX_ECHO_WINDOW_MS);
    expect(echoWindowFor(60_000)).toBe(MAX_ECHO_WINDOW_MS);
    expect(echoWindowFor(Number.POSITIVE_INFINITY)).toBe(MAX_ECHO_WINDOW_MS);
  });
});

describe('echo tracker with a window that follows the round trip', () => {
  /** A tracker whose window is asked of `roundTrip.ms` at each decision, as SSH sessions do. */
  function trackerFor(roundTrip: { ms: number | undefined }): EchoTracker {
    return new EchoTracker({ windowMs: () => echoWindowFor(roundTrip.ms) });
  }

  it('an-echo-that-comes-back-after-a-long-round-trip-is-typed', () => {
    const roundTrip = { ms: 400 as number | undefined };
    const echo = trackerFor(roundTrip);
    echo.input('ls', 0);
    // 400 ms later the fixed 250 ms window would have masked both keys already.
    expect(echo.settleDue(400)).toEqual([]);
    expect(echo.nextDeadlineMs).toBe(1_050);
    expect(echo.output('ls')).toEqual<SettledInput[]>([
      { atMs: 0, kind: 'typed', text: 'l' },
      { atMs: 0, kind: 'typed', text: 's' },
    ]);
  });

  it('keys-without-echo-are-still-masked-once-the-longer-window-ends', () => {
    const echo = trackerFor({ ms: 400 });
    echo.input('pw', 0);
    expect(echo.settleDue(1_049)).toEqual([]);
    expect(maskedText(echo.settleDue(1_050))).toBe('**');
  });

  it('a-longer-window-never-turns-output-that-differs-into-an-echo', () => {
    const echo = trackerFor({ ms: 2_000 });
    echo.input('hunter2', 0);
    expect(maskedText(echo.output('Sorry, try again.\r\n'))).toBe('*******');
  });

  it('a-longer-window-keeps-the-new-line-barrier-after-enter', () => {
    // A password typed at a no-echo prompt, then the prompt that starts with the same letters.
    const echo = trackerFor({ ms: 2_000 });
    echo.input('hunter2\r', 0);
    const settled = [...echo.output('\r\n'), ...echo.output('hunter@box:~$ ')];
    expect(maskedText(settled)).toBe('*******\r');
  });

  it('the-window-is-read-when-the-decision-is-taken', () => {
    const roundTrip: { ms: number | undefined } = { ms: undefined };
    const echo = trackerFor(roundTrip);
    echo.input('a', 0);
    expect(echo.nextDeadlineMs).toBe(ECHO_WINDOW_MS);
    roundTrip.ms = 500; // measured while the key waits
    expect(echo.settleDue(ECHO_WINDOW_MS)).toEqual([]);
    expect(echo.nextDeadlineMs).toBe(1_250);
    roundTrip.ms = 10; // and the link calmed down again
    expect(maskedText(echo.settleDue(300))).toBe('*');
  });

  it('a-window-function-that-fails-falls-back-to-the-default', () => {
    const echo = new EchoTracker({ windowMs: () => Number.NaN });
    echo.input('x', 0);
    expect(echo.nextDeadlineMs).toBe(ECHO_WINDOW_MS);
    const never = new EchoTracker({ windowMs: () => Number.POSITIVE_INFINITY });
    never.input('x', 0);
    expect(never.nextDeadlineMs).toBe(ECHO_WINDOW_MS);
  });
});
