import type { Socket } from 'node:net';
import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../log/index.js';
import { ConnectionEventLog, type ConnectionEventLogOptions } from './connection-event-log.js';
import type { WhileChecking } from './proof-checks.js';
import { clientAddressOf, sourceKeyOf } from './source-address.js';

/** Limits on connections, shared by every listener of a process (config `limits`). */
export interface ConnectionLimits {
  /** Time from TCP accept to a finished login (SSH authenticated, database ready, first HTTP request). */
  readonly loginTimeoutMs: number;
  /** Open connections, all listeners together. */
  readonly maxConnections: number;
  /** Connections still in their handshake or login, all listeners together. */
  readonly maxUnauthenticated: number;
  /** Connections still in their handshake or login from one source (IPv4 address, IPv6 /64). */
  readonly maxUnauthenticatedPerSource: number;
  /** Open connections from one source. */
  readonly maxConnectionsPerSource: number;
}

/** The defaults of config `limits` (docs/configuration.md). */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  loginTimeoutMs: 60_000,
  maxConnections: 8_192,
  maxUnauthenticated: 1_024,
  maxUnauthenticatedPerSource: 64,
  maxConnectionsPerSource: 1_024,
};

/** After its farewell a closing connection gets this long to leave before it is cut. */
export const CLOSE_GRACE_MS = 1_000;

/** Why a connection was refused at the door. */
export type RefusalReason =
  | 'too-many-connections'
  | 'too-many-unauthenticated'
  | 'too-many-from-source'
  | 'too-many-unauthenticated-from-source';

/** Options of {@link ConnectionGate.admit}. */
export interface AdmitOptions {
  /** `ssh`, `postgres`, `mysql`, `web`: names the listener in logs. */
  readonly listener: string;
  /**
   * The bytes that tell a refused client why, in its protocol (PostgreSQL ErrorResponse, MySQL
   * ERR packet in place of the greeting, SSH text line before the version); none closes silently.
   */
  readonly refusal?: (reason: RefusalReason) => Buffer | undefined;
}

