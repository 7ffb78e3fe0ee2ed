import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { systemClock, type Clock } from '../core/clock.js';
import type { User } from '../core/types.js';
import type { Database } from '../store/schema.js';
import { AuthJudge } from './auth-judge.js';
import type { AuthContext, CheckFailure, CheckResult, VerifyOptions } from './auth-types.js';
import type { IdentityDeps, OpenSecret } from './deps.js';
import { KeyedMutex } from './keyed-mutex.js';
import { hashPassword, needsRehash, verifyPasswordHash } from './passwords.js';
import { createMockScramVerifier, parseScramVerifier, ScramServerExchange } from './scram.js';
import { parseSshPublicKey, verifyPublicKeySignature, type SshPublicKey } from './ssh-keys.js';
import { parsePublickeySignedData } from './ssh-userauth.js';
import { isTokenShaped, Tokens } from './tokens.js';
import { findTotpStep } from './totp.js';
import { consumeTotpStep, totpSealContext } from './totp-state.js';
import { findUserRow, type UserRow } from './user-rows.js';

/** A public key proof as the SSH front end receives it from ssh2 (RFC 4252 §7). */
export type PublicKeyProof = (
  { readonly keyLine: string } | { readonly algo: string; readonly blob: Buffer }
) & {
  /** The signed blob (ssh2 `ctx.blob`): session id + USERAUTH_REQUEST fields. */
  readonly signedData: Buffer;
  /** ssh2 `ctx.signature`; undefined for an offer without signature (never authenticates). */
  readonly signature: Buffer | undefined;
  /** ssh2 `ctx.hashAlgo` (`sha256`/`sha512` for rsa-sha2-*, undefined otherwise). */
  readonly hashAlgo?: string | undefined;
};

/** A SCRAM-SHA-256 login in progress, run by the control plane for the PostgreSQL front end. */
export interface ScramLogin {
  /** Answers client-first-message with server-first-message; throws GH_AUTH_FAILED. */
  start(clientFirst: string): Promise<string>;
  /** Checks client-final-message; gives the user and server-final-message, or throws GH_AUTH_FAILED. */
  finish(clientFinal: string): Promise<{ readonly user: User; readonly serverFinal: string }>;
}

/** The service every SSH publickey signature must name (RFC 4252 §5). */
const SSH_SERVICE = 'ssh-connection';

/**
 * Separators between a user name and a target in an SSH login name (`alice+web-1`,
 * `alice:web-1`, DESIGN.md §7). User names cannot contain them, so the split is unambiguous.
 */
const SSH_TARGET_SEPARATORS = /[+:]/;

/**
 * The control plane's proof checks. Each `verify*` returns the user or throws GH_AUTH_FAILED
 * ("permission denied") whatever the reason, auditing `auth.failure` with the real one.
 */
export class Authenticator {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #openSecret: OpenSecret;
  readonly #tokens: Tokens;
  readonly #judge: AuthJudge;
  /** Orders attempts per claimed name until they are queued per user (see #serializeNamed). */
  readonly #arrivals = new KeyedMutex();
  #dummyHash: Promise<string> | undefined;
  #scramMockKey: Promise<Buffer> | undefined;

