import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import type { Clock } from '../core/clock.js';
import { GatehouseError, type ErrorCode } from '../core/errors.js';
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
  isUnlockSignedBy,
  parseUnlockRequest,
  type SignedUnlockRequest,
  type UnlockResult,
} from './leases.js';
import { sealToGateway } from './seal.js';
import { verifySessionGrant, type SessionGrant } from './session-grant.js';
import { consumeProofId, isProofIdUsed } from './user-proof.js';

/** Dependencies of {@link CredentialUnlocker}. */
export interface CredentialUnlockerDeps {
  readonly db: Kysely<Database>;
  readonly audit: AuditWriter;
  readonly kms: KmsProvider;
  readonly access: AccessPolicy;
  /** The key session grants are signed with (the control plane's). */
  readonly grantKey: KeyObject;
  readonly clock: Clock;
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
 * Step 4 of the session flow, the dual key (DESIGN.md §4): decrypts a credential only for a
 * gateway's signed request carrying a valid grant issued to that same gateway, with policy
 * re-checked now, and returns it sealed to that gateway. The request's nonce, the lease row
 * and `credential.unlock` commit in one transaction before anything is returned.
 */
export class CredentialUnlocker {
  readonly #deps: CredentialUnlockerDeps;

  constructor(deps: CredentialUnlockerDeps) {
    this.#deps = deps;
  }

  /**
   * The credential for `request`. Every refusal is audited as `credential.unlock_denied`; an
   * unlock that cannot be audited returns nothing.
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
      await this.#deps.audit
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

  async #unlock(request: SignedUnlockRequest, facts: UnlockFacts): Promise<UnlockResult> {
    const { db, kms, access, clock } = this.#deps;
    const now = clock();
    // 1. The gateway: known, active, and it signed this very request, recently.
    const parsed = refuseOn(() => parseUnlockRequest(request), 'malformed-request');
    facts.gateway = parsed.gatewayId;
    const gateway = await findGateway(db, parsed.gatewayId);
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
      () => verifySessionGrant(payload.grant, this.#deps.grantKey, now),
      'grant-invalid',
    );
    Object.assign(facts, { sid: grant.sid, user: grant.user, target: grant.target });
    if (grant.gateway !== gateway.id) throw refusal('grant-for-other-gateway', 'GH_GRANT_INVALID');
    if (payload.target !== grant.target)
      throw refusal('grant-for-other-target', 'GH_GRANT_INVALID');
    // 3. Not a replay. Nonces are per gateway and kept past the skew window, after which the ts
    // check refuses. A look here, so a replay costs no KMS call; spent atomically in step 7.
    const nonceId = `unlock:${gateway.id}:${payload.nonce}`;
    if (await isProofIdUsed(db, nonceId)) throw refusal('replayed', 'GH_GATEWAY_REJECTED');
    // 4. The session it names is still open.
    facts.clientAddr = await this.#checkSession(grant, gateway);

    // 5. Policy again, now: a grant revoked, expired or a user disabled since authorize ends it here.
    const allowed = await refuseOnAsync(
      () =>
        access.check(grant.user, grant.target, {
          clientAddr: facts.clientAddr,
          gateway: gateway.id,
          via: 'unlock',
        }),
      'access-denied',
    );
    if (allowed.target.id !== grant.targetId) throw refusal('target-changed', 'GH_GRANT_INVALID');

    // 6. Decrypt and seal to the gateway.
    const stored = await this.#pickCredential(grant);
    const plaintext = await refuseOnAsync(() => decryptCredential(kms, stored), 'decrypt-failed');
    // Seal first, under the id the lease row will have, so the plaintext is gone before any write.
    const leaseId = newLeaseId();
    let sealed: UnlockResult['sealed'];
    try {
      sealed = sealToGateway(sealKey, plaintext, leaseId);
    } finally {
      plaintext.fill(0);
    }
    // 7. One transaction, durable before anything leaves (fail closed): the nonce spent, the
    // lease row, `credential.unlock`. If any of it fails, none of it happened.
    await this.#record({
      grant,
      gateway,
      stored,
      leaseId,
      nonceId,
      now,
      clientAddr: facts.clientAddr,
    });
    return {
      leaseId,
      sid: grant.sid,
      credentialVersion: stored.version,
      kind: stored.kind,
      username: allowed.target.username,
      sealed,
    };
  }

  async #record(unlock: {
    readonly grant: SessionGrant;
    readonly gateway: Gateway;
    readonly stored: StoredCredential;
    readonly leaseId: string;
    readonly nonceId: string;
    readonly now: number;
    readonly clientAddr: string | null;
  }): Promise<void> {
    const { grant, gateway, stored, leaseId, now } = unlock;
    try {
      await this.#deps.db.transaction().execute(async (trx) => {
        if (!(await consumeProofId(trx, unlock.nonceId, now + 2 * REQUEST_SKEW_MS)))
          throw refusal('replayed', 'GH_GATEWAY_REJECTED');
        await new Leases(trx).create({
          id: leaseId,
          credentialId: stored.id,
          credentialVersion: stored.version,
          sid: grant.sid,
          user: grant.user,
          gatewayId: gateway.id,
          issuedAt: now,
        });
        await this.#deps.audit.append(
          {
            type: 'credential.unlock',
            user: grant.user,
            sid: grant.sid,
            target: grant.target,
            gateway: gateway.id,
            clientAddr: unlock.clientAddr,
            data: {
              leaseId,
              credentialId: stored.id,
              version: stored.version,
              kind: stored.kind,
              grantId: grant.grantId,
            },
          },
          { trx },
        );
      });
    } catch (err) {
      if (err instanceof Refusal) throw err;
      throw refusal('audit-failed', 'GH_AUDIT_WRITE_FAILED', err);
    }
  }

  /** The grant's session must be active, on this gateway, for this user and target. */
  async #checkSession(grant: SessionGrant, gateway: Gateway): Promise<string | null> {
    const session = await this.#deps.db
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
    const { db } = this.#deps;
    const held = (await new Leases(db).openForSession(grant.sid)).at(0);
    const stored = await findCredentialForUnlock(db, grant.targetId, held?.credentialVersion);
    if (stored === undefined)
      throw refusal(
        held === undefined ? 'no-credential' : 'leased-version-retired',
        'GH_NO_CREDENTIAL',
      );
    return stored;
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
