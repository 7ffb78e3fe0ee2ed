import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError, type ErrorCode } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Target, TargetKind, User } from '../core/types.js';
import type { Signer } from '../crypto/key-files.js';
import type { AccessPolicy } from '../policy/access.js';
import type { Database } from '../store/schema.js';
import {
  decryptCredential,
  findCredentialForUnlock,
  type StoredCredential,
} from './credentials.js';
import { findGateway, gatewayPublicKey, type Gateway } from './gateways.js';
import type { KmsProvider } from './kms.js';
import {
  Leases,
  newLeaseId,
  REQUEST_SKEW_MS,
  isReleaseSignedBy,
  isUnlockSignedBy,
  parseReleaseRequest,
  parseUnlockRequest,
  type Lease,
  type LeasePlane,
  type SignedReleaseRequest,
  type SignedUnlockRequest,
  type UnlockResult,
} from './leases.js';
import { sealToGateway } from './seal.js';
import { issueUserTicket, verifyUserTicket } from './user-ticket.js';
import {
  issueSessionGrant,
  readSessionGrantUnverified,
  verifySessionGrant,
  type SessionGrant,
} from './session-grant.js';
import {
  ProofChecker,
  consumeProofId,
  type ProofVerifier,
  type UserProof,
} from './user-proof.js';

/** Dependencies of {@link LeaseService}. */
export interface LeaseServiceDeps {
  readonly db: Kysely<Database>;
  readonly audit: AuditWriter;
  readonly kms: KmsProvider;
  readonly access: AccessPolicy;
  readonly proofs: ProofVerifier;
  /** The control plane's Ed25519 key (config `controlPlane.signingKey`): signs session grants. */
  readonly signer: Signer;
  readonly clock?: Clock;
  /** Session grant lifetime; default SESSION_GRANT_TTL_MS (2 minutes). */
  readonly grantTtlMs?: number;
}

/** A gateway's request to authenticate a user and open a session on a target. */
export interface AuthorizeRequest {
  readonly proof: UserProof;
  readonly target: string;
  readonly gatewayId: string;
  readonly clientAddr?: string | null;
  /** The front end: `ssh` (default), `postgres`, `mysql`, `web`. */
  readonly via?: string;
}

/** A gateway's request to authenticate a user whose target is not known yet. */
export type AuthenticateRequest = Omit<AuthorizeRequest, 'target'>;

/** A gateway's request to open a session on a target for a ticket holder. */
export interface TicketAuthorizeRequest {
  readonly ticket: string;
  readonly target: string;
  readonly gatewayId: string;
  readonly clientAddr?: string | null;
  readonly via?: string;
  /** The kind of target the asking front end serves; a target of another kind is refused. */
  readonly kind?: TargetKind;
}

/** A gateway's request to start a SCRAM-SHA-256 login for the user a client named. */
export interface ScramStartRequest {
  readonly user: string;
  readonly gatewayId: string;
  readonly clientAddr?: string | null;
  /** The front end: `postgres`. */
  readonly via?: string;
}

/** A SCRAM-SHA-256 login run by the control plane; the gateway only relays the messages. */
export interface ScramExchange {
  /** Answers client-first-message with server-first-message; throws GH_AUTH_FAILED. */
  start(clientFirst: string): Promise<string>;
  /** Checks client-final-message: the user, a ticket and server-final-message, or GH_AUTH_FAILED. */
  finish(clientFinal: string): Promise<AuthenticatedUser & { readonly serverFinal: string }>;
}

/** An authenticated user and the ticket the gateway keeps for later authorizations. */
export interface AuthenticatedUser {
  readonly user: User;
  readonly ticket: string;
}

/** An authorized session: the grant token the gateway presents to unlock. */
export interface AuthorizedSession {
  readonly sid: string;
  readonly user: User;
  readonly target: Target;
  readonly grantToken: string;
  readonly grantExpiresAt: number;
  /** When the access grant behind the session ends (null: until revoked). */
  readonly accessExpiresAt: number | null;
}

