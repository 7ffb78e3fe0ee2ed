import type { AuditEventInput } from '../audit/types.js';
import type { Target, TargetKind, User } from '../core/types.js';
import type { ReachableTarget } from '../policy/access.js';
import type { LeasedCredential } from './gateway-client.js';
import type { UserProof } from './user-proof.js';

/** Where a request comes from. */
export interface ClientContext {
  readonly clientAddr: string;
  /** The front end: `ssh`, `postgres`, `mysql`, `web`. */
  readonly via: string;
  /** The kind of target this front end serves; `openSession` refuses targets of another kind. */
  readonly targetKind?: TargetKind;
}

/** An authenticated user at this gateway, with the ticket that proves it to the control plane. */
export interface GatewayUser {
  readonly user: User;
  /** Signed by the control plane, names this gateway; exchanged for per-target session grants. */
  readonly ticket: string;
}

/** How a session ended, with what it left behind. */
export interface SessionEnd {
  readonly status: 'ended' | 'failed' | 'terminated';
  readonly reason: string;
  /** Recording paths (relative to the recordings store) and their SHA-256, per channel. */
  readonly recordings?: readonly { readonly path: string; readonly sha256: string }[];
  /** Counters kept by the front end (bytes each way, statements), for `session.end`. */
  readonly stats?: Readonly<Record<string, number>>;
}

/** A SCRAM-SHA-256 login (PostgreSQL) run by the control plane; the gateway relays messages. */
export interface ScramHandshake {
  /** Answers client-first-message with server-first-message; throws GH_AUTH_FAILED. */
  start(clientFirst: string): Promise<string>;
  /** Checks client-final-message: the user and server-final-message, or throws GH_AUTH_FAILED. */
  finish(
    clientFinal: string,
  ): Promise<{ readonly user: GatewayUser; readonly serverFinal: string }>;
}

/** A session on one target: authorized, credential unlocked (dual key), lease held. */
export interface TargetSession {
  readonly sid: string;
  readonly user: User;
  readonly target: Target;
  /** When the access grant behind it ends (null: until revoked). */
  readonly accessExpiresAt: number | null;
  /** The leased credential; its `secret` is zeroed once used to log in upstream. */
  readonly credential: LeasedCredential;
  /** Aborted, with the reason, when an admin kills the session or access ends. */
  readonly signal: AbortSignal;
  /** Ends the session: releases the lease, records the end. Safe to call twice. */
  end(end: SessionEnd): Promise<void>;
}

/**
 * What a protocol front end needs from the control plane, through the gateway's signed
 * interface. Every decision (proof, access, unlock) is made behind it, never by a front end.
 */
export interface GatewayControl {
  /** This gateway's id (audit events name it). */
  readonly gatewayId: string;
  /** Answers a signature-less key offer (PK_OK): is this key registered to an enabled user? */
  isKeyAcceptable(user: string, key: { algo: string; blob: Buffer }): Promise<boolean>;
  /** True when the user must also give a TOTP code. */
  needsTotp(user: string): Promise<boolean>;
  /** Verifies a user proof (single-use); throws GH_AUTH_FAILED. */
  authenticate(proof: UserProof, ctx: ClientContext): Promise<GatewayUser>;
  /** Starts a SCRAM-SHA-256 login for `user` against the verifier the control plane holds. */
  startScram(user: string, ctx: ClientContext): Promise<ScramHandshake>;
  /** Targets the user may reach now. */
  reachable(user: GatewayUser): Promise<ReachableTarget[]>;
  /** Authorizes the user for a target and unlocks its credential; throws GH_ACCESS_DENIED etc. */
  openSession(user: GatewayUser, target: string, ctx: ClientContext): Promise<TargetSession>;
  /** Pins a host key seen on first use (targets configured for it). */
  pinHostKeyOnFirstUse(target: string, line: string, fingerprint: string): Promise<void>;
  /** Appends a gateway-side audit event (commands, channels, transfers); throws when it cannot. */
  audit(event: AuditEventInput): Promise<void>;
  /**
   * Appends several events in order, committed together (all or none): for events as frequent
   * as database statements, where one commit each would be the bottleneck. Throws when it cannot.
   */
  auditBatch(events: readonly AuditEventInput[]): Promise<void>;
}
