import type { Kysely } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import type { Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Target, TargetKind, User } from '../core/types.js';
import type { Signer } from '../crypto/key-files.js';
import type { AccessPolicy } from '../policy/access.js';
import type { Database } from '../store/schema.js';
import { appendOrFail } from './audited.js';
import { findGateway, type Gateway } from './gateways.js';
import { issueSessionGrant, readSessionGrantUnverified } from './session-grant.js';
import type { ProofChecker, UserProof } from './user-proof.js';
import { issueUserTicket, verifyUserTicket } from './user-ticket.js';

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

/** Dependencies of {@link SessionAuthorizer}. */
export interface SessionAuthorizerDeps {
  readonly db: Kysely<Database>;
  readonly audit: AuditWriter;
  readonly access: AccessPolicy;
  readonly proofs: ProofChecker;
  /** The control plane's key: signs user tickets and session grants. */
  readonly signer: Signer;
  readonly clock: Clock;
  /** Session grant lifetime; default SESSION_GRANT_TTL_MS. */
  readonly grantTtlMs: number | undefined;
}

/**
 * Steps 2–3 of the session flow (DESIGN.md §3): checks the asking gateway, verifies and
 * consumes the user proof (or the ticket of an earlier one), checks policy, opens the session
 * row and issues the grant that names this gateway.
 */
export class SessionAuthorizer {
  readonly #deps: SessionAuthorizerDeps;

  constructor(deps: SessionAuthorizerDeps) {
    this.#deps = deps;
  }

  /** Steps 2–3 in one call, for front ends that know the target when the user proves who they are. */
  async authenticateAndAuthorize(request: AuthorizeRequest): Promise<AuthorizedSession> {
    const authenticated = await this.#authenticate(request, request.target);
    return this.#authorize(authenticated.user.name, authenticated.gateway, request);
  }

  /** Step 2 alone: a ticket naming the user and this gateway, for front ends that learn the target later. */
  async authenticate(request: AuthenticateRequest): Promise<AuthenticatedUser> {
    const { user, gateway } = await this.#authenticate(request, undefined);
    return { user, ticket: this.#ticketFor(user, gateway) };
  }

  /** Step 3 for a ticket holder: the ticket must be valid and name this gateway. */
  async authorize(request: TicketAuthorizeRequest): Promise<AuthorizedSession> {
    const now = this.#deps.clock();
    const ticket = verifyUserTicket(request.ticket, this.#deps.signer.publicKey, now);
    if (ticket.gateway !== request.gatewayId) {
      throw new GatehouseError('GH_GRANT_INVALID', { detail: 'user ticket names another gateway' });
    }
    const gateway = await this.#activeGateway(request.gatewayId, ticket.user, request);
    return this.#authorize(ticket.user, gateway, request);
  }

  /** Step 2 for SCRAM-SHA-256: the exchange runs here against the stored verifier. */
  async startScram(request: ScramStartRequest): Promise<ScramExchange> {
    const via = request.via ?? 'postgres';
    const gateway = await this.#activeGateway(request.gatewayId, request.user, request, 'scram');
    const login = await this.#deps.proofs.startScram(request.user, {
      target: undefined,
      gatewayId: gateway.id,
      clientAddr: request.clientAddr ?? null,
      via,
    });
    return {
      start: (clientFirst) => login.start(clientFirst),
      finish: async (clientFinal) => {
        const { user, serverFinal } = await login.finish(clientFinal);
        return { user, ticket: this.#ticketFor(user, gateway), serverFinal };
      },
    };
  }

  #ticketFor(user: User, gateway: Gateway): string {
    const { signer, clock } = this.#deps;
    return issueUserTicket(signer, { user: user.name, gateway: gateway.id }, clock());
  }

  async #authenticate(
    request: AuthenticateRequest,
    target: string | undefined,
  ): Promise<{ user: User; gateway: Gateway }> {
    const { proof } = request;
    const claimed = proof.kind === 'token' ? (proof.user ?? null) : proof.user;
    const gateway = await this.#activeGateway(request.gatewayId, claimed, request, proof.kind);
    const user = await this.#deps.proofs.verify(proof, {
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
    const gateway = await findGateway(this.#deps.db, gatewayId);
    if (gateway?.status === 'active') return gateway;
    await appendOrFail(this.#deps.audit, {
      type: 'auth.failure',
      user,
      gateway: gatewayId,
      clientAddr: request.clientAddr ?? null,
      data: {
        method: `${request.via ?? 'ssh'}-${method}`,
        reason: gateway === undefined ? 'unknown-gateway' : 'gateway-revoked',
      },
    });
    throw new GatehouseError('GH_GATEWAY_REJECTED', {
      detail: `gateway ${gatewayId} is not active`,
    });
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
    const { db, audit, access, signer, clock, grantTtlMs } = this.#deps;
    const via = request.via ?? 'ssh';
    const clientAddr = request.clientAddr ?? null;
    const allowed = await access.check(userName, request.target, {
      clientAddr,
      gateway: gateway.id,
      via,
    });
    if (request.kind !== undefined && allowed.target.kind !== request.kind) {
      // A psql client naming an SSH target: refused like any denial, before anything is unlocked.
      await appendOrFail(audit, {
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
    const now = clock();
    const sid = newId('ses');
    await db
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
      signer,
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
        ...(grantTtlMs === undefined ? {} : { ttlMs: grantTtlMs }),
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
}
