import type ssh2 from 'ssh2';
import { isGatehouseError, namingTarget } from '../core/errors.js';
import { connectTimeoutMsOf } from '../core/target-connect.js';
import type {
  ClientContext,
  GatewayControl,
  GatewayUser,
  TargetSession,
} from '../lease/gateway-control.js';
import type { Logger } from '../log/index.js';
import { HostKeyMismatchError } from './host-keys.js';
import { noDelayWhileHeld } from './no-delay.js';
import { RoundTripProbe, sendKeepalive } from './round-trip.js';
import { connectUpstream, type UpstreamCredential } from './upstream.js';

/** An open session on one target: the control-plane session and the SSH connection to it. */
export interface UpstreamLink {
  readonly session: TargetSession;
  readonly client: ssh2.Client;
  /** Resolves once the link is closed (by the target, a kill, or `close`). */
  readonly closed: Promise<string>;
  /** Closes the upstream connection; the session ends with `reason`. */
  close(reason: string, status?: 'ended' | 'terminated' | 'failed', notice?: string): void;
  /**
   * Closes once no channel holds the link any more (their recordings finished), or after a
   * grace period: for a client connection that ended.
   */
  closeWhenIdle(reason: string): void;
  /** Notes activity on a channel (for the target's idle timeout). */
  touch(): void;
  /**
   * What the client should hear when its channel ends without an exit status: the `notice`
   * given to `close`, or `the connection to target "web-1" was lost` once the connection closed
   * without Gatehouse closing it; else undefined.
   */
  endNotice(): string | undefined;
  /**
   * Makes `session.end` wait for an audit event of this session still being written (group
   * committed, retried through a store outage): no event of a session lands after its end.
   */
  awaitBeforeEnd(pending: Promise<unknown>): void;
  /** Adds a recording to report in `session.end`. */
  addRecording(recording: { path: string; sha256: string }): void;
  /** Keeps the link open while a channel uses it; returns the release function. */
  hold(): () => void;
  /**
   * Keeps the connection to the target sending small writes at once (TCP_NODELAY), and its
   * round trip measured again every few seconds, while a terminal channel runs on it;
   * returns the release function.
   */
  holdInteractive(): () => void;
  /**
   * The round trip to the target in ms (measured when the link opened and again every few
   * seconds while a terminal channel is open), or undefined when it cannot be measured.
   */
  roundTripMs(): number | undefined;
}

/**
 * Opens a session on `target` for an authenticated user: authorize and unlock through the
 * control plane (dual key), then log in to the target with the leased credential, pinning its
 * host key. The lease and the session end when the link closes.
 */
export async function openUpstreamLink(
  control: GatewayControl,
  user: GatewayUser,
  target: string,
  options: { readonly ctx: ClientContext; readonly log: Logger },
): Promise<UpstreamLink> {
  const session = await control.openSession(user, target, options.ctx);
  const log = options.log.child({ sid: session.sid, target });
  let client: ssh2.Client;
  try {
    client = await connectUpstream({
      host: session.target.host,
      port: session.target.port,
      username: session.credential.username,
      credential: toUpstreamCredential(session),
      pinnedHostKey: session.target.hostKey,
      trustOnFirstUse: session.target.options.trustOnFirstUse,
      onFirstUse: async (line) => {
        const fingerprint = line.split(' ')[1] ?? '';
        await control.pinHostKeyOnFirstUse(target, line, fingerprint);
      },
      targetName: target,
      connectTimeoutMs: connectTimeoutMsOf(session.target),
      keepaliveIntervalMs: 15_000,
      log,
    });
  } catch (err) {
    if (err instanceof HostKeyMismatchError) {
      await control
        .audit({
          type: 'ssh.host_key_mismatch',
          user: session.user.name,
          sid: session.sid,
          target,
          clientAddr: options.ctx.clientAddr,
          data: { presented: err.presentedFingerprint, pinned: err.pinnedFingerprint },
        })
        .catch(() => undefined);
    }
    const reason = isGatehouseError(err) ? err.code : 'upstream-error';
    await session.end({ status: 'failed', reason }).catch(() => undefined);
    throw isGatehouseError(err) ? namingTarget(err, target) : err;
  }
  const link = makeLink(session, client, log);
  try {
    // Fail closed: a session that cannot be audited does not start.
    await control.audit({
      type: 'session.start',
      user: session.user.name,
      sid: session.sid,
      target,
      clientAddr: options.ctx.clientAddr,
      data: {
        via: options.ctx.via,
        kind: session.target.kind,
        account: session.credential.username,
        credentialVersion: session.credential.credentialVersion,
        accessExpiresAt: session.accessExpiresAt,
      },
    });
  } catch (err) {
    link.close('audit-failed', 'failed');
    throw err;
  }
  return link;
}

/** How often idle and maximum-duration limits are checked. */
const LIMIT_CHECK_MS = 1_000;

