import { createHash, randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import { GatehouseError } from '../core/errors.js';
import type { User } from '../core/types.js';
import type { PublicKeyProof, ScramLogin } from '../identity/authenticate.js';
import type { AuthContext, VerifyOptions } from '../identity/auth-types.js';
import { verifyPublicKeySignature } from '../identity/ssh-keys.js';
import { parsePublickeySignedData } from '../identity/ssh-userauth.js';
import type { Database } from '../store/schema.js';

/**
 * A user proof (DESIGN.md §3 step 2, §4): what a gateway collected from a client, verified by
 * the control plane, never by the gateway. Each is single-use; `totp` is required for users
 * with TOTP enrolled.
 */
export type UserProof = SshPublicKeyProof | PasswordProof | TokenProof;

/** SSH publickey auth as ssh2 hands it over (`ctx.key`, `ctx.blob`, `ctx.signature`, `ctx.hashAlgo`). */
export interface SshPublicKeyProof {
  readonly kind: 'ssh-publickey';
  /** Gatehouse user name. */
  readonly user: string;
  /** Key algorithm (ssh2 `ctx.key.algo`: `ssh-rsa` for rsa-sha2-*). */
  readonly algo: string;
  /** Public key blob, base64 (ssh2 `ctx.key.data`). */
  readonly keyBlob: string;
  /** base64 of the signed data (RFC 4252 §7; ssh2 `ctx.blob`): it holds the session id. */
  readonly signedData: string;
  /** base64 signature (ssh2 `ctx.signature`). */
  readonly signature: string;
  /** ssh2 `ctx.hashAlgo`: `sha256`/`sha512` for rsa-sha2-*, else absent. */
  readonly hashAlgo?: string | undefined;
  readonly totp?: string | undefined;
}

/** A password typed by the user (SSH password, MySQL over TLS, web). The gateway sees it. */
export interface PasswordProof {
  readonly kind: 'password';
  readonly user: string;
  readonly password: string;
  /** Gateway-chosen random id of this attempt (single-use); see {@link newProofNonce}. */
  readonly nonce: string;
  /** Gateway clock when the proof was collected, ms since the epoch. */
  readonly ts: number;
  readonly totp?: string | undefined;
}

/** A personal access token (it names its owner). */
export interface TokenProof {
  readonly kind: 'token';
  readonly token: string;
  /** The user name the client gave, if any; must be the token's owner. */
  readonly user?: string | undefined;
  readonly nonce: string;
  readonly ts: number;
  readonly totp?: string | undefined;
}

/**
 * What the lease service needs from identity. `Authenticator` (src/identity/authenticate.ts)
 * satisfies it as is. Each call returns the user or throws GH_AUTH_FAILED, auditing the
 * real reason and counting failures toward lockout. `options.onSuccess`, when the verifier
 * runs it, commits with the login's `auth.success`; a verifier may ignore it (the proof is
 * then consumed afterwards, in a transaction of its own).
 */
export interface ProofVerifier {
  verifyPassword(
    name: string,
    password: string,
    ctx: AuthContext,
    options?: VerifyOptions,
  ): Promise<User>;
  verifyToken(secret: string, ctx: AuthContext, options?: VerifyOptions): Promise<User>;
  verifyPublicKey(
    name: string,
    proof: PublicKeyProof,
    ctx: AuthContext,
    options?: VerifyOptions,
  ): Promise<User>;
  verifyTotp(name: string, code: string, ctx: AuthContext, options?: VerifyOptions): Promise<User>;
  /**
   * Starts a SCRAM-SHA-256 login against the stored verifier (PostgreSQL front end); optional
   * so that verifiers without SCRAM support still satisfy the interface.
   */
  startScram?(name: string, ctx: AuthContext): Promise<ScramLogin>;
}

/** A SCRAM-SHA-256 login checked by the control plane; the gateway relays its messages. */
export interface ScramProofLogin {
  /** Answers client-first-message with server-first-message; throws GH_AUTH_FAILED. */
  start(clientFirst: string): Promise<string>;
  /** Checks client-final-message: the user and server-final-message, or GH_AUTH_FAILED. */
  finish(clientFinal: string): Promise<{ readonly user: User; readonly serverFinal: string }>;
}

/** Where a proof comes from and what it is for. */
export interface ProofRequest {
  /** The target asked for; undefined when not known yet (the login may then name any). */
  readonly target: string | undefined;
  readonly gatewayId: string;
  readonly clientAddr: string | null;
  /** The front end: `ssh`, `postgres`, `mysql`, `web`. */
  readonly via: string;
}

/** Dependencies of {@link ProofChecker}. */
export interface ProofCheckerDeps {
  readonly db: Kysely<Database>;
  readonly audit: AuditWriter;
  readonly proofs: ProofVerifier;
  readonly clock: () => number;
}

/** How long a used SSH session id is remembered (as identity does). */
export const SSH_PROOF_RETENTION_MS = 30 * 24 * 3_600_000;
/** How far a nonce proof's `ts` may be from the control plane's clock. */
export const NONCE_PROOF_SKEW_MS = 5 * 60_000;

const SSH_SERVICE = 'ssh-connection';
const NONCE_RE = /^[A-Za-z0-9_-]{16,128}$/;
const PURGE_EVERY_MS = 60_000;

/** A fresh proof nonce (128 random bits, base64url) for a password or token proof. */
export function newProofNonce(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Verifies a user proof and consumes it. SSH: the signed data must be a publickey request for
 * this user (and target, if named in the login) and this key, correctly signed; its session
 * id becomes the proof id. Password and token: the gateway's nonce is the proof id, and `ts`
 * must be fresh. A proof id seen before is GH_PROOF_REPLAYED (audited `auth.failure`,
 * reason `replayed`); everything else that fails is GH_AUTH_FAILED.
 */
export class ProofChecker {
  readonly #deps: ProofCheckerDeps;
  #lastPurge = 0;

  constructor(deps: ProofCheckerDeps) {
    this.#deps = deps;
  }

  /** Returns the authenticated user, or throws GH_AUTH_FAILED / GH_PROOF_REPLAYED. */
  async verify(proof: UserProof, request: ProofRequest): Promise<User> {
    const now = this.#deps.clock();
    const ctx: AuthContext = {
      clientAddr: request.clientAddr,
      method: proofMethod(proof, request.via),
      gateway: request.gatewayId,
    };
    const claimed = proof.kind === 'token' ? (proof.user ?? null) : proof.user;
    const checked =
      proof.kind === 'ssh-publickey'
        ? checkSshProof(proof, request.target)
        : checkNonceProof(proof, now);
    if (!checked.ok)
      return this.#refuse(claimed, ctx, 'bad-proof', checked.detail, 'GH_AUTH_FAILED');
    if (await this.#isUsed(checked.proofId))
      return this.#refuse(claimed, ctx, 'replayed', proof.kind, 'GH_PROOF_REPLAYED');

    // Consumed last (after TOTP, if any), atomically: of two concurrent uses of one proof only
    // one commits. Where the verifier runs `onSuccess`, in the transaction of the login's final
    // `auth.success`: one disk sync for both, and no success recorded for a replay.
    const expiresAt = now + checked.retentionMs;
    let isConsumed = false;
    const consume = async (trx: Transaction<Database>, user: User): Promise<void> => {
      if (claimed !== null && user.name !== claimed) return; // refused below
      if (!(await consumeProofId(trx, checked.proofId, expiresAt))) throw new Replayed(user.name);
      isConsumed = true;
    };
    let user: User;
    try {
      user = await checked.verifyWith(this.#deps.proofs, ctx, {
        onSuccess: (trx, found) => (found.hasTotp ? Promise.resolve() : consume(trx, found)),
      });
      if (claimed !== null && user.name !== claimed)
        return this.#refuse(claimed, ctx, 'bad-proof', 'user-mismatch', 'GH_AUTH_FAILED');
      if (user.hasTotp) {
        if (proof.totp === undefined || proof.totp === '')
          return this.#refuse(user.name, ctx, 'bad-totp', 'missing', 'GH_AUTH_FAILED');
        await this.#deps.proofs.verifyTotp(user.name, proof.totp, ctx, { onSuccess: consume });
      }
    } catch (err) {
      if (err instanceof Replayed)
        return this.#refuse(err.userName, ctx, 'replayed', proof.kind, 'GH_PROOF_REPLAYED');
      throw err;
    }
    // A verifier that did not run `onSuccess`: consumed now, on its own.
    if (!isConsumed && !(await consumeProofId(this.#deps.db, checked.proofId, expiresAt))) {
      return this.#refuse(user.name, ctx, 'replayed', proof.kind, 'GH_PROOF_REPLAYED');
    }
    await this.#purge(now);
    return user;
  }

  /**
   * Starts a SCRAM-SHA-256 login for `name`. SCRAM proofs are single-use by construction (the
   * server nonce), so nothing is remembered. A user with TOTP is refused: SCRAM cannot carry
   * the code.
   */
  async startScram(name: string, request: ProofRequest): Promise<ScramProofLogin> {
    const ctx: AuthContext = {
      clientAddr: request.clientAddr,
      method: `${request.via}-scram`,
      gateway: request.gatewayId,
    };
    const startScram = this.#deps.proofs.startScram?.bind(this.#deps.proofs);
    if (startScram === undefined)
      return this.#refuse(name, ctx, 'bad-proof', 'scram-unsupported', 'GH_AUTH_FAILED');
    const login = await startScram(name, ctx);
    return {
      start: (clientFirst) => login.start(clientFirst),
      finish: async (clientFinal) => {
        const done = await login.finish(clientFinal);
        if (done.user.hasTotp)
          return this.#refuse(
            done.user.name,
            ctx,
            'bad-totp',
            'scram-cannot-carry-totp',
            'GH_AUTH_FAILED',
          );
        return done;
      },
    };
  }

  #isUsed(proofId: string): Promise<boolean> {
    return isProofIdUsed(this.#deps.db, proofId);
  }

  async #refuse(
    user: string | null,
    ctx: AuthContext,
    reason: string,
    detail: string,
    code: 'GH_AUTH_FAILED' | 'GH_PROOF_REPLAYED',
  ): Promise<never> {
    try {
      await this.#deps.audit.append({
        type: 'auth.failure',
        user,
        gateway: ctx.gateway ?? null,
        clientAddr: ctx.clientAddr,
        data: { method: ctx.method, reason, detail },
      });
    } catch (err) {
      throw new GatehouseError('GH_AUDIT_WRITE_FAILED', { detail: 'auth.failure', cause: err });
    }
    throw new GatehouseError(code, { detail: `${reason}: ${detail}` });
  }

  async #purge(now: number): Promise<void> {
    if (now - this.#lastPurge < PURGE_EVERY_MS) return;
    this.#lastPurge = now;
    await this.#deps.db.deleteFrom('used_proofs').where('expires_at', '<', now).execute();
  }
}

