import type { KeyObject } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';
import type { Signer } from '../crypto/key-files.js';
import {
  openToken,
  readTokenUnverified,
  signToken,
  tokenInvalid,
  type SignedTokenKind,
} from './signed-token.js';

/**
 * The session grant (DESIGN.md §3 step 3): what the control plane hands a gateway once a user
 * is authenticated and authorized. It names the gateway, so only that gateway can use it to
 * unlock; it lives just long enough to cover the unlock.
 */
export interface SessionGrant {
  readonly v: 1;
  readonly sid: string;
  /** Gatehouse user name. */
  readonly user: string;
  /** Target name. */
  readonly target: string;
  /** Target id, so a target removed and re-added under the same name does not match. */
  readonly targetId: string;
  /** Id of the gateway the grant was issued to. */
  readonly gateway: string;
  /** Id of the access grant that allowed the session. */
  readonly grantId: string;
  /** Issued at, ms since the epoch. */
  readonly iat: number;
  /** Expires at (exclusive), ms since the epoch. */
  readonly exp: number;
}

/** The claims a caller supplies; `v`, `iat` and `exp` are set by {@link issueSessionGrant}. */
export type SessionGrantClaims = Omit<SessionGrant, 'v' | 'iat' | 'exp'>;

/** Default grant lifetime: it only has to cover the unlock that follows. */
export const SESSION_GRANT_TTL_MS = 120_000;

/** Longest lifetime a grant may claim; anything longer is refused as malformed. */
export const MAX_SESSION_GRANT_TTL_MS = 600_000;

/** Clock skew tolerated for a grant issued "in the future" by another control plane. */
export const GRANT_CLOCK_SKEW_MS = 60_000;

// Domain separation: the control-plane key also signs audit checkpoints and user tickets.
const GRANT_TOKEN: SignedTokenKind = {
  prefix: 'gatehouse-session-grant.v1\n',
  errorCode: 'GH_GRANT_INVALID',
  name: 'session grant',
};

const FIELDS = 'exp,gateway,grantId,iat,sid,target,targetId,user,v';

/** Options for {@link issueSessionGrant}. */
export interface IssueGrantOptions {
  readonly now: number;
  /** Lifetime; default {@link SESSION_GRANT_TTL_MS}. */
  readonly ttlMs?: number;
  /** When the access grant behind the session ends (null: never); the token never outlives it. */
  readonly notAfter?: number | null;
}

/** Signs a session grant with the control-plane key: `base64url(canonical JSON).base64url(sig)`. */
export function issueSessionGrant(
  signer: Signer,
  claims: SessionGrantClaims,
  options: IssueGrantOptions,
): string {
  const ttlMs = options.ttlMs ?? SESSION_GRANT_TTL_MS;
  if (!Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_SESSION_GRANT_TTL_MS) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      detail: `session grant ttl ${ttlMs} ms out of range`,
    });
  }
  const notAfter = options.notAfter ?? null;
  const exp = notAfter === null ? options.now + ttlMs : Math.min(options.now + ttlMs, notAfter);
  if (exp <= options.now) {
    throw new GatehouseError('GH_GRANT_INVALID', {
      detail: 'the access grant ends before a session grant could be used',
    });
  }
  const grant: SessionGrant = {
    v: 1,
    sid: claims.sid,
    user: claims.user,
    target: claims.target,
    targetId: claims.targetId,
    gateway: claims.gateway,
    grantId: claims.grantId,
    iat: options.now,
    exp,
  };
  return signToken(signer, GRANT_TOKEN, grant);
}

/**
 * Verifies a session grant's signature, shape and lifetime at `now`. Anything wrong (bad
 * signature, other key, expired, malformed, non-canonical) is GH_GRANT_INVALID.
 */
export function verifySessionGrant(token: string, publicKey: KeyObject, now: number): SessionGrant {
  const grant = parseGrant(openToken(token, GRANT_TOKEN, publicKey));
  if (grant.exp <= now) throw invalid(`expired ${now - grant.exp} ms ago`);
  if (grant.iat > now + GRANT_CLOCK_SKEW_MS) throw invalid('issued in the future');
  return grant;
}

/**
 * Reads a grant's claims WITHOUT checking its signature or expiry: for a gateway that only
 * needs the target and sid to build its unlock request. Never base a decision on it.
 */
export function readSessionGrantUnverified(token: string): SessionGrant {
  return parseGrant(readTokenUnverified(token, GRANT_TOKEN));
}

function parseGrant(record: Record<string, unknown>): SessionGrant {
  if (Object.keys(record).sort().join(',') !== FIELDS) throw invalid('unexpected fields');
  const { v, sid, user, target, targetId, gateway, grantId, iat, exp } = record;
  if (v !== 1) throw invalid('unsupported version');
  if (
    !isText(sid) ||
    !isText(user) ||
    !isText(target) ||
    !isText(targetId) ||
    !isText(gateway) ||
    !isText(grantId)
  ) {
    throw invalid('claims must be non-empty strings');
  }
  if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp))
    throw invalid('times must be integers');
  const issued = iat as number;
  const expires = exp as number;
  if (expires <= issued || expires - issued > MAX_SESSION_GRANT_TTL_MS)
    throw invalid('lifetime out of range');
  return { v, sid, user, target, targetId, gateway, grantId, iat: issued, exp: expires };
}

/** True for a short non-empty string claim. */
export function isText(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && value.length <= 256;
}

function invalid(detail: string): GatehouseError {
  return tokenInvalid(GRANT_TOKEN, detail);
}