/** A connection let in: counted until its socket closes, closed if its login takes too long. */
export interface Admission {
  readonly clientAddr: string;
  /** The login finished: the deadline stops and the connection no longer counts as unauthenticated. */
  established(): void;
  /**
   * Runs `work` (Gatehouse checking a proof the client sent) with the deadline stopped: it
   * counts the client's time, not the gateway's (on a saturated gateway a check can take
   * seconds). Each check is bounded by the store's own timeouts and the attempts are counted.
   */
  readonly whileChecking: WhileChecking;
  /**
   * Sets how the client is told that its login expired (e.g. an ErrorResponse on the current
   * stream); the gate closes the socket a moment later in any case.
   */
  onExpired(notify: () => void): void;
  /** Logs a problem of this connection before its login (garbage, a protocol violation) at a bounded rate. */
  report(what: string, message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** Counts of one source, dropped when they reach zero (memory bounded by open connections). */
interface SourceCount {
  open: number;
  unauthenticated: number;
}

/** Options of {@link ConnectionGate}. */
export interface ConnectionGateOptions {
  readonly limits: ConnectionLimits;
  readonly log: Logger;
  readonly eventLog?: ConnectionEventLogOptions;
}

/**
 * The door of every listener: admits or refuses each accepted TCP connection by the
 * {@link ConnectionLimits} (total and per source, open and still logging in), gives each a login
 * deadline counted from accept (so a client that sends nothing, garbage or one byte every few
 * seconds is closed on time whatever the protocol state), and logs refusals and expiries at a
 * bounded rate. Protocols stay out of it: a front end supplies the words for "refused" and
 * "expired" and says when the login is done.
 */
export class ConnectionGate {
  readonly limits: ConnectionLimits;
  readonly #events: ConnectionEventLog;
  readonly #sources = new Map<string, SourceCount>();
  #open = 0;
  #unauthenticated = 0;

  constructor(options: ConnectionGateOptions) {
    this.limits = options.limits;
    this.#events = new ConnectionEventLog(
      options.log.child({ component: 'connection-gate' }),
      options.eventLog,
    );
  }

  /** Connections open now, and how many of them are still logging in. */
  get counts(): {
    readonly open: number;
    readonly unauthenticated: number;
    readonly sources: number;
  } {
    return {
      open: this.#open,
      unauthenticated: this.#unauthenticated,
      sources: this.#sources.size,
    };
  }

  /** Admits `socket` (just accepted) or refuses it: then it is answered, closed, and undefined returned. */
  admit(socket: Socket, options: AdmitOptions): Admission | undefined {
    socket.on('error', () => undefined); // a reset client is not a server error; readers see it too
    const clientAddr = clientAddressOf(socket.remoteAddress);
    const key = sourceKeyOf(socket.remoteAddress);
    const source = this.#sources.get(key) ?? { open: 0, unauthenticated: 0 };
    const reason = this.#refusalFor(source);
    if (reason !== undefined) {
      this.#events.record(
        { listener: options.listener, what: reason, clientAddr },
        'connection refused',
      );
      const bytes = options.refusal?.(reason);
      closeSoon(socket, bytes);
      return undefined;
    }
    this.#sources.set(key, source);
    this.#open += 1;
    source.open += 1;
    this.#unauthenticated += 1;
    source.unauthenticated += 1;
    let isEstablished = false;
    let notify: (() => void) | undefined;
    let dueAt = Date.now() + this.limits.loginTimeoutMs;
    let checks = 0;
    const leaveUnauthenticated = (): void => {
      if (isEstablished) return;
      isEstablished = true;
      clearTimeout(deadline);
      this.#unauthenticated -= 1;
      source.unauthenticated -= 1;
    };
    const expire = (): void => {
      leaveUnauthenticated();
      this.#events.record(
        { listener: options.listener, what: 'login-timeout', clientAddr },
        'login timed out',
      );
      try {
        notify?.();
      } catch {
        // The farewell is a courtesy: the socket is closed below either way.
      }
      // The notifier ends its own stream (TLS on top of this socket, maybe): only cut it later.
      if (notify === undefined) socket.destroy();
      else destroySoon(socket);
    };
    let deadline = setTimeout(expire, this.limits.loginTimeoutMs);
    deadline.unref();
    let pausedAt = 0;
    const whileChecking: WhileChecking = async (work) => {
      if (isEstablished) return work();
      if (checks++ === 0) {
        clearTimeout(deadline);
        pausedAt = Date.now();
      }
      try {
        return await work();
      } finally {
        if (--checks === 0 && !isEstablished) {
          dueAt += Date.now() - pausedAt;
          deadline = setTimeout(expire, Math.max(0, dueAt - Date.now()));
          deadline.unref();
        }
      }
    };
    socket.once('close', () => {
      leaveUnauthenticated();
      this.#open -= 1;
      source.open -= 1;
      if (source.open === 0) this.#sources.delete(key);
    });
    return {
      clientAddr,
      established: leaveUnauthenticated,
      whileChecking,
      onExpired: (fn) => {
        notify = fn;
      },
      report: (what, message, fields) => {
        if (!isEstablished)
          this.#events.record(
            {
              listener: options.listener,
              what,
              clientAddr,
              ...(fields === undefined ? {} : { fields }),
            },
            message,
          );
      },
    };
  }

  /**
   * Logs an error of a listening socket at a bounded rate: failed accepts (EMFILE when file
   * descriptors run out) come once per connection attempt.
   */
  reportListenerError(listener: string, err: Error): void {
    this.#events.record(
      { listener, what: 'listener-error', clientAddr: '-', fields: { err: err.message } },
      'listener error',
    );
  }

  #refusalFor(source: SourceCount): RefusalReason | undefined {
    const l = this.limits;
    if (this.#open >= l.maxConnections) return 'too-many-connections';
    if (source.open >= l.maxConnectionsPerSource) return 'too-many-from-source';
    if (this.#unauthenticated >= l.maxUnauthenticated) return 'too-many-unauthenticated';
    if (source.unauthenticated >= l.maxUnauthenticatedPerSource)
      return 'too-many-unauthenticated-from-source';
    return undefined;
  }
}

/** Ends `socket` after writing `bytes` (if any) and cuts it if the peer does not leave in {@link CLOSE_GRACE_MS}. */
export function closeSoon(socket: Socket, bytes: Buffer | undefined): void {
  if (socket.destroyed) return;
  destroySoon(socket);
  if (bytes === undefined || bytes.length === 0) socket.end();
  else socket.end(bytes);
}

/** Destroys `socket` in {@link CLOSE_GRACE_MS} unless it closes before. */
function destroySoon(socket: Socket): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** The client-facing error for a refusal: the same words on every protocol. */
export function refusalError(reason: RefusalReason): GatehouseError {
  const isPerSource =
    reason === 'too-many-from-source' || reason === 'too-many-unauthenticated-from-source';
  return new GatehouseError('GH_TOO_MANY_CONNECTIONS', {
    ...(isPerSource ? { message: 'too many connections from your address' } : {}),
    detail: reason,
  });
}

/** `GH_PROTOCOL_VIOLATION` → `protocol-violation`: an error code as an event name in connection logs. */
export function eventNameOf(code: string): string {
  return code.replace(/^GH_/, '').toLowerCase().replaceAll('_', '-');
}