/** The audited `method` of a proof: `ssh-publickey`, `ssh-password`, `mysql-password`, `web-token`, … */
export function proofMethod(proof: UserProof, via: string): string {
  return proof.kind === 'ssh-publickey' ? proof.kind : `${via}-${proof.kind}`;
}

/** True when `proofId` was recorded as used (a look only: {@link consumeProofId} decides). */
export async function isProofIdUsed(db: Kysely<Database>, proofId: string): Promise<boolean> {
  const row = await db
    .selectFrom('used_proofs')
    .select('proof_id')
    .where('proof_id', '=', proofId)
    .executeTakeFirst();
  return row !== undefined;
}

/** Records `proofId` as used until `expiresAt`; false when it was already recorded. */
export async function consumeProofId(
  db: Kysely<Database>,
  proofId: string,
  expiresAt: number,
): Promise<boolean> {
  const inserted = await db
    .insertInto('used_proofs')
    .values({ proof_id: proofId, expires_at: expiresAt })
    .onConflict((oc) => oc.column('proof_id').doNothing())
    .executeTakeFirst();
  return (inserted.numInsertedOrUpdatedRows ?? 0n) > 0n;
}

/** Thrown in a login's transaction when its proof was used meanwhile: undoes the login. */
class Replayed extends Error {
  readonly userName: string;

