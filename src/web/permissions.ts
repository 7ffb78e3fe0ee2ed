import type { User } from '../core/types.js';

/**
 * What a console or API caller may do. Roles map to permissions here and nowhere else:
 * - every signed-in user: `self` (their own access, their own sessions, read-only);
 * - `auditor`: reads everything (sessions of all users, audit log, admin lists), changes nothing;
 * - `admin`: everything, including terminating sessions and every admin change.
 */
export const PERMISSIONS = [
  'self',
  'sessions.read',
  'sessions.terminate',
  'audit.read',
  'admin.read',
  'admin.write',
] as const;

/** One of {@link PERMISSIONS}. */
export type Permission = (typeof PERMISSIONS)[number];

const ROLE_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  auditor: ['sessions.read', 'audit.read', 'admin.read'],
  admin: PERMISSIONS,
};

/** The permissions of a user with `roles`; custom roles add none (they only name grant subjects). */
export function permissionsOf(roles: readonly string[]): ReadonlySet<Permission> {
  const out = new Set<Permission>(['self']);
  for (const role of roles) for (const p of ROLE_PERMISSIONS[role] ?? []) out.add(p);
  return out;
}

/** Who is calling: the user, what they may do, and how they proved it. */
export interface Principal {
  readonly user: User;
  readonly permissions: ReadonlySet<Permission>;
  /** `session`: console cookie (CSRF-checked); `token`: bearer personal access token. */
  readonly via: 'session' | 'token';
  /** The console session's CSRF token (only for `via: 'session'`). */
  readonly csrfToken?: string;
}

/** True when `principal` holds `permission`. */
export function can(principal: Principal, permission: Permission): boolean {
  return principal.permissions.has(permission);
}

/** The actor name written into audit events for changes made through the web API. */
export function actorOf(principal: Principal): string {
  return `web:${principal.user.name}`;
}
