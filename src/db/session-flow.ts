import {
  forGatewayClient,
  GatehouseError,
  namingTarget,
  toGatehouseError,
} from '../core/errors.js';
import type { TargetKind } from '../core/types.js';
import type { GatewayControl, GatewayUser, TargetSession } from '../lease/gateway-control.js';
import {
  checkedWithin,
  eventNameOf,
  type Admission,
  type ProofChecks,
  type WhileChecking,
} from '../listen/index.js';
import type { Logger } from '../log/index.js';
import type { DbTranscriptStore, DbTranscriptWriter } from '../recording/db-transcript.js';
import { parseDbLogin } from './login-name.js';
import { QueryAuditor } from './query-audit.js';
import type { SqlDialect } from './redact.js';

/** How often idle and maximum-duration limits are checked. */
export const LIMIT_CHECK_MS = 1_000;

/** Why a relay must stop before either side left: a kill, revoked access, a limit, a failed record. */
export interface DbStop {
  /** For `session.end`: `admin-kill`, `idle-timeout`, `max-session-duration`, `audit-failed`, … */
  readonly reason: string;
  readonly status: 'terminated' | 'failed';
  /** What to tell the client (GH_SESSION_TERMINATED, GH_AUDIT_WRITE_FAILED, GH_RECORDING_FAILED). */
  readonly error: GatehouseError;
}

/** How a relay ended, with its byte counts. */
export interface DbRelayEnd {
  readonly reason: string;
  readonly status: 'ended' | 'failed' | 'terminated';
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
}

/** What the relay works with. */
export interface DbRelayContext {
  readonly session: TargetSession;
  /** Where every statement goes (audit chain and transcript). */
  readonly auditor: QueryAuditor;
  /** Aborted with a {@link DbStop} when the session must end; the relay tells the client and returns. */
  readonly signal: AbortSignal;
  /** Notes client activity (idle timeout). */
  readonly touch: () => void;
  readonly log: Logger;
}

/**
 * What one protocol supplies to the shared flow (STYLE.md: one security flow, small
 * transports): how to run its login exchange, reach the target, say "ready" and "denied",
 * and relay. Authentication, authorization, unlock, audit and recording happen in
 * {@link runDbSession}, never in a transport.
 */
export interface DbTransport<Upstream> {
  /** `postgres` or `mysql`: names the front end in sessions and events. */
  readonly protocol: TargetKind;
  readonly dialect: SqlDialect;
  readonly clientAddr: string;
  /** The user name the client sent (`alice#orders-db`). */
  readonly loginName: string;
  /** Step 2: the protocol's login exchange; the control plane checks the proof and returns the user. */
  authenticate(user: string, checks: ProofChecks): Promise<GatewayUser>;
  /** Step 4: logs in to the target with the leased credential (zeroed by the flow afterwards). */
  connectUpstream(session: TargetSession, log: Logger): Promise<Upstream>;
  /** Step 6: tells the client it is in (PostgreSQL: AuthenticationOk, parameters, key, ReadyForQuery). */
  makeReady(upstream: Upstream, session: TargetSession): Promise<void>;
  /** Step 7: relays until either side leaves or `context.signal` aborts. */
  relay(upstream: Upstream, context: DbRelayContext): Promise<DbRelayEnd>;
  /** Tells the client why it cannot go on, in the protocol's terms (only public fields). */
  sendError(error: GatehouseError): Promise<void>;
  /** Closes the client connection and the upstream one, if any. */
  close(): void;
  /**
   * True once the client connection is closed. The client can leave (its own connect timeout)
   * or be dropped by the login timeout while the gateway is still opening its session.
   */
  isClientGone(): boolean;
  /** Fingerprint of a statement (libpg-query for PostgreSQL); null when it does not parse. */
  readonly fingerprint?: (sql: string) => string | null;
}

/** What the flow needs from the gateway. */
export interface DbFlowDeps {
  readonly control: GatewayControl;
  readonly transcripts: DbTranscriptStore;
  readonly log: Logger;
  /** The one target of a dedicated listener, where the login is a plain user name. */
  readonly fixedTarget?: string | undefined;
  /**
   * Logs a login refused before any session opened (wrong name, failed proof, a client that
   * left) at a bounded rate, since anyone can cause one per connection; default: one info line.
   */
  readonly reportRefusal?: (error: GatehouseError) => void;
  /**
   * The client proved who it is (step 2): its part of the login is over, so the listener's
   * login timeout stops (like PostgreSQL's authentication_timeout; SSH does the same). What
   * follows (authorize, unlock, connect upstream) is the gateway's work, with its own timeouts.
   */
  readonly onAuthenticated?: () => void;
  /** Runs each control-plane check of the client's proof with the login timeout stopped. */
  readonly whileChecking?: WhileChecking | undefined;
}