  constructor(userName: string) {
    super('proof replayed');
    this.userName = userName;
  }
}

type CheckedProof =
  | {
      readonly ok: true;
      readonly proofId: string;
      readonly retentionMs: number;
      /** The identity check proper (key registered, password or token right, user enabled). */
      readonly verifyWith: (
        proofs: ProofVerifier,
        ctx: AuthContext,
        options: VerifyOptions,
      ) => Promise<User>;
    }
  | { readonly ok: false; readonly detail: string };

/** RFC 4252 §7: the signed data must be this user's publickey request for this key, and verify. */
function checkSshProof(proof: SshPublicKeyProof, target: string | undefined): CheckedProof {
  const fail = (detail: string): CheckedProof => ({ ok: false, detail });
  const blob = decodeBase64(proof.keyBlob);
  const signedData = decodeBase64(proof.signedData);
  const signature = decodeBase64(proof.signature);
  if (blob === undefined || signedData === undefined || signature === undefined)
    return fail('malformed-base64');
  if (signature.length === 0) return fail('no-signature');
  const signed = parsePublickeySignedData(signedData);
  if (signed === undefined) return fail('malformed-signed-data');
  if (!signed.keyBlob.equals(blob)) return fail('signed-key-mismatch');
  if (signed.service !== SSH_SERVICE) return fail('signed-service-mismatch');
  // DESIGN.md §7: `alice`, `alice+web-1` or `alice:web-1`; a target named in the login must be
  // this one (when the target is not known yet, the caller binds the result to the login's).
  if (!isLoginOf(signed.userName, proof.user, target)) return fail('signed-user-mismatch');
  if (!isAlgoConsistent(proof.algo, signed.keyAlgo, proof.hashAlgo))
    return fail('algorithm-mismatch');
  if (
    !verifyPublicKeySignature(
      `${proof.algo} ${blob.toString('base64')}`,
      signedData,
      signature,
      proof.hashAlgo,
    )
  ) {
    return fail('invalid-signature');
  }
  return {
    ok: true,
    proofId: `cp-ssh:${createHash('sha256').update(signed.sessionId).digest('hex')}`,
    retentionMs: SSH_PROOF_RETENTION_MS,
    verifyWith: (proofs, ctx, options) =>
      proofs.verifyPublicKey(
        proof.user,
        { algo: proof.algo, blob, signedData, signature, hashAlgo: proof.hashAlgo },
        ctx,
        options,
      ),
  };
}

