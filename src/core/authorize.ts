import type { Grant, Target, User } from './types.js';

/** The outcome of {@link authorize}. */
export type AccessDecision =
  | { readonly isAllowed: true; readonly grant: Grant; readonly expiresAt: number | null }
  | { readonly isAllowed: false; readonly reason: AccessDenialReason };

/** Why access was denied (for audit; the client only ever sees "access denied"). */
export type AccessDenialReason = 'user-disabled' | 'no-grant';

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
  for (const grant of options.grants) {
    if (!isGrantActive(grant, options.at)) continue;
    if (!grantCoversUser(grant, user) || !grantCoversTarget(grant, target)) continue;
    if (best === undefined || outlasts(grant, best)) best = grant;
  }
  if (best === undefined) return { isAllowed: false, reason: 'no-grant' };
  return { isAllowed: true, grant: best, expiresAt: best.expiresAt };
}

function outlasts(a: Grant, b: Grant): boolean {
  if (b.expiresAt === null) return false;
  return a.expiresAt === null || a.expiresAt > b.expiresAt;
}