  constructor(deps: Omit<IdentityDeps, 'sealSecret'>) {
    this.#db = deps.db;
    this.#clock = deps.clock ?? systemClock;
    this.#openSecret = deps.openSecret;
    this.#tokens = new Tokens({ db: deps.db, audit: deps.audit, clock: this.#clock });
    this.#judge = new AuthJudge({
      db: deps.db,
      audit: deps.audit,
      clock: this.#clock,
      lockout: deps.lockout,
    });
  }

  /**
   * Checks `password` for user `name`. A personal access token is accepted wherever a
   * password is (it must belong to `name`). Unknown users cost the same hashing time.
   */
  async verifyPassword(
    name: string,
    password: string,
    ctx: AuthContext,
    options: VerifyOptions = {},
  ): Promise<User> {
    const unknown = async (): Promise<never> => {
      await this.#spendPasswordTime(password);
      return this.#judge.deny(name, ctx, { ok: false, reason: 'unknown-user' });
    };
    return this.#serializeNamed(name, unknown, async (row) => {
      if (row === undefined)
        return this.#judge.deny(name, ctx, { ok: false, reason: 'unknown-user' });
      const result = isTokenShaped(password)
        ? await this.#checkTokenOf(row, password)
        : await this.#checkPassword(row, password);
      return this.#judge.judge(row, ctx, result, { ...options, countsFailure: true });
    });
  }

  /**
   * Checks a personal access token on its own (e.g. an HTTP bearer token). Token failures do
   * not count toward the owner's lockout (a 256-bit secret cannot be guessed), but a locked or
   * disabled owner is refused.
   */
  async verifyToken(secret: string, ctx: AuthContext, options: VerifyOptions = {}): Promise<User> {
    const check = await this.#tokens.verify(secret);
    const ownerId = check.userId;
    if (ownerId === null) {
      return this.#judge.deny(null, ctx, {
        ok: false,
        reason: 'bad-token',
        detail: check.ok ? 'unknown' : check.reason,
      });
    }
    return this.#judge.serialize(ownerId, async (row) => {
      if (row === undefined)
        return this.#judge.deny(null, ctx, { ok: false, reason: 'bad-token', detail: 'no-owner' });
      const result: CheckResult = check.ok
        ? {
            ok: true,
            data: { tokenId: check.tokenId },
            commit: (db) => this.#recordTokenUse(db, check.tokenId),
          }
        : { ok: false, reason: 'bad-token', detail: check.reason };
      return this.#judge.judge(row, ctx, result, { ...options, countsFailure: false });
    });
  }

  /**
   * Checks an SSH public key proof for `name`: the key must be registered to the user, the
   * signed data must be a publickey request for this user and key (RFC 4252 §7), and the
   * signature must verify. An offer without a signature never authenticates. The proof is not
   * consumed here: single use (the session id in `used_proofs`) is the job of the one caller
   * that owns it, `ProofChecker` in src/lease/user-proof.ts.
   */
  async verifyPublicKey(
    name: string,
    proof: PublicKeyProof,
    ctx: AuthContext,
    options: VerifyOptions = {},
  ): Promise<User> {
    const unknown = (): Promise<never> =>
      this.#judge.deny(name, ctx, { ok: false, reason: 'unknown-user' });
    return this.#serializeNamed(name, unknown, async (row) => {
      if (row === undefined) return unknown();
      const result = await this.#checkPublicKey(row, proof);
      return this.#judge.judge(row, ctx, result, { ...options, countsFailure: true });
    });
  }

  /**
   * True when `name` is an enabled user holding this key: answers the signature-less offer
   * (ssh2 `publickey -- check`) so clients only sign with a key that can work. Not audited.
   */
  async isPublicKeyAcceptable(
    name: string,
    key: { readonly algo: string; readonly blob: Buffer },
  ): Promise<boolean> {
    const row = await findUserRow(this.#db, name);
    const offered = parseOfferedKey(key);
    if (row === undefined || row.disabled === 1 || offered === undefined) return false;
    return (await this.#findStoredKey(row.id, offered)) !== undefined;
  }

  /** Checks a TOTP `code` for `name`; a code (or an earlier one) cannot be used twice. */
  async verifyTotp(
    name: string,
    code: string,
    ctx: AuthContext,
    options: VerifyOptions = {},
  ): Promise<User> {
    const unknown = (): Promise<never> =>
      this.#judge.deny(name, ctx, { ok: false, reason: 'unknown-user' });
    return this.#serializeNamed(name, unknown, async (row) => {
      if (row === undefined) return unknown();
      const result = await this.#checkTotp(row, code.trim());
      return this.#judge.judge(row, ctx, result, { ...options, countsFailure: true });
    });
  }

  /**
   * Starts a SCRAM-SHA-256 login for `name` against the stored verifier. Unknown users, users
   * without a verifier and disabled users get a mock exchange (stable fake salt) that fails
   * only at the proof, like PostgreSQL's mock authentication.
   */
  async startScram(name: string, ctx: AuthContext): Promise<ScramLogin> {
    const found = await findUserRow(this.#db, name);
    const verifier =
      found !== undefined && found.disabled === 0 && found.scram_verifier !== null
        ? parseScramVerifier(found.scram_verifier)
        : undefined;
    const exchange =
      verifier === undefined
        ? new ScramServerExchange(createMockScramVerifier(name, await this.#getScramMockKey()), {
            isMock: true,
          })
        : new ScramServerExchange(verifier);
    const reasonIfUnknown = { ok: false, reason: 'unknown-user' } as const;
    return {
      start: async (clientFirst) => {
        const step = exchange.handleClientFirst(clientFirst);
        if (step.ok) return step.message;
        const failure =
          found === undefined
            ? reasonIfUnknown
            : { ok: false as const, reason: 'bad-password' as const };
        return this.#judge.deny(name, ctx, { ...failure, detail: `scram-${step.reason}` });
      },
      finish: async (clientFinal) => {
        if (found === undefined) {
          exchange.handleClientFinal(clientFinal);
          return this.#judge.deny(name, ctx, reasonIfUnknown);
        }
        return this.#judge.serialize(found.id, async (row) => {
          const step = exchange.handleClientFinal(clientFinal);
          if (row === undefined) return this.#judge.deny(name, ctx, reasonIfUnknown);
          const result: CheckResult = step.ok
            ? { ok: true, data: {} }
            : {
                ok: false,
                reason: 'bad-password',
                detail: verifier === undefined ? 'no-scram-verifier' : `scram-${step.reason}`,
              };
          const user = await this.#judge.judge(row, ctx, result, { countsFailure: true });
          // judge() only returns when the proof was valid, so step.ok holds here.
          return { user, serverFinal: step.ok ? step.message : '' };
        });
      },
    };
  }

  /**
   * Looks `name` up and runs `work` under the judge's per-user lock, in the order the calls
   * arrived: the lookups may finish out of order (a pool of store connections), and a burst of
   * guesses must reach the lock in the order it was sent. `unknown` answers for no such user.
   */
  async #serializeNamed<T>(
    name: string,
    unknown: () => Promise<T>,
    work: (row: UserRow | undefined) => Promise<T>,
  ): Promise<T> {
    const queued = await this.#arrivals.run(name, async () => {
      const found = await findUserRow(this.#db, name);
      // serialize() takes its place in the user's queue at once, before its first await.
      return found === undefined ? undefined : { done: this.#judge.serialize(found.id, work) };
    });
    return queued === undefined ? unknown() : queued.done;
  }

  async #checkPassword(row: UserRow, password: string): Promise<CheckResult> {
    const stored = row.password_hash;
    if (stored === null) {
      await this.#spendPasswordTime(password);
      return { ok: false, reason: 'bad-password', detail: 'no-password-set' };
    }
    if (!(await verifyPasswordHash(password, stored))) return { ok: false, reason: 'bad-password' };
    // Hashed here, not in the commit: that runs inside the login's transaction.
    const rehashed = needsRehash(stored) ? await hashPassword(password) : undefined;
    return {
      ok: true,
      data: {},
      commit: async (db) => {
        if (rehashed !== undefined) {
          await db
            .updateTable('users')
            .set({ password_hash: rehashed })
            .where('id', '=', row.id)
            .execute();
        }
        return undefined;
      },
    };
  }

  async #checkTokenOf(row: UserRow, secret: string): Promise<CheckResult> {
    const check = await this.#tokens.verify(secret);
    if (!check.ok) return { ok: false, reason: 'bad-token', detail: check.reason };
    if (check.userId !== row.id) return { ok: false, reason: 'bad-token', detail: 'other-user' };
    return {
      ok: true,
      data: { tokenId: check.tokenId },
      commit: (db) => this.#recordTokenUse(db, check.tokenId),
    };
  }

  async #recordTokenUse(db: Kysely<Database>, tokenId: string): Promise<undefined> {
    await this.#tokens.recordUse(tokenId, db);
    return undefined;
  }

  async #checkPublicKey(row: UserRow, proof: PublicKeyProof): Promise<CheckResult> {
    const fail = (detail: string): CheckFailure => ({ ok: false, reason: 'bad-signature', detail });
    const offered = parseOfferedKey(proof);
    if (offered === undefined) return fail('malformed-key');
    if (proof.signature === undefined || proof.signature.length === 0) return fail('no-signature');
    const stored = await this.#findStoredKey(row.id, offered);
    if (stored === undefined) return fail('key-not-registered');
    const signed = parsePublickeySignedData(proof.signedData);
    if (signed === undefined) return fail('malformed-signed-data');
    if (!signed.keyBlob.equals(offered.blob)) return fail('signed-key-mismatch');
    if (signed.userName.split(SSH_TARGET_SEPARATORS)[0] !== row.name)
      return fail('signed-user-mismatch');
    if (signed.service !== SSH_SERVICE) return fail('signed-service-mismatch');
    if (!isSignatureAlgoConsistent(offered.algo, signed.keyAlgo, proof.hashAlgo))
      return fail('algorithm-mismatch');
    if (!verifyPublicKeySignature(stored, proof.signedData, proof.signature, proof.hashAlgo)) {
      return fail('invalid-signature');
    }
    return { ok: true, data: { fingerprint: offered.fingerprint } };
  }

  async #findStoredKey(userId: string, offered: SshPublicKey): Promise<string | undefined> {
    const stored = await this.#db
      .selectFrom('ssh_keys')
      .select('public_key')
      .where('user_id', '=', userId)
      .where('fingerprint', '=', offered.fingerprint)
      .executeTakeFirst();
    if (stored === undefined) return undefined;
    // Belt and braces against a fingerprint collision: the blobs themselves must match.
    const storedBlob = parseOfferedKey({ keyLine: stored.public_key })?.blob;
    return storedBlob?.equals(offered.blob) === true ? stored.public_key : undefined;
  }

  async #checkTotp(row: UserRow, code: string): Promise<CheckResult> {
    if (row.totp_enabled !== 1 || row.totp_secret === null) {
      return { ok: false, reason: 'bad-totp', detail: 'not-enrolled' };
    }
    const secret = await this.#openSecret(row.totp_secret, totpSealContext(row.id));
    const step = findTotpStep(secret, code, this.#clock());
    secret.fill(0);
    if (step === undefined) return { ok: false, reason: 'bad-totp', detail: 'wrong-code' };
    return {
      ok: true,
      data: {},
      commit: async (db) =>
        (await consumeTotpStep(db, row.id, step))
          ? undefined
          : { ok: false, reason: 'bad-totp', detail: 'replayed-code' },
    };
  }

  // Unknown users and users without a password cost one scrypt verification, like a real one.
  async #spendPasswordTime(password: string): Promise<void> {
    this.#dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    await verifyPasswordHash(password, await this.#dummyHash);
  }

  // The mock SCRAM salt must be stable across restarts and processes, so the key is stored.
  #getScramMockKey(): Promise<Buffer> {
    this.#scramMockKey ??= (async () => {
      await this.#db
        .insertInto('kv')
        .values({ key: 'scram_mock_key', value: randomBytes(32).toString('hex') })
        .onConflict((oc) => oc.column('key').doNothing())
        .execute();
      const row = await this.#db
        .selectFrom('kv')
        .select('value')
        .where('key', '=', 'scram_mock_key')
        .executeTakeFirstOrThrow();
      return Buffer.from(row.value, 'hex');
    })();
    return this.#scramMockKey;
  }
}

function parseOfferedKey(
  key: { readonly keyLine: string } | { readonly algo: string; readonly blob: Buffer },
): SshPublicKey | undefined {
  try {
    if ('keyLine' in key) return parseSshPublicKey(key.keyLine);
    const parsed = parseSshPublicKey(`${key.algo} ${key.blob.toString('base64')}`);
    return parsed.blob.equals(key.blob) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

// The algorithm named in the signed request must fit the key, and for RSA the hash ssh2
// reports must be the one that algorithm implies (rsa-sha2-256 → sha256, RFC 8332).
function isSignatureAlgoConsistent(
  keyAlgo: string,
  signedAlgo: string,
  hashAlgo: string | undefined,
): boolean {
  if (keyAlgo !== 'ssh-rsa') return signedAlgo === keyAlgo;
  if (signedAlgo === 'rsa-sha2-256') return hashAlgo === 'sha256';
  if (signedAlgo === 'rsa-sha2-512') return hashAlgo === 'sha512';
  return false;
}
