import type { AuditWriter } from '../audit/types.js';
import {
  authorize,
  isGrantActive,
  grantCoversTarget,
  type AccessDecision,
} from '../core/authorize.js';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { Grant, Target, User } from '../core/types.js';
import type { Grants } from './grants.js';
import type { Targets } from './targets.js';

/** Dependencies of {@link AccessPolicy}. */
export interface AccessPolicyDeps {
  readonly targets: Targets;
  readonly grants: Grants;
  readonly audit: AuditWriter;
  readonly findUser: (name: string) => Promise<User | undefined>;
  readonly clock?: Clock;
}

/** Where a request comes from, for the audit trail. */
export interface AccessContext {
  readonly clientAddr?: string | null;
  readonly gateway?: string | null;
  /** What the user asked for (`ssh`, `postgres`, …), for audit. */
  readonly via?: string;
}

/** An allowed access: the target and the grant that allows it. */
export interface AccessAllowed {
  readonly user: User;
  readonly target: Target;
  readonly grant: Grant;
  readonly expiresAt: number | null;
}

/** A target a user may reach now, with when that ends. */
export interface ReachableTarget {
  readonly target: Target;
  readonly expiresAt: number | null;
}

/**
 * The store-backed access check every front end calls. Reads users, targets and grants from
 * the store each time, so CLI changes take effect at once. Denials are audited; the client
 * only ever learns "access denied" (an unknown target looks like a forbidden one).
 */
export class AccessPolicy {
  readonly #deps: AccessPolicyDeps;
  readonly #clock: Clock;

  constructor(deps: AccessPolicyDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  /** Decides whether `userName` may reach `targetName` now; throws GH_ACCESS_DENIED if not. */
  async check(
    userName: string,
    targetName: string,
    context: AccessContext = {},
  ): Promise<AccessAllowed> {
    const at = this.#clock();
    const user = await this.#deps.findUser(userName);
    const target = await this.#deps.targets.find(targetName);
    let decision: AccessDecision | { isAllowed: false; reason: 'unknown-user' | 'unknown-target' };
    if (user === undefined) decision = { isAllowed: false, reason: 'unknown-user' };
    else if (target === undefined) decision = { isAllowed: false, reason: 'unknown-target' };
    else
      decision = authorize(user, target, {
        at,
        // Revoked grants too: they do not allow anything, but say why access was denied.
        grants: await this.#deps.grants.forSubjects(user.name, user.roles, {
          includeRevoked: true,
        }),
      });
    if (!decision.isAllowed || user === undefined || target === undefined) {
      await this.#deps.audit.append({
        type: 'access.denied',
        user: userName,
        target: targetName,
        gateway: context.gateway ?? null,
        clientAddr: context.clientAddr ?? null,
        data: {
          reason: decision.isAllowed ? 'unknown' : decision.reason,
          via: context.via ?? null,
        },
      });
      throw new GatehouseError('GH_ACCESS_DENIED', {
        detail: `${userName} -> ${targetName}: ${decision.isAllowed ? 'unknown' : decision.reason}`,
      });
    }
    return { user, target, grant: decision.grant, expiresAt: decision.expiresAt };
  }

  /** Like {@link check} but neither throws nor audits: for re-checking live sessions. */
  async isAllowedQuietly(userName: string, targetName: string): Promise<boolean> {
    const user = await this.#deps.findUser(userName);
    const target = await this.#deps.targets.find(targetName);
    if (user === undefined || target === undefined) return false;
    const grants = await this.#deps.grants.forSubjects(user.name, user.roles);
    return authorize(user, target, { at: this.#clock(), grants }).isAllowed;
  }

  /** Targets `user` may reach now (for menus and "My access"), by name. */
  async reachable(user: User): Promise<ReachableTarget[]> {
    if (user.isDisabled) return [];
    const at = this.#clock();
    const grants = (await this.#deps.grants.forSubjects(user.name, user.roles)).filter((g) =>
      isGrantActive(g, at),
    );
    const out: ReachableTarget[] = [];
    for (const target of await this.#deps.targets.list()) {
      const decision = authorize(user, target, {
        at,
        grants: grants.filter((g) => grantCoversTarget(g, target)),
      });
      if (decision.isAllowed) out.push({ target, expiresAt: decision.expiresAt });
    }
    return out;
  }
}
