import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { GatehouseError } from '../../core/errors.js';
import type { Logger } from '../../log/index.js';
import type { QueryAuditor } from '../query-audit.js';
import type { DbRelayEnd, DbStop } from '../session-flow.js';
import { errorResponseFor } from './pg-errors.js';
import {
  FRONTEND,
  MessageFramer,
  PgProtocolError,
  serializeEmpty,
  SQLSTATE,
  WholeMessageSplitter,
} from './protocol/index.js';
import { StatementTracker } from './statement-tracker.js';
import { clientKeepBytes, serverKeepBytes } from './tracked-message.js';

/** Largest client message held whole on a read-only target (it is checked before it goes on). */
export const READ_ONLY_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Unanswered client messages beyond which the gateway stops reading the client. */
export const MAX_PENDING_RESPONSES = 100_000;
/** How long a closing side may take before it is destroyed. */
const CLOSE_GRACE_MS = 5_000;
/** How often a session waiting for the target counts as active (a long query is not idle). */
const BUSY_TOUCH_MS = 1_000;

type Duplex = Socket | TLSSocket;

/** What {@link relayPg} connects. */
export interface PgRelayOptions {
  readonly client: Duplex;
  /** Bytes the client sent after logging in, read ahead by the handshake. */
  readonly clientLeftover: Buffer;
  readonly upstream: Duplex;
  readonly upstreamLeftover: Buffer;
  readonly auditor: QueryAuditor;
  readonly isReadOnly: boolean;
  readonly targetName: string;
  /** Aborted with a DbStop when the session must end. */
  readonly signal: AbortSignal;
  readonly touch: () => void;
  readonly log: Logger;
}

/**
 * Relays one PostgreSQL session. Received chunks go on unchanged (FINDINGS: one write per
 * chunk), framed on the side to follow statements for audit; on a read-only target client
 * messages are held until whole and checked first. Backpressure both ways: a side that
 * cannot take more stops the other from being read, and so do a full audit queue and too
 * many unanswered messages, so memory stays flat however large a result is.
 */
