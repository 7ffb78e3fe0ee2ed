import { GatehouseError } from '../../src/core/errors.js';
import type { User } from '../../src/core/types.js';
import type { PublicKeyProof } from '../../src/identity/authenticate.js';
import type { AuthContext } from '../../src/identity/auth-types.js';
import type { ProofVerifier } from '../../src/lease/user-proof.js';

/**
 * A stand-in for identity's Authenticator: known passwords, tokens, SSH key blobs and TOTP
 * codes per user, read from maps the test fills. Users come from `findUser` (the store), so
 * disabling a user there takes effect. It records every call it answers.
 */
export class FakeProofVerifier implements ProofVerifier {
  readonly passwords = new Map<string, string>();
  /** token secret -> user name */
  readonly tokens = new Map<string, string>();
  /** base64 key blob -> user name */
  readonly keys = new Map<string, string>();
  readonly totpCodes = new Map<string, string>();
  readonly calls: string[] = [];
  readonly #findUser: (name: string) => Promise<User | undefined>;

  constructor(findUser: (name: string) => Promise<User | undefined>) {
    this.#findUser = findUser;
  }

  async verifyPassword(name: string, password: string, ctx: AuthContext): Promise<User> {
    this.calls.push(`password:${name}:${ctx.method}`);
    return this.#allow(name, this.passwords.get(name) === password);
  }

  async verifyToken(secret: string, ctx: AuthContext): Promise<User> {
    this.calls.push(`token:${ctx.method}`);
    const owner = this.tokens.get(secret);
    if (owner === undefined)
      throw new GatehouseError('GH_AUTH_FAILED', { detail: 'fake: unknown token' });
    return this.#allow(owner, true);
  }

  async verifyPublicKey(name: string, proof: PublicKeyProof, ctx: AuthContext): Promise<User> {
    this.calls.push(`publickey:${name}:${ctx.method}`);
    const blob =
      'blob' in proof ? proof.blob.toString('base64') : (proof.keyLine.split(' ')[1] ?? '');
    const isSigned = proof.signature !== undefined && proof.signature.length > 0;
    return this.#allow(name, isSigned && this.keys.get(blob) === name);
  }

  async verifyTotp(name: string, code: string, ctx: AuthContext): Promise<User> {
    this.calls.push(`totp:${name}:${ctx.method}`);
    return this.#allow(name, this.totpCodes.get(name) === code);
  }

  async #allow(name: string, isProven: boolean): Promise<User> {
    const user = await this.#findUser(name);
    if (user === undefined || user.isDisabled || !isProven) {
      throw new GatehouseError('GH_AUTH_FAILED', { detail: `fake: ${name} refused` });
    }
    return user;
  }
}