function isLoginOf(login: string, user: string, target: string | undefined): boolean {
  if (login === user) return true;
  const separator = login.charAt(user.length);
  if (!login.startsWith(user) || (separator !== '+' && separator !== ':')) return false;
  const named = login.slice(user.length + 1);
  return target === undefined ? named !== '' : named === target;
}

function checkNonceProof(proof: PasswordProof | TokenProof, now: number): CheckedProof {
  if (typeof proof.nonce !== 'string' || !NONCE_RE.test(proof.nonce))
    return { ok: false, detail: 'bad-nonce' };
  if (!Number.isSafeInteger(proof.ts) || Math.abs(proof.ts - now) > NONCE_PROOF_SKEW_MS)
    return { ok: false, detail: 'stale' };
  const secret = proof.kind === 'password' ? proof.password : proof.token;
  if (typeof secret !== 'string' || secret === '') return { ok: false, detail: 'empty' };
  return {
    ok: true,
    proofId: `cp-nonce:${proof.nonce}`,
    // Past the skew window the ts check refuses the proof anyway.
    retentionMs: 2 * NONCE_PROOF_SKEW_MS,
    verifyWith: (proofs, ctx, options) =>
      proof.kind === 'password'
        ? proofs.verifyPassword(proof.user, proof.password, ctx, options)
        : proofs.verifyToken(proof.token, ctx, options),
  };
}

// rsa-sha2-256/512 are signed as such while ssh2 reports the key as ssh-rsa (RFC 8332).
function isAlgoConsistent(
  keyAlgo: string,
  signedAlgo: string,
  hashAlgo: string | undefined,
): boolean {
  if (keyAlgo !== 'ssh-rsa') return signedAlgo === keyAlgo && hashAlgo === undefined;
  if (signedAlgo === 'rsa-sha2-256') return hashAlgo === 'sha256';
  if (signedAlgo === 'rsa-sha2-512') return hashAlgo === 'sha512';
  return false;
}

function decodeBase64(text: unknown): Buffer | undefined {
  if (typeof text !== 'string') return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