export function relayPg(o: PgRelayOptions): Promise<DbRelayEnd> {
  const { client, upstream } = o;
  return new Promise<DbRelayEnd>((resolve) => {
    let bytesFromClient = 0;
    let bytesToClient = 0;
    let isEnded = false;
    /** The client said goodbye (Terminate): whichever side closes first, the client ended it. */
    let hasTerminated = false;
    const clientPauses = new Set<string>();
    const serverFramer = new MessageFramer({ keep: serverKeepBytes });
    const clientFramer = o.isReadOnly ? undefined : new MessageFramer({ keep: clientKeepBytes });
    const splitter = o.isReadOnly
      ? new WholeMessageSplitter({ maxLength: READ_ONLY_MAX_MESSAGE_BYTES })
      : undefined;

    const writeClient = (data: Buffer): void => {
      if (isEnded) return;
      if (!client.write(data) && !upstream.isPaused()) {
        upstream.pause();
        client.once('drain', () => {
          if (!isEnded) upstream.resume();
        });
      }
    };
    const tracker = new StatementTracker({
      auditor: o.auditor,
      isReadOnly: o.isReadOnly,
      targetName: o.targetName,
      isServerAtBoundary: () => serverFramer.isAtBoundary,
      writeToClient: writeClient,
    });

    const pauseClient = (why: string): void => {
      clientPauses.add(why);
      client.pause();
    };
    const resumeClient = (why: string): void => {
      if (!clientPauses.delete(why) || clientPauses.size > 0 || isEnded) return;
      client.resume();
    };
    const writeUpstream = (parts: readonly Buffer[]): void => {
      if (parts.length === 0 || isEnded) return;
      let isFull = false;
      if (parts.length === 1) isFull = !upstream.write(parts[0] as Buffer);
      else {
        upstream.cork();
        for (const part of parts) isFull = !upstream.write(part) || isFull;
        process.nextTick(() => upstream.uncork());
      }
      if (isFull && !clientPauses.has('upstream')) {
        pauseClient('upstream');
        upstream.once('drain', () => resumeClient('upstream'));
      }
    };
    const checkBackpressure = (): void => {
      if (o.auditor.isBackedUp && !clientPauses.has('audit')) {
        pauseClient('audit');
        void o.auditor.whenDrained().then(() => resumeClient('audit'));
      }
      if (tracker.pendingResponses > MAX_PENDING_RESPONSES && !clientPauses.has('pending'))
        pauseClient('pending');
    };

    // A statement still running keeps the session out of the idle timeout.
    const busyTimer = setInterval(() => {
      if (tracker.pendingResponses > 0) o.touch();
    }, BUSY_TOUCH_MS).unref();
    const finish = (reason: string, status: DbRelayEnd['status'], notice?: Buffer): void => {
      if (isEnded) return;
      isEnded = true;
      clearInterval(busyTimer);
      client.off('data', onClientData);
      upstream.off('data', onUpstreamData);
      o.signal.removeEventListener('abort', onStop);
      // A message cut in the middle would garble the client's stream: the notice only goes between messages.
      if (notice !== undefined && serverFramer.isAtBoundary && client.writable) client.end(notice);
      else client.end();
      if (upstream.writable) upstream.end(serializeEmpty(FRONTEND.terminate));
      for (const side of [client, upstream])
        setTimeout(() => side.destroy(), CLOSE_GRACE_MS).unref();
      resolve({ reason, status, bytesFromClient, bytesToClient });
    };
    const fatal = (error: GatehouseError, sqlstate?: string): Buffer =>
      errorResponseFor(error, {
        severity: 'FATAL',
        ...(sqlstate === undefined ? {} : { sqlstate }),
      });

    function onClientData(chunk: Buffer): void {
      o.touch();
      bytesFromClient += chunk.length;
      try {
        if (splitter !== undefined) {
          const out = splitter.push(chunk).filter((m) => {
            if (m[0] === FRONTEND.terminate) hasTerminated = true;
            return tracker.onClientMessage({
              type: m[0] ?? 0,
              body: m.subarray(5),
              isTruncated: false,
            });
          });
          writeUpstream(out);
        } else {
          clientFramer?.push(chunk, (m) => {
            if (m.type === FRONTEND.terminate) hasTerminated = true;
            tracker.onClientMessage(m);
          });
          writeUpstream([chunk]);
        }
      } catch (err) {
        if (err instanceof PgProtocolError) {
          o.log.info({ err: err.message }, 'client broke the protocol');
          finish(
            'protocol-violation',
            'failed',
            fatal(new GatehouseError('GH_PROTOCOL_VIOLATION', { detail: err.message })),
          );
        } else failInternal(err);
        return;
      }
      checkBackpressure();
    }

    function onUpstreamData(chunk: Buffer): void {
      o.touch();
      bytesToClient += chunk.length;
      let inserts: [number, readonly Buffer[]][] | undefined;
      try {
        serverFramer.push(chunk, (m) => {
          const effect = tracker.onServerMessage(m);
          if (effect === undefined) return;
          // ReadyForQuery's status is its last byte, which is in this chunk since it ends here.
          if (effect.status !== undefined) chunk[m.end - 1] = effect.status.charCodeAt(0);
          if (effect.after !== undefined && effect.after.length > 0)
            (inserts ??= []).push([m.end, effect.after]);
        });
      } catch (err) {
        if (err instanceof PgProtocolError) {
          o.log.warn({ err: err.message }, 'target broke the protocol');
          finish('target-protocol-error', 'failed');
        } else failInternal(err);
        return;
      }
      if (inserts === undefined) writeClient(chunk);
      else {
        const parts: Buffer[] = [];
        let from = 0;
        for (const [at, buffers] of inserts) {
          parts.push(chunk.subarray(from, at), ...buffers);
          from = at;
        }
        parts.push(chunk.subarray(from));
        writeClient(Buffer.concat(parts));
      }
      if (clientPauses.has('pending') && tracker.pendingResponses < MAX_PENDING_RESPONSES / 2)
        resumeClient('pending');
    }

    // A bug here must end this session, not the gateway (a throw in a socket handler would).
    function failInternal(err: unknown): void {
      o.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'postgres relay failed');
      finish('internal-error', 'failed', fatal(new GatehouseError('GH_INTERNAL')));
    }

    function onStop(): void {
      const stop = o.signal.reason as DbStop;
      const sqlstate = stop.reason === 'idle-timeout' ? SQLSTATE.idleSessionTimeout : undefined;
      finish(stop.reason, stop.status, fatal(stop.error, sqlstate));
    }

    client.on('data', onClientData);
    upstream.on('data', onUpstreamData);
    client.once('close', () => finish('client-closed', 'ended'));
    client.once('end', () => finish('client-closed', 'ended'));
    client.on('error', (err: Error) =>
      o.log.debug({ err: err.message }, 'client connection error'),
    );
    // The target closing a session the client did not end (restart, crash, a killed backend) is
    // a failure; the client hears which target went away.
    const lost = (detail?: string): Buffer =>
      fatal(
        new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
          message: `the connection to target "${o.targetName}" was lost`,
          ...(detail === undefined ? {} : { detail }),
        }),
      );
    upstream.once('close', () =>
      hasTerminated ? finish('client-closed', 'ended') : finish('target-closed', 'failed', lost()),
    );
    upstream.on('error', (err: Error) => {
      o.log.info({ err: err.message }, 'target connection error');
      finish('target-error', 'failed', lost(err.message));
    });
    if (o.signal.aborted) return onStop();
    // Either side may have gone while the session was being set up.
    if (client.destroyed) return finish('client-closed', 'ended');
    if (upstream.destroyed) return finish('target-closed', 'failed', lost());
    o.signal.addEventListener('abort', onStop, { once: true });
    if (o.upstreamLeftover.length > 0) onUpstreamData(o.upstreamLeftover);
    if (o.clientLeftover.length > 0) onClientData(o.clientLeftover);
    if (clientPauses.size === 0) client.resume();
    if (!isEnded) upstream.resume();
  });
}