/**
 * The {@link DbFlowDeps} hooks of a connection the listener's gate admitted: its login
 * timeout stops once the client proved who it is (and while a proof is checked), and a
 * refused login is reported at the gate's bounded rate with the name the client sent.
 */
export function admissionHooksOf(
  admission: Admission,
  loginName: string,
): Pick<DbFlowDeps, 'onAuthenticated' | 'whileChecking' | 'reportRefusal'> {
  return {
    onAuthenticated: () => admission.established(),
    whileChecking: admission.whileChecking,
    reportRefusal: (error) =>
      admission.report(eventNameOf(error.code), 'database session refused', {
        code: error.code,
        detail: error.detail,
        login: loginName.slice(0, 128),
      }),
  };
}

/**
 * One database client connection, start to end (DESIGN.md §3), the same for every protocol:
 *
 * 1. read who the user is and which target they want (`alice#orders-db`);
 * 2. authenticate: the protocol's exchange, verified by the control plane;
 * 3. authorize and unlock: a session grant for this target and the leased credential (dual key);
 * 4. connect upstream with the leased credential, then zero it;
 * 5. open the transcript and audit `session.start` (fail closed);
 * 6. make the client ready;
 * 7. relay, auditing each statement, until a side leaves, a kill, or a limit;
 * 8. close: finish the transcript, release the lease, `session.end` with counts.
 */
export async function runDbSession<Upstream>(
  transport: DbTransport<Upstream>,
  deps: DbFlowDeps,
): Promise<void> {
  const { control } = deps;
  let log = deps.log.child({ clientAddr: transport.clientAddr });
  const ctx = {
    clientAddr: transport.clientAddr,
    via: transport.protocol,
    targetKind: transport.protocol,
  };
  let session: TargetSession | undefined;
  let transcript: DbTranscriptWriter | undefined;
  try {
    // 1. Who and which target.
    const login = parseDbLogin(transport.loginName, { fixedTarget: deps.fixedTarget });
    if (login === undefined) throw missingTarget(deps.fixedTarget);
    log = log.child({ user: login.user, target: login.target });

    // 2. Authenticate: the control plane verifies the proof; the gateway only carries it.
    const user = await transport.authenticate(
      login.user,
      checkedWithin(control, deps.whileChecking),
    );
    deps.onAuthenticated?.();

    // 3. Authorize and unlock: grant for this gateway, credential sealed to it.
    session = await control.openSession(user, login.target, ctx);
    log = log.child({ sid: session.sid });

    // 4. Connect upstream; the plaintext credential is not needed past the login.
    let upstream: Upstream;
    try {
      upstream = await transport.connectUpstream(session, log);
    } catch (err) {
      throw namingTarget(toGatehouseError(err), session.target.name);
    } finally {
      session.credential.secret.fill(0);
    }

    // A client that left meanwhile gets no session: without this its session would be
    // audited as started, then as ended normally by a relay that finds no client.
    if (transport.isClientGone())
      throw new GatehouseError('GH_CLIENT_GONE', {
        detail: 'the client left while its session was being opened',
      });

    // 5. Record: a session that cannot be recorded or audited does not start.
    const stop = new AbortController();
    const stopWith = (s: DbStop): void => {
      if (!stop.signal.aborted) stop.abort(s);
    };
    const opened = await deps.transcripts.open(
      {
        sid: session.sid,
        user: session.user.name,
        target: session.target.name,
        protocol: transport.protocol,
        account: session.credential.username,
        database: session.target.database,
      },
      { onError: (error) => stopWith({ reason: 'recording-failed', status: 'failed', error }) },
    );
    transcript = opened.writer;
    const recording = opened.relPath;
    await control.audit({
      type: 'session.start',
      user: session.user.name,
      sid: session.sid,
      target: session.target.name,
      clientAddr: transport.clientAddr,
      data: {
        via: transport.protocol,
        kind: session.target.kind,
        account: session.credential.username,
        database: session.target.database,
        credentialVersion: session.credential.credentialVersion,
        accessExpiresAt: session.accessExpiresAt,
        readOnly: session.target.options.readOnly,
        transcript: recording,
      },
    });
    const auditor = new QueryAuditor({
      auditBatch: (events) => control.auditBatch(events),
      sid: session.sid,
      user: session.user.name,
      target: session.target.name,
      clientAddr: transport.clientAddr,
      protocol: transport.protocol,
      dialect: transport.dialect,
      transcript,
      onFailure: (error) => stopWith({ reason: 'audit-failed', status: 'failed', error }),
      ...(transport.fingerprint === undefined ? {} : { fingerprint: transport.fingerprint }),
    });

    // 6. Ready.
    await transport.makeReady(upstream, session);
    log.info('database session started');

    // 7. Relay, until a side leaves, a kill, revoked access or a limit.
    const limits = watchLimits(session, stopWith);
    let end: DbRelayEnd;
    try {
      end = await transport.relay(upstream, {
        session,
        auditor,
        signal: stop.signal,
        touch: limits.touch,
        log,
      });
    } finally {
      limits.stop();
    }

    // 8. Close: the transcript's hash goes into session.end with the counts.
    await auditor.flush();
    transcript.append('end', { reason: end.reason, status: end.status });
    const finished = await transcript.close().catch((err: unknown) => {
      log.error({ err: toGatehouseError(err).detail }, 'closing the transcript failed');
      return undefined;
    });
    transcript = undefined;
    const stats = {
      bytesFromClient: end.bytesFromClient,
      bytesToClient: end.bytesToClient,
      ...auditor.stats,
    };
    await session.end({
      status: end.status,
      reason: end.reason,
      ...(finished === undefined
        ? {}
        : { recordings: [{ path: recording, sha256: finished.sha256 }] }),
      stats,
    });
    log.info({ reason: end.reason, ...stats }, 'database session ended');
  } catch (err) {
    const error = toGatehouseError(err);
    if (error.code === 'GH_INTERNAL')
      log.error(
        { err: error.detail, stack: err instanceof Error ? err.stack : undefined },
        'database session failed',
      );
    else if (session === undefined && deps.reportRefusal !== undefined) deps.reportRefusal(error);
    else log.info({ code: error.code, detail: error.detail }, 'database session refused');
    await transport.sendError(forGatewayClient(error)).catch(() => undefined);
    await transcript?.close().catch(() => undefined);
    await session
      ?.end({ status: 'failed', reason: error.code })
      .catch((e: unknown) => log.error({ err: String(e) }, 'ending the session failed'));
  } finally {
    transport.close();
  }
}

