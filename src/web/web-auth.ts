import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { User } from '../core/types.js';
import type { Authenticator, Tokens, Users } from '../identity/index.js';
import type { Database } from '../store/schema.js';
import { permissionsOf, type Principal } from './permissions.js';
import type { WebSession, WebSessionStore } from './web-sessions.js';

/**
 * The console's session cookie. The `__Host-` prefix makes browsers refuse it unless it is
 * Secure, host-only and for path `/`, so no sibling domain can plant or read it.
 */
export const SESSION_COOKIE = '__Host-gatehouse';
/** Header carrying the CSRF token of a cookie session on every request that changes something. */
export const CSRF_HEADER = 'x-csrf-token';
/** A bearer token seen and audited (`auth.success`) is re-audited after this long. */
const TOKEN_AUDIT_EVERY_MS = 10 * 60_000;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Dependencies of {@link WebAuth}. */
export interface WebAuthDeps {
  readonly db: Kysely<Database>;
  readonly sessions: WebSessionStore;
  readonly authenticator: Authenticator;
  readonly tokens: Tokens;
  readonly users: Users;
  readonly clock?: Clock;
}

/**
 * Who is calling: a console session (cookie, CSRF token and origin checked on changes) or a
 * personal access token (`Authorization: Bearer`). Every request re-reads the user, so a
 * disabled user or a revoked token stops working at once.
 */
export class WebAuth {
  readonly #deps: WebAuthDeps;
  readonly #clock: Clock;
  // token hash -> when its use was last audited through the Authenticator.
  readonly #auditedTokens = new Map<string, number>();

  constructor(deps: WebAuthDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  /** The caller of `request`; throws GH_AUTH_REQUIRED (no or dead credentials) or GH_AUTH_FAILED (bad token). */
  async principalOf(request: FastifyRequest): Promise<Principal> {
    const bearer = bearerTokenOf(request);
    if (bearer !== undefined) return this.#fromToken(bearer, request);
    const secret = request.cookies[SESSION_COOKIE];
    if (secret !== undefined && secret !== '') {
      const session = await this.#deps.sessions.find(secret);
      if (session !== undefined) {
        const user = await this.#deps.users.find(session.user);
        if (user !== undefined && !user.isDisabled) return sessionPrincipal(user, session);
        await this.#deps.sessions.delete(secret);
      }
    }
    throw new GatehouseError('GH_AUTH_REQUIRED');
  }

  /**
   * For a cookie session and a method that changes something: the `X-CSRF-Token` header must
   * match the session's token, and an `Origin` (or `Sec-Fetch-Site`) must say same origin.
   * Bearer-token calls carry no ambient credential, so they need neither.
   */
  assertCsrf(request: FastifyRequest, principal: Principal): void {
    if (principal.via !== 'session' || SAFE_METHODS.has(request.method)) return;
    const presented = request.headers[CSRF_HEADER];
    const expected = principal.csrfToken ?? '';
    if (
      typeof presented !== 'string' ||
      !constantTimeEqual(presented, expected) ||
      !isSameOrigin(request)
    ) {
      throw new GatehouseError('GH_CSRF_REJECTED', { detail: `${request.method} ${request.url}` });
    }
  }

  async #fromToken(secret: string, request: FastifyRequest): Promise<Principal> {
    const ctx = { clientAddr: request.ip, method: 'web-token' } as const;
    const hash = createHash('sha256').update(secret).digest('hex');
    const lastAudited = this.#auditedTokens.get(hash);
    const now = this.#clock();
    if (lastAudited === undefined || now - lastAudited >= TOKEN_AUDIT_EVERY_MS) {
      // The Authenticator audits the outcome and applies lockout/disabled rules.
      const user = await this.#deps.authenticator.verifyToken(secret, ctx);
      this.#auditedTokens.set(hash, now);
      if (this.#auditedTokens.size > 10_000) this.#auditedTokens.clear();
      return { user, permissions: permissionsOf(user.roles), via: 'token' };
    }
    // Recently audited: check again quietly (revoked, expired, disabled, locked take effect now).
    const check = await this.#deps.tokens.verify(secret);
    const row = check.ok
      ? await this.#deps.db
          .selectFrom('users')
          .select(['name', 'locked_until'])
          .where('id', '=', check.userId)
          .executeTakeFirst()
      : undefined;
    const user = row === undefined ? undefined : await this.#deps.users.find(row.name);
    if (user === undefined || user.isDisabled || (row !== undefined && row.locked_until > now)) {
      this.#auditedTokens.delete(hash);
      // Let the Authenticator audit the refusal.
      await this.#deps.authenticator.verifyToken(secret, ctx);
      throw new GatehouseError('GH_AUTH_FAILED');
    }
    return { user, permissions: permissionsOf(user.roles), via: 'token' };
  }
}

/** The principal of a console session. */
export function sessionPrincipal(user: User, session: WebSession): Principal {
  return {
    user,
    permissions: permissionsOf(user.roles),
    via: 'session',
    csrfToken: session.csrfToken,
  };
}

/**
 * True when the request's `Origin` names this server (scheme aside: a TLS-terminating proxy
 * may sit in front) and the browser does not flag it cross-site. Browsers always send
 * `Origin` on WebSocket upgrades and on POST/PUT/DELETE from scripts; its absence means a
 * non-browser client, which cannot carry the SameSite=Strict cookie from another site.
 */
export function isSameOrigin(
  request: FastifyRequest,
  options: { readonly requireOrigin?: boolean } = {},
): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return options.requireOrigin !== true;
  try {
    return new URL(origin).host === request.host;
  } catch {
    return false;
  }
}

function bearerTokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null)
    throw new GatehouseError('GH_AUTH_REQUIRED', { detail: 'malformed Authorization header' });
  return match[1];
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length && b.length > 0;
}
