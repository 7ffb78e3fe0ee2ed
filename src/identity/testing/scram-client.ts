import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { saslPrepLite } from '../saslprep.js';

/** A minimal SCRAM-SHA-256 client (RFC 5802) to drive the server side in tests. */
export class ScramTestClient {
  readonly clientFirstBare: string;
  readonly gs2Header: string;
  #serverSignature = '';

  constructor(
    options: { readonly nonce?: string; readonly gs2Header?: string; readonly user?: string } = {},
  ) {
    this.gs2Header = options.gs2Header ?? 'n,,';
    this.clientFirstBare = `n=${options.user ?? ''},r=${options.nonce ?? randomBytes(18).toString('base64')}`;
  }

  /** client-first-message. */
  get clientFirst(): string {
    return this.gs2Header + this.clientFirstBare;
  }

  /** client-final-message for `serverFirst` and `password`. */
  clientFinal(serverFirst: string, password: string): string {
    const attrs = new Map(serverFirst.split(',').map((p) => [p.slice(0, 1), p.slice(2)]));
    const salt = Buffer.from(attrs.get('s') ?? '', 'base64');
    const salted = pbkdf2Sync(saslPrepLite(password), salt, Number(attrs.get('i')), 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=${Buffer.from(this.gs2Header).toString('base64')},r=${attrs.get('r') ?? ''}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = createHmac('sha256', storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ (signature[i] ?? 0)));
    const serverKey = createHmac('sha256', salted).update('Server Key').digest();
    this.#serverSignature = createHmac('sha256', serverKey).update(authMessage).digest('base64');
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** True when `serverFinal` proves the server knew the verifier. */
  isServerFinalValid(serverFinal: string): boolean {
    return serverFinal === `v=${this.#serverSignature}`;
  }
}
