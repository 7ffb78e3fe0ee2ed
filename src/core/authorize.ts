import type { Grant, Target, User } from './types.js';

/** The outcome of {@link authorize}. */
export type AccessDecision =
  | { readonly isAllowed: true; readonly grant: Grant; readonly expiresAt: number | null }
  | { readonly isAllowed: false; readonly reason: AccessDenialReason };

/**
 * Why access was denied (for audit; the client only ever sees "access denied"): the user is
 * disabled; no grant covers the target; or the covering grant that ended last expired or was
 * revoked (so an auditor can tell "never had access" from "access ended").
 */
export type AccessDenialReason = 'user-disabled' | 'no-grant' | 'grant-expired' | 'grant-revoked';

/** True when `grant` is in force at `at` (ms since epoch); expiry is exclusive. */
export function isGrantActive(grant: Grant, at: number): boolean {
  if (grant.revokedAt !== null && grant.revokedAt <= at) return false;
  if (grant.createdAt > at) return false;
  return grant.expiresAt === null || at < grant.expiresAt;
}

/** True when `grant` names `user` directly or through one of the user's roles. */
export function grantCoversUser(grant: Grant, user: User): boolean {
  return grant.subject.kind === 'user'
    ? grant.subject.name === user.name
    : user.roles.includes(grant.subject.name);
}

/** True when `grant` covers `target` by name or by label. */
export function grantCoversTarget(grant: Grant, target: Target): boolean {
  const scope = grant.scope;
  return scope.kind === 'target'
    ? scope.name === target.name
    : target.labels[scope.key] === scope.value;
}

/**
 * The one access decision: may `user` reach `target` at time `at`, given every grant?
 * Admins get no implicit access to targets: reaching a target always takes a grant.
 * Among matching grants the one lasting longest is returned.
 */
export function authorize(
  user: User,
  target: Target,
  options: { readonly at: number; readonly grants: readonly Grant[] },
): AccessDecision {
  if (user.isDisabled) return { isAllowed: false, reason: 'user-disabled' };
  let best: Grant | undefined;
  let lastEnded: { readonly at: number; readonly reason: AccessDenialReason } | undefined;
  for (const grant of options.grants) {
    if (!grantCoversUser(grant, user) || !grantCoversTarget(grant, target)) continue;
    if (!isGrantActive(grant, options.at)) {
      const ended = endOf(grant, options.at);
      if (ended !== undefined && (lastEnded === undefined || ended.at > lastEnded.at))
        lastEnded = ended;
      continue;
    }
    if (best === undefined || outlasts(grant, best)) best = grant;
  }
  if (best === undefined) return { isAllowed: false, reason: lastEnded?.reason ?? 'no-grant' };
  return { isAllowed: true, grant: best, expiresAt: best.expiresAt };
}

/** When and how an inactive grant ended by `at`; undefined for one that has not started yet. */
function endOf(grant: Grant, at: number): { at: number; reason: AccessDenialReason } | undefined {
  const revokedAt = grant.revokedAt !== null && grant.revokedAt <= at ? grant.revokedAt : undefined;
  const expiredAt = grant.expiresAt !== null && grant.expiresAt <= at ? grant.expiresAt : undefined;
  // A grant revoked after it had already expired ended by expiring.
  if (expiredAt !== undefined && (revokedAt === undefined || expiredAt <= revokedAt))
    return { at: expiredAt, reason: 'grant-expired' };
  if (revokedAt !== undefined) return { at: revokedAt, reason: 'grant-revoked' };
  return undefined;
}

function outlasts(a: Grant, b: Grant): boolean {
  if (b.expiresAt === null) return false;
  return a.expiresAt === null || a.expiresAt > b.expiresAt;
}
