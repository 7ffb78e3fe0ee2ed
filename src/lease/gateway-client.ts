import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { CredentialKind } from './credentials.js';
import type { GatewayIdentity } from './gateway-identity.js';
import {
  newRequestNonce,
  parseUnlockResult,
  signReleaseRequest,
  signUnlockRequest,
  type LeasePlane,
} from './leases.js';
import { openSealedBox } from './seal.js';
import { readSessionGrantUnverified } from './session-grant.js';

/** Dependencies of {@link GatewayClient}. */
export interface GatewayClientDeps {
  /** The gateway id the control plane gave at enrollment. */
  readonly id: string;
  readonly identity: GatewayIdentity;
  /** The control plane: the LeaseService itself in one process, an HTTP client when split. */
  readonly plane: LeasePlane;
  readonly clock?: Clock;
}

/**
 * A credential leased for one session. `secret` is the only plaintext copy: use it to log in
 * upstream, then call `release()` (or let `await using` do it), which zeroes it and gives the
 * lease back.
 */
export interface LeasedCredential extends AsyncDisposable {
  readonly leaseId: string;
  readonly sid: string;
  readonly credentialVersion: number;
  readonly kind: CredentialKind;
  /** The upstream (leased) account name. */
  readonly username: string;
  readonly secret: Buffer;
  /** Zeroes `secret` and releases the lease; safe to call again (e.g. after a failed release). */
  release(): Promise<void>;
}

/**
 * The gateway side of the dual key (DESIGN.md §4): signs unlock requests with the gateway's
 * Ed25519 key and opens the sealed credential with its X25519 key. It holds no credential
 * at rest; each one lives for one session.
 */
export class GatewayClient {
  readonly #deps: GatewayClientDeps;
  readonly #clock: Clock;

  constructor(deps: GatewayClientDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  /** This gateway's id. */
  get id(): string {
    return this.#deps.id;
  }

  /** Step 4 of the session flow: unlocks the credential for the session `grantToken` names. */
  async unlockCredential(grantToken: string): Promise<LeasedCredential> {
    const { id, identity, plane } = this.#deps;
    const grant = readSessionGrantUnverified(grantToken);
    const request = signUnlockRequest(identity.signer, id, {
      grant: grantToken,
      target: grant.target,
      nonce: newRequestNonce(),
      ts: this.#clock(),
    });
    const result = parseUnlockResult(await plane.unlock(request));
    let isReleased = false;
    const release = async (secret?: Buffer): Promise<void> => {
      secret?.fill(0);
      if (isReleased) return;
      await plane.releaseLease(
        signReleaseRequest(identity.signer, id, {
          leaseId: result.leaseId,
          sid: result.sid,
          ts: this.#clock(),
        }),
      );
      isReleased = true; // only once the control plane has it: a failed release may be retried
    };
    let secret: Buffer;
    try {
      if (result.sid !== grant.sid)
        throw new GatehouseError('GH_CRYPTO_FAILED', {
          detail: 'unlock result names another session',
        });
      secret = openSealedBox(identity.sealPrivateKey, result.sealed, result.leaseId);
    } catch (err) {
      await release().catch(() => undefined); // the original failure is what matters
      throw err;
    }
    return {
      leaseId: result.leaseId,
      sid: result.sid,
      credentialVersion: result.credentialVersion,
      kind: result.kind,
      username: result.username,
      secret,
      release: () => release(secret),
      [Symbol.asyncDispose]: () => release(secret),
    };
  }
}
