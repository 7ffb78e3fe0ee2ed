import type { AuditEventInput, AuditEventType } from '../audit/types.js';
import { GatehouseError, type ErrorCode } from '../core/errors.js';
import type { ClientContext, GatewayControl, GatewayUser } from '../lease/gateway-control.js';
import type { Logger } from '../log/index.js';
import type { RecordingStore } from '../recording/index.js';
import type { LoginName } from './addressing.js';
import { noDelayWhileHeld } from './no-delay.js';
import { openUpstreamLink, type UpstreamLink } from './upstream-link.js';

/**
 * What every channel of one authenticated client connection shares: who the user is, how to
 * reach the control plane, and the open links to targets (one session per target, kept while
 * any channel uses it, so `ControlMaster` multiplexing opens one session).
 */
export class ConnectionScope {
  readonly control: GatewayControl;
  readonly user: GatewayUser;
  readonly login: LoginName;
  readonly ctx: ClientContext;
  readonly recordings: RecordingStore;
  readonly log: Logger;
  /**
   * Keeps the client connection sending small writes at once (TCP_NODELAY) while a terminal
   * channel runs on it; returns the release function.
   */
  readonly holdInteractive: () => () => void;
  readonly #links = new Map<string, Promise<UpstreamLink>>();
  #auditTail: Promise<void> = Promise.resolve();

  constructor(options: {
    control: GatewayControl;
    user: GatewayUser;
    login: LoginName;
    ctx: ClientContext;
    recordings: RecordingStore;
    log: Logger;
    /** Turns TCP_NODELAY on the client connection on or off (default: not changed). */
    setNoDelay?: (isOn: boolean) => void;
  }) {
    this.control = options.control;
    this.user = options.user;
    this.login = options.login;
    this.ctx = options.ctx;
    this.recordings = options.recordings;
    this.log = options.log;
    this.holdInteractive = noDelayWhileHeld(options.setNoDelay ?? (() => undefined));
  }

  /** The open link to `target`, opening it (authorize, unlock, connect) when there is none. */
  linkFor(target: string): Promise<UpstreamLink> {
    const existing = this.#links.get(target);
    if (existing !== undefined) return existing;
    const opening = openUpstreamLink(this.control, this.user, target, {
      ctx: this.ctx,
      log: this.log,
    });
    this.#links.set(target, opening);
    opening.then(
      (link) => void link.closed.then(() => this.#forget(target, opening)),
      () => this.#forget(target, opening),
    );
    return opening;
  }

  /** Closes every link (the client connection ended). */
  closeAll(reason: string): void {
    for (const opening of this.#links.values()) {
      opening.then(
        (link) => link.closeWhenIdle(reason),
        () => undefined,
      );
    }
  }

  /** Appends an audit event about a session on a target. */
  async audit(
    link: UpstreamLink,
    type: AuditEventType,
    data: Record<string, unknown>,
  ): Promise<void> {
    await this.control.audit(this.#sessionEvent(link, type, data));
  }

  /**
   * Appends an event about something that already happened (a command typed, a file read),
   * with the group commit of database statements: the audit log keeps trying while the store
   * is briefly unavailable; if the event still cannot be written, the session ends `failed`
   * and the client is told (fail closed).
   */
  auditOrEnd(link: UpstreamLink, type: AuditEventType, data: Record<string, unknown>): void {
    const event = this.#sessionEvent(link, type, data);
    // One after the other: events retried through an outage stay in the order they happened.
    this.#auditTail = this.#auditTail.then(() =>
      this.control.auditBatch([event]).catch((err: unknown) => {
        this.log.error(
          { sid: link.session.sid, type, err: String(err) },
          'audit event could not be written; ending the session',
        );
        link.close(
          'audit-failed',
          'failed',
          'the session ended: its audit events could not be written',
        );
      }),
    );
    // The session's end waits for it: its events come before its session.end in the chain.
    link.awaitBeforeEnd(this.#auditTail);
  }

  /** Audits a refused channel use on a target (e.g. file transfer not allowed). */
  async auditDenied(
    link: UpstreamLink,
    what: string,
    data: Record<string, unknown>,
  ): Promise<void> {
    await this.audit(link, 'ssh.channel_denied', { what, ...data });
  }

  /** Audits a refused request that has no target session (x11, agent, env, streamlocal…). */
  denyRequest(request: string, data: Record<string, unknown>): void {
    void this.control
      .audit({
        type: 'ssh.request_denied',
        user: this.user.user.name,
        target: this.login.target ?? null,
        clientAddr: this.ctx.clientAddr,
        data: { request, ...data },
      })
      .catch((err: unknown) =>
        this.log.error({ err: String(err) }, 'audit of a denied request failed'),
      );
  }

  /** An error to show the user, e.g. how to name a target. */
  usageError(message: string, code: ErrorCode = 'GH_INVALID_ARGUMENT'): GatehouseError {
    return new GatehouseError(code, { message });
  }

  #forget(target: string, opening: Promise<UpstreamLink>): void {
    if (this.#links.get(target) === opening) this.#links.delete(target);
  }

  /** An event about `link`'s session on its target, by this connection's user. */
  #sessionEvent(
    link: UpstreamLink,
    type: AuditEventType,
    data: Record<string, unknown>,
  ): AuditEventInput {
    return {
      type,
      user: this.user.user.name,
      sid: link.session.sid,
      target: link.session.target.name,
      clientAddr: this.ctx.clientAddr,
      data,
    };
  }
}