/** How a session ended (`sessions.status`). */
export type SessionEndStatus = 'ended' | 'failed' | 'terminated' | 'abandoned';

/** Facts recorded when a session ends. */
export interface EndSessionOptions {
  readonly status: SessionEndStatus;
  readonly recording?: string | null;
  readonly recordingSha256?: string | null;
  /** Why it ended (`client-closed`, `admin-kill`, `grant-revoked`, `idle`, …), for audit. */
  readonly reason?: string;
  /** Counters the front end kept (bytes each way, statements), for `session.end`. */
  readonly stats?: Readonly<Record<string, number>>;
}

/** Who an unlock is about, filled in as the request is checked; audited on refusal. */
interface UnlockFacts {
  gateway: string | null;
  sid: string | null;
  user: string | null;
  target: string | null;
  clientAddr: string | null;
}

/** A refusal with its audited reason. */
class Refusal extends Error {
  readonly reason: string;
  readonly error: GatehouseError;

  constructor(reason: string, error: GatehouseError) {
    super(reason);
    this.reason = reason;
    this.error = error;
  }
}

/**
 * The control-plane side of the dual key (DESIGN.md §3–4): verifies user proofs, authorizes
 * sessions and issues grants naming one gateway, then decrypts a credential only for that
 * gateway, presenting that grant, signed with its key, while policy still allows it; the
 * `credential.unlock` event is durable before anything is returned.
 */
export class LeaseService implements LeasePlane {
  readonly #db: Kysely<Database>;
  readonly #audit: AuditWriter;
  readonly #kms: KmsProvider;
  readonly #access: AccessPolicy;
  readonly #signer: Signer;
  readonly #clock: Clock;
  readonly #grantTtlMs: number | undefined;
  readonly #proofs: ProofChecker;
  readonly #leases: Leases;

