import { GatehouseError } from './errors.js';
import type { Target } from './types.js';

/** Time to reach a target and log in to it when its `connect_timeout` label does not say. */
export const DEFAULT_TARGET_CONNECT_TIMEOUT_MS = 10_000;
/** Largest `connect_timeout` label accepted, in seconds. */
const MAX_CONNECT_TIMEOUT_S = 300;

/**
 * How long Gatehouse gives a target, from the TCP connect to a logged-in session (TLS,
 * handshake and authentication included): the target's `connect_timeout` label in seconds
 * (libpq's name), 1 to 300, else {@link DEFAULT_TARGET_CONNECT_TIMEOUT_MS}. A bad label is
 * GH_UPSTREAM_UNREACHABLE naming it in the detail.
 */
export function connectTimeoutMsOf(target: Pick<Target, 'name' | 'labels'>): number {
  const label = target.labels['connect_timeout'];
  if (label === undefined) return DEFAULT_TARGET_CONNECT_TIMEOUT_MS;
  const seconds = /^\d{1,3}$/.test(label) ? Number(label) : NaN;
  if (!(seconds >= 1 && seconds <= MAX_CONNECT_TIMEOUT_S))
    throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
      detail: `target ${target.name}: label connect_timeout=${label.slice(0, 20)} is not a number of seconds from 1 to ${MAX_CONNECT_TIMEOUT_S}`,
    });
  return seconds * 1000;
}

/**
 * GH_UPSTREAM_UNREACHABLE for a target that did not finish connecting and logging in within
 * `timeoutMs` (a firewall dropping packets, a server that accepts and never speaks). The public
 * message says so; `namingTarget` turns it into `target "web-1" did not answer within 10 s`.
 */
export function upstreamTimeoutError(
  where: string,
  timeoutMs: number,
  detail: string,
  cause?: unknown,
): GatehouseError {
  return new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
    message: `the target did not answer within ${Math.round(timeoutMs / 100) / 10} s`,
    hint: 'the target may be down or out of reach; try again later or tell an administrator',
    detail: `${where}: ${detail}`,
    ...(cause === undefined ? {} : { cause }),
  });
}