/** How long a link whose client left waits for its channels to finish their recordings. */
const CLOSE_GRACE_MS = 5_000;

function makeLink(session: TargetSession, client: ssh2.Client, log: Logger): UpstreamLink {
  const recordings: { path: string; sha256: string }[] = [];
  const pendingAudits = new Set<Promise<unknown>>();
  let holders = 0;
  let closeReason: { reason: string; status: 'ended' | 'terminated' | 'failed' } | undefined;
  let resolveClosed: (reason: string) => void = () => undefined;
  const closed = new Promise<string>((resolve) => (resolveClosed = resolve));
  let notice: string | undefined;
  const close = (
    reason: string,
    status: 'ended' | 'terminated' | 'failed' = 'ended',
    why?: string,
  ): void => {
    if (closeReason === undefined) {
      closeReason = { reason, status };
      notice = why;
    }
    client.end();
  };
  // The target went away (restarted, crashed, network): the connection ended before Gatehouse
  // closed it. ssh2 emits the client's `end`/`close` before closing its channels, so the
  // channels' bridges see this when they tell their clients why.
  let isLost = false;
  const noteLoss = (): void => {
    if (closeReason === undefined && !isLost) {
      isLost = true;
      log.warn('the connection to the target was lost');
    }
  };
  client.once('end', noteLoss);
  // Measured from the start, apart from any echo: terminal channels size their echo window
  // with it (src/recording/echo-window.ts).
  const roundTrip = new RoundTripProbe(sendKeepalive(client));
  roundTrip.probe();
  client.once('close', () => roundTrip.stop());
  const holdNoDelay = noDelayWhileHeld((isOn) => client.setNoDelay(isOn));
  // Channels finish their recordings after the connection closed; session.end carries the hashes.
  const idleWaiters: (() => void)[] = [];
  const channelsReleased = (): Promise<void> =>
    holders === 0
      ? Promise.resolve()
      : new Promise((resolve) => {
          idleWaiters.push(resolve);
          setTimeout(resolve, CLOSE_GRACE_MS).unref();
        });
  client.once('close', () => {
    noteLoss();
    const final = closeReason ?? { reason: 'target-disconnected', status: 'failed' as const };
    void channelsReleased()
      .then(() => Promise.allSettled([...pendingAudits]))
      .then(() => session.end({ status: final.status, reason: final.reason, recordings }))
      .catch((err: unknown) => log.error({ err: String(err) }, 'ending the session failed'))
      .finally(() => resolveClosed(final.reason));
  });
  session.signal.addEventListener(
    'abort',
    () => close(String(session.signal.reason), 'terminated'),
    { once: true },
  );
  let idleReason: string | undefined;
  let lastActivity = Date.now();
  const startedAt = lastActivity;
  const { idleTimeoutS, maxSessionS } = session.target.options;
  if (idleTimeoutS > 0 || maxSessionS > 0) {
    const timer = setInterval(() => {
      const now = Date.now();
      if (maxSessionS > 0 && now - startedAt >= maxSessionS * 1000)
        close('max-session-duration', 'terminated');
      else if (idleTimeoutS > 0 && now - lastActivity >= idleTimeoutS * 1000)
        close('idle-timeout', 'terminated');
    }, LIMIT_CHECK_MS);
    timer.unref();
    client.once('close', () => clearInterval(timer));
  }
  return {
    session,
    client,
    closed,
    close,
    touch: () => {
      lastActivity = Date.now();
    },
    closeWhenIdle: (reason) => {
      if (holders === 0) return close(reason);
      idleReason = reason;
      setTimeout(() => close(reason), CLOSE_GRACE_MS).unref();
    },
    endNotice: () =>
      notice ?? (isLost ? `the connection to target "${session.target.name}" was lost` : undefined),
    awaitBeforeEnd: (pending) => {
      pendingAudits.add(pending);
      void pending.finally(() => pendingAudits.delete(pending));
    },
    addRecording: (recording) => recordings.push(recording),
    holdInteractive: () => {
      const releaseNoDelay = holdNoDelay();
      const releaseProbe = roundTrip.hold();
      return () => {
        releaseNoDelay();
        releaseProbe();
      };
    },
    roundTripMs: () => roundTrip.estimateMs(),
    hold: () => {
      holders += 1;
      let isReleased = false;
      return () => {
        if (isReleased) return;
        isReleased = true;
        holders -= 1;
        if (holders === 0) {
          for (const wake of idleWaiters.splice(0)) wake();
          close(idleReason ?? 'channels-closed');
        }
      };
    },
  };
}

function toUpstreamCredential(session: TargetSession): UpstreamCredential {
  const secret = session.credential.secret;
  return session.credential.kind === 'ssh-key'
    ? { kind: 'ssh-key', privateKey: secret }
    : { kind: 'password', password: secret };
}