  constructor(deps: LeaseServiceDeps) {
    this.#db = deps.db;
    this.#audit = deps.audit;
    this.#kms = deps.kms;
    this.#access = deps.access;
    this.#signer = deps.signer;
    this.#clock = deps.clock ?? systemClock;
    this.#grantTtlMs = deps.grantTtlMs;
    this.#proofs = new ProofChecker({
      db: deps.db,
      audit: deps.audit,
      proofs: deps.proofs,
      clock: this.#clock,
    });
    this.#leases = new Leases(deps.db);
  }

  /** The key session grants are signed with (gateways may use it to check a grant). */
  get grantPublicKey(): KeyObject {
    return this.#signer.publicKey;
  }

  /**
   * Steps 2–3 of the session flow in one call, for front ends that know the target when the
   * user proves who they are (PostgreSQL, MySQL, `ssh alice+web-1@…`).
   */
  async authenticateAndAuthorize(request: AuthorizeRequest): Promise<AuthorizedSession> {
    const authenticated = await this.#authenticate(request, request.target);
    return this.#authorize(authenticated.user.name, authenticated.gateway, request);
  }

  /**
   * Step 2 alone: checks the gateway, verifies and consumes the user proof, and returns a
   * ticket naming the user and this gateway, for front ends that learn the target later.
   */
  async authenticate(request: AuthenticateRequest): Promise<AuthenticatedUser> {
    const { user, gateway } = await this.#authenticate(request, undefined);
    return { user, ticket: issueUserTicket(this.#signer, { user: user.name, gateway: gateway.id }, this.#clock()) };
  }

  /** Step 3 for a ticket holder: the ticket must be valid and name this gateway. */
  async authorize(request: TicketAuthorizeRequest): Promise<AuthorizedSession> {
    const now = this.#clock();
    const ticket = verifyUserTicket(request.ticket, this.#signer.publicKey, now);
    if (ticket.gateway !== request.gatewayId) {
      throw new GatehouseError('GH_GRANT_INVALID', { detail: 'user ticket names another gateway' });
    }
    const gateway = await this.#activeGateway(request.gatewayId, ticket.user, request);
    return this.#authorize(ticket.user, gateway, request);
  }

  /**
   * Step 2 for SCRAM-SHA-256 (PostgreSQL): the exchange runs here against the stored verifier,
   * so the gateway never sees the password; a successful finish returns a ticket like
   * {@link authenticate}.
   */
  async startScram(request: ScramStartRequest): Promise<ScramExchange> {
    const via = request.via ?? 'postgres';
    const gateway = await this.#activeGateway(request.gatewayId, request.user, request, 'scram');
    const login = await this.#proofs.startScram(request.user, {
      target: undefined,
      gatewayId: gateway.id,
      clientAddr: request.clientAddr ?? null,
      via,
    });
    return {
      start: (clientFirst) => login.start(clientFirst),
      finish: async (clientFinal) => {
        const { user, serverFinal } = await login.finish(clientFinal);
        const ticket = issueUserTicket(this.#signer, { user: user.name, gateway: gateway.id }, this.#clock());
        return { user, ticket, serverFinal };
      },
    };
  }

  async #authenticate(
    request: AuthenticateRequest,
    target: string | undefined,
  ): Promise<{ user: User; gateway: Gateway }> {
    const claimed = request.proof.kind === 'token' ? (request.proof.user ?? null) : request.proof.user;
    const gateway = await this.#activeGateway(request.gatewayId, claimed, request, request.proof.kind);
    const user = await this.#proofs.verify(request.proof, {
      target,
      gatewayId: gateway.id,
      clientAddr: request.clientAddr ?? null,
      via: request.via ?? 'ssh',
    });
    return { user, gateway };
  }

  async #activeGateway(
    gatewayId: string,
    user: string | null,
    request: { readonly clientAddr?: string | null; readonly via?: string },
    method = 'ticket',
  ): Promise<Gateway> {
    const gateway = await findGateway(this.#db, gatewayId);
    if (gateway?.status === 'active') return gateway;
    await this.#appendOrFail({
      type: 'auth.failure',
      user,
      gateway: gatewayId,
      clientAddr: request.clientAddr ?? null,
      data: {
        method: `${request.via ?? 'ssh'}-${method}`,
        reason: gateway === undefined ? 'unknown-gateway' : 'gateway-revoked',
      },
    });
    throw new GatehouseError('GH_GATEWAY_REJECTED', { detail: `gateway ${gatewayId} is not active` });
  }

  async #authorize(
    userName: string,
    gateway: Gateway,
    request: {
      readonly target: string;
      readonly clientAddr?: string | null;
      readonly via?: string;
      readonly kind?: TargetKind;
    },
  ): Promise<AuthorizedSession> {
    const via = request.via ?? 'ssh';
    const clientAddr = request.clientAddr ?? null;
    const allowed = await this.#access.check(userName, request.target, {
      clientAddr,
      gateway: gateway.id,
      via,
    });
    if (request.kind !== undefined && allowed.target.kind !== request.kind) {
      // A psql client naming an SSH target: refused like any denial, before anything is unlocked.
      await this.#appendOrFail({
        type: 'access.denied',
        user: userName,
        target: request.target,
        gateway: gateway.id,
        clientAddr,
        data: { reason: 'wrong-kind', kind: allowed.target.kind, via },
      });
      throw new GatehouseError('GH_ACCESS_DENIED', {
        detail: `${userName} -> ${request.target}: a ${allowed.target.kind} target, not ${request.kind}`,
      });
    }
    const now = this.#clock();
    const sid = newId('ses');
    await this.#db
      .insertInto('sessions')
      .values({
        sid,
        user_name: allowed.user.name,
        target: allowed.target.name,
        kind: allowed.target.kind,
        gateway_id: gateway.id,
        client_addr: clientAddr,
        started_at: now,
        ended_at: null,
        status: 'active',
        recording: null,
        recording_sha256: null,
        meta: JSON.stringify({ via, grantId: allowed.grant.id }),
      })
      .execute();
    const grantToken = issueSessionGrant(
      this.#signer,
      {
        sid,
        user: allowed.user.name,
        target: allowed.target.name,
        targetId: allowed.target.id,
        gateway: gateway.id,
        grantId: allowed.grant.id,
      },
      {
        now,
        notAfter: allowed.expiresAt,
        ...(this.#grantTtlMs === undefined ? {} : { ttlMs: this.#grantTtlMs }),
      },
    );
    const { exp } = readSessionGrantUnverified(grantToken);
    return {
      sid,
      user: allowed.user,
      target: allowed.target,
      grantToken,
      grantExpiresAt: exp,
      accessExpiresAt: allowed.expiresAt,
    };
  }

  /**
   * Step 4, the dual key: the credential for a gateway's signed request carrying a valid grant
   * issued to that same gateway, with policy re-checked now. Every refusal is audited as
   * `credential.unlock_denied`; an unlock that cannot be audited returns nothing.
   */
  async unlock(request: SignedUnlockRequest): Promise<UnlockResult> {
    const facts: UnlockFacts = {
      gateway: null,
      sid: null,
      user: null,
      target: null,
      clientAddr: null,
    };
    try {
      return await this.#unlock(request, facts);
    } catch (err) {
      const refusal = err instanceof Refusal ? err : undefined;
      const error = refusal?.error ?? (err instanceof GatehouseError ? err : undefined);
      await this.#audit
        .append({
          type: 'credential.unlock_denied',
          user: facts.user,
          sid: facts.sid,
          target: facts.target,
          gateway: facts.gateway,
          clientAddr: facts.clientAddr,
          data: {
            reason: refusal?.reason ?? 'error',
            code: error?.code ?? 'GH_INTERNAL',
            detail: error?.detail ?? null,
          },
        })
        // The refusal stands whether or not it could be recorded.
        .catch(() => undefined);
      throw error ?? err;
    }
  }

  /** Releases a lease the signing gateway holds; idempotent. Audits `lease.release`. */
  async releaseLease(request: SignedReleaseRequest): Promise<void> {
    const now = this.#clock();
    const parsed = parseReleaseRequest(request);
    const gateway = await findGateway(this.#db, parsed.gatewayId);
    // A revoked gateway may still give a lease back: releasing only ever reduces access.
    if (gateway === undefined) throw rejected('unknown-gateway');
    if (!isReleaseSignedBy(parsed, gatewayPublicKey(gateway.signPublicKey, 'ed25519')))
      throw rejected('bad-signature');
    if (Math.abs(parsed.payload.ts - now) > REQUEST_SKEW_MS) throw rejected('stale-request');
    const lease = await this.#leases.find(parsed.payload.leaseId);
    if (lease?.gatewayId !== gateway.id || lease.sid !== parsed.payload.sid)
      throw rejected('lease-not-held');
    await this.#release(lease, now, 'released');
  }

  /**
   * Step 7: marks the session ended, releases its leases and audits `session.end`. Idempotent:
   * a session already ended is left as it is. GH_NOT_FOUND for an unknown sid.
   */
  async endSession(sid: string, options: EndSessionOptions): Promise<void> {
    const now = this.#clock();
    const session = await this.#db
      .selectFrom('sessions')
      .selectAll()
      .where('sid', '=', sid)
      .executeTakeFirst();
    if (session === undefined)
      throw new GatehouseError('GH_NOT_FOUND', { message: `session ${sid} does not exist` });
    const ended = await this.#db
      .updateTable('sessions')
      .set({
        status: options.status,
        ended_at: now,
        recording: options.recording ?? session.recording,
        recording_sha256: options.recordingSha256 ?? session.recording_sha256,
      })
      .where('sid', '=', sid)
      .where('status', '=', 'active')
      .executeTakeFirst();
    if (ended.numUpdatedRows === 0n) return;
    for (const lease of await this.#leases.openForSession(sid))
      await this.#release(lease, now, 'session-end');
    await this.#appendOrFail({
      type: 'session.end',
      user: session.user_name,
      sid,
      target: session.target,
      gateway: session.gateway_id,
      clientAddr: session.client_addr,
      data: {
        status: options.status,
        reason: options.reason ?? null,
        durationMs: now - session.started_at,
        recording: options.recording ?? null,
        recordingSha256: options.recordingSha256 ?? null,
        ...(options.stats === undefined ? {} : { stats: options.stats }),
      },
    });
  }

  async #unlock(request: SignedUnlockRequest, facts: UnlockFacts): Promise<UnlockResult> {
    const now = this.#clock();
    // 1. The gateway: known, active, and it signed this very request, recently.
    const parsed = refuseOn(() => parseUnlockRequest(request), 'malformed-request');
    facts.gateway = parsed.gatewayId;
    const gateway = await findGateway(this.#db, parsed.gatewayId);
    if (gateway === undefined) throw refusal('unknown-gateway', 'GH_GATEWAY_REJECTED');
    if (gateway.status !== 'active') throw refusal('gateway-revoked', 'GH_GATEWAY_REJECTED');
    const signKey = refuseOn(
      () => gatewayPublicKey(gateway.signPublicKey, 'ed25519'),
      'bad-gateway-key',
    );
    const sealKey = refuseOn(
      () => gatewayPublicKey(gateway.sealPublicKey, 'x25519'),
      'bad-gateway-key',
    );
    if (!isUnlockSignedBy(parsed, signKey)) throw refusal('bad-signature', 'GH_GATEWAY_REJECTED');
    const { payload } = parsed;
    if (Math.abs(payload.ts - now) > REQUEST_SKEW_MS)
      throw refusal('stale-request', 'GH_GATEWAY_REJECTED');

    // 2. The grant: signed by this control plane, unexpired, issued to this gateway for this target.
    const grant = refuseOn(
      () => verifySessionGrant(payload.grant, this.#signer.publicKey, now),
      'grant-invalid',
    );
    Object.assign(facts, { sid: grant.sid, user: grant.user, target: grant.target });
    if (grant.gateway !== gateway.id) throw refusal('grant-for-other-gateway', 'GH_GRANT_INVALID');
    if (payload.target !== grant.target)
      throw refusal('grant-for-other-target', 'GH_GRANT_INVALID');
    // 3. Not a replay. Nonces are per gateway and kept past the skew window, after which the ts check refuses.
    if (
      !(await consumeProofId(
        this.#db,
        `unlock:${gateway.id}:${payload.nonce}`,
        now + 2 * REQUEST_SKEW_MS,
      ))
    ) {
      throw refusal('replayed', 'GH_GATEWAY_REJECTED');
    }
    // 4. The session it names is still open.
    facts.clientAddr = await this.#checkSession(grant, gateway);

    // 5. Policy again, now: a grant revoked, expired or a user disabled since authorize ends it here.
    const allowed = await refuseOnAsync(
      () =>
        this.#access.check(grant.user, grant.target, {
          clientAddr: facts.clientAddr,
          gateway: gateway.id,
          via: 'unlock',
        }),
      'access-denied',
    );
    if (allowed.target.id !== grant.targetId) throw refusal('target-changed', 'GH_GRANT_INVALID');

    // 6. Decrypt, seal to the gateway, record the lease.
    const stored = await this.#pickCredential(grant);
    const plaintext = await refuseOnAsync(
      () => decryptCredential(this.#kms, stored),
      'decrypt-failed',
    );
    // Seal first, under the id the lease row will have, so the plaintext is gone before any write.
    const leaseId = newLeaseId();
    let sealed: UnlockResult['sealed'];
    try {
      sealed = sealToGateway(sealKey, plaintext, leaseId);
    } finally {
      plaintext.fill(0);
    }
    const lease = await this.#leases.create({
      id: leaseId,
      credentialId: stored.id,
      credentialVersion: stored.version,
      sid: grant.sid,
      user: grant.user,
      gatewayId: gateway.id,
      issuedAt: now,
    });
    // 7. Durable audit before anything leaves (fail closed).
    try {
      await this.#audit.append({
        type: 'credential.unlock',
        user: grant.user,
        sid: grant.sid,
        target: grant.target,
        gateway: gateway.id,
        clientAddr: facts.clientAddr,
        data: {
          leaseId: lease.id,
          credentialId: stored.id,
          version: stored.version,
          kind: stored.kind,
          grantId: grant.grantId,
        },
      });
    } catch (err) {
      await this.#leases.discard(lease.id);
      throw refusal('audit-failed', 'GH_AUDIT_WRITE_FAILED', err);
    }
    return {
      leaseId: lease.id,
      sid: grant.sid,
      credentialVersion: stored.version,
      kind: stored.kind,
      username: allowed.target.username,
      sealed,
    };
  }

  /** The grant's session must be active, on this gateway, for this user and target. */
  async #checkSession(grant: SessionGrant, gateway: Gateway): Promise<string | null> {
    const session = await this.#db
      .selectFrom('sessions')
      .selectAll()
      .where('sid', '=', grant.sid)
      .executeTakeFirst();
    if (
      session?.status !== 'active' ||
      session.gateway_id !== gateway.id ||
      session.user_name !== grant.user ||
      session.target !== grant.target
    ) {
      throw refusal('session-not-active', 'GH_GRANT_INVALID');
    }
    return session.client_addr;
  }

  /** The version this session already leases (kept across a `credential set`), else the active one. */
  async #pickCredential(grant: SessionGrant): Promise<StoredCredential> {
    const held = (await this.#leases.openForSession(grant.sid)).at(0);
    const stored = await findCredentialForUnlock(this.#db, grant.targetId, held?.credentialVersion);
    if (stored === undefined)
      throw refusal(
        held === undefined ? 'no-credential' : 'leased-version-retired',
        'GH_NO_CREDENTIAL',
      );
    return stored;
  }

  async #release(lease: Lease, now: number, reason: string): Promise<void> {
    if (!(await this.#leases.release(lease.id, now))) return;
    const session = await this.#db
      .selectFrom('sessions')
      .select(['target', 'client_addr'])
      .where('sid', '=', lease.sid)
      .executeTakeFirst();
    await this.#appendOrFail({
      type: 'lease.release',
      user: lease.user,
      sid: lease.sid,
      target: session?.target ?? null,
      gateway: lease.gatewayId,
      clientAddr: session?.client_addr ?? null,
      data: {
        leaseId: lease.id,
        credentialId: lease.credentialId,
        version: lease.credentialVersion,
        reason,
        heldMs: now - lease.issuedAt,
      },
    });
  }

  async #appendOrFail(event: Parameters<AuditWriter['append']>[0]): Promise<void> {
    try {
      await this.#audit.append(event);
    } catch (err) {
      throw new GatehouseError('GH_AUDIT_WRITE_FAILED', { detail: event.type, cause: err });
    }
  }
}

function refusal(reason: string, code: ErrorCode, cause?: unknown): Refusal {
  return new Refusal(
    reason,
    new GatehouseError(code, {
      detail: `unlock refused: ${reason}`,
      ...(cause === undefined ? {} : { cause }),
    }),
  );
}

/** Runs a check that throws; its GatehouseError becomes a refusal with `reason` (same code). */
function refuseOn<T>(check: () => T, reason: string): T {
  try {
    return check();
  } catch (err) {
    throw asRefusal(err, reason);
  }
}

async function refuseOnAsync<T>(check: () => Promise<T>, reason: string): Promise<T> {
  try {
    return await check();
  } catch (err) {
    throw asRefusal(err, reason);
  }
}

function asRefusal(err: unknown, reason: string): unknown {
  return err instanceof GatehouseError ? new Refusal(reason, err) : err;
}

function rejected(reason: string): GatehouseError {
  return new GatehouseError('GH_GATEWAY_REJECTED', { detail: `release refused: ${reason}` });
}
