import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Signer } from '../crypto/key-files.js';
import type { AccessPolicy } from '../policy/access.js';
import type { Database } from '../store/schema.js';
import { CredentialUnlocker } from './credential-unlock.js';
import type { KmsProvider } from './kms.js';
import type {
  LeasePlane,
  SignedReleaseRequest,
  SignedUnlockRequest,
  UnlockResult,
} from './leases.js';
import {
  SessionAuthorizer,
  type AuthenticateRequest,
  type AuthenticatedUser,
  type AuthorizeRequest,
  type AuthorizedSession,
  type ScramExchange,
  type ScramStartRequest,
  type TicketAuthorizeRequest,
} from './session-authorizer.js';
import { SessionCloser, type EndSessionOptions } from './session-close.js';
import { ProofChecker, type ProofVerifier } from './user-proof.js';

export type {
  AuthenticateRequest,
  AuthenticatedUser,
  AuthorizeRequest,
  AuthorizedSession,
  ScramExchange,
  ScramStartRequest,
  TicketAuthorizeRequest,
} from './session-authorizer.js';
export type { EndSessionOptions, SessionEndStatus } from './session-close.js';

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

/**
 * The control-plane side of the dual key (DESIGN.md §3–4), one call per step of the session
 * flow: verifies user proofs and authorizes sessions with grants naming one gateway
 * ({@link SessionAuthorizer}), decrypts a credential only for that gateway presenting that
 * grant, signed with its key, while policy still allows it ({@link CredentialUnlocker}), and
 * takes leases back and ends sessions ({@link SessionCloser}). Every state change commits
 * with the audit event that describes it; `credential.unlock` is durable before anything is
 * returned.
 */
export class LeaseService implements LeasePlane {
  readonly #signer: Signer;
  readonly #authorizer: SessionAuthorizer;
  readonly #unlocker: CredentialUnlocker;
  readonly #closer: SessionCloser;

  constructor(deps: LeaseServiceDeps) {
    const clock = deps.clock ?? systemClock;
    this.#signer = deps.signer;
    this.#authorizer = new SessionAuthorizer({
      db: deps.db,
      audit: deps.audit,
      access: deps.access,
      proofs: new ProofChecker({ db: deps.db, audit: deps.audit, proofs: deps.proofs, clock }),
      signer: deps.signer,
      clock,
      grantTtlMs: deps.grantTtlMs,
    });
    this.#unlocker = new CredentialUnlocker({
      db: deps.db,
      audit: deps.audit,
      kms: deps.kms,
      access: deps.access,
      grantKey: deps.signer.publicKey,
      clock,
    });
    this.#closer = new SessionCloser({ db: deps.db, audit: deps.audit, clock });
  }

  /** The key session grants are signed with (gateways may use it to check a grant). */
  get grantPublicKey(): KeyObject {
    return this.#signer.publicKey;
  }

  /**
   * Steps 2–3 of the session flow in one call, for front ends that know the target when the
   * user proves who they are (PostgreSQL, MySQL, `ssh alice+web-1@…`).
   */
  authenticateAndAuthorize(request: AuthorizeRequest): Promise<AuthorizedSession> {
    return this.#authorizer.authenticateAndAuthorize(request);
  }

  /**
   * Step 2 alone: checks the gateway, verifies and consumes the user proof, and returns a
   * ticket naming the user and this gateway, for front ends that learn the target later.
   */
  authenticate(request: AuthenticateRequest): Promise<AuthenticatedUser> {
    return this.#authorizer.authenticate(request);
  }

  /** Step 3 for a ticket holder: the ticket must be valid and name this gateway. */
  authorize(request: TicketAuthorizeRequest): Promise<AuthorizedSession> {
    return this.#authorizer.authorize(request);
  }

  /**
   * Step 2 for SCRAM-SHA-256 (PostgreSQL): the exchange runs here against the stored verifier,
   * so the gateway never sees the password; a successful finish returns a ticket like
   * {@link authenticate}.
   */
  startScram(request: ScramStartRequest): Promise<ScramExchange> {
    return this.#authorizer.startScram(request);
  }

  /**
   * Step 4, the dual key: the credential for a gateway's signed request carrying a valid grant
   * issued to that same gateway, with policy re-checked now. Every refusal is audited as
   * `credential.unlock_denied`; an unlock that cannot be audited returns nothing.
   */
  unlock(request: SignedUnlockRequest): Promise<UnlockResult> {
    return this.#unlocker.unlock(request);
  }

  /** Releases a lease the signing gateway holds; idempotent. Audits `lease.release`. */
  releaseLease(request: SignedReleaseRequest): Promise<void> {
    return this.#closer.releaseLease(request);
  }

  /**
   * Step 7: marks the session ended, releases its leases and audits `session.end`. Idempotent:
   * a session already ended is left as it is. GH_NOT_FOUND for an unknown sid.
   */
  endSession(sid: string, options: EndSessionOptions): Promise<void> {
    return this.#closer.endSession(sid, options);
  }
}
