import { InvalidArgumentError } from 'commander';
import { parseDurationMs } from '../core/clock.js';

/** Commander parser for a TCP port (0 = any free port, for tests). */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`"${value}" is not a port number`);
  return n;
}

/** Commander parser for a duration such as `30m`, `8h`, `7d`; returns ms. */
export function parseDuration(value: string): number {
  try {
    const ms = parseDurationMs(value);
    if (ms <= 0) throw new RangeError('must be positive');
    return ms;
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a duration (use e.g. 30m, 8h, 7d)`);
  }
}