function missingTarget(fixedTarget: string | undefined): GatehouseError {
  return new GatehouseError('GH_INVALID_ARGUMENT', {
    message:
      fixedTarget === undefined
        ? 'the user name must name a target'
        : `this port serves target "${fixedTarget}" only`,
    hint:
      fixedTarget === undefined
        ? 'connect as user#target, e.g. alice#orders-db'
        : 'connect with your plain user name',
  });
}

/** Ends the session on an admin kill or revoked access (the session's signal), idle timeout or maximum duration. */
function watchLimits(
  session: TargetSession,
  stopWith: (stop: DbStop) => void,
): { readonly touch: () => void; readonly stop: () => void } {
  const terminated = (reason: string, message: string): DbStop => ({
    reason,
    status: 'terminated',
    error: new GatehouseError('GH_SESSION_TERMINATED', { message }),
  });
  const onAbort = (): void => {
    const why = String(session.signal.reason ?? 'terminated');
    stopWith(terminated(why.startsWith('access ended') ? 'access-ended' : 'admin-kill', why));
  };
  if (session.signal.aborted) onAbort();
  else session.signal.addEventListener('abort', onAbort, { once: true });
  const { idleTimeoutS, maxSessionS } = session.target.options;
  const startedAt = Date.now();
  let lastActivity = startedAt;
  const timer =
    idleTimeoutS > 0 || maxSessionS > 0
      ? setInterval(() => {
          const now = Date.now();
          if (maxSessionS > 0 && now - startedAt >= maxSessionS * 1000)
            stopWith(
              terminated('max-session-duration', 'the session reached its maximum duration'),
            );
          else if (idleTimeoutS > 0 && now - lastActivity >= idleTimeoutS * 1000)
            stopWith(terminated('idle-timeout', 'the session was idle for too long'));
        }, LIMIT_CHECK_MS).unref()
      : undefined;
  return {
    touch: () => {
      lastActivity = Date.now();
    },
    stop: () => {
      clearInterval(timer);
      session.signal.removeEventListener('abort', onAbort);
    },
  };
}
