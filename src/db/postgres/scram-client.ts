import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslPrepLite } from '../../identity/saslprep.js';

/** Highest iteration count accepted from a target (bounds the PBKDF2 work it can ask for). */
const MAX_ITERATIONS = 10_000_000;
const KEY_BYTES = 32;

/** The mechanism this client speaks (no channel binding: the gs2 header is `n,,`). */
export const SCRAM_SHA_256 = 'SCRAM-SHA-256';

/**
 * The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) for logging in to a target with the
 * leased password. The user name in the messages is empty: PostgreSQL takes it from the
 * startup packet. The server's final signature must verify, so a target that does not know
 * the verifier cannot pose as the database.
 */
export class ScramSha256Client {
  readonly #password: Buffer;
  readonly #clientFirstBare: string;
  #expectedServerSignature: Buffer | undefined;

  /** `password` is copied (and zeroed by {@link dispose}); the caller zeroes its own. */
  constructor(password: Buffer, options: { readonly nonce?: string } = {}) {
    this.#password = preparePassword(password);
    this.#clientFirstBare = `n=,r=${options.nonce ?? randomBytes(18).toString('base64')}`;
  }

  /** client-first-message. */
  get clientFirst(): string {
    return `n,,${this.#clientFirstBare}`;
  }

  /** client-final-message for `serverFirst`; throws on a malformed or hostile one. */
  async clientFinal(serverFirst: string): Promise<string> {
    const attrs = parseAttributes(serverFirst);
    const nonce = attrs.get('r');
    const salt = Buffer.from(attrs.get('s') ?? '', 'base64');
    const iterations = Number(attrs.get('i'));
    const clientNonce = this.#clientFirstBare.slice(this.#clientFirstBare.indexOf('r=') + 2);
    if (nonce === undefined || !nonce.startsWith(clientNonce) || nonce.length <= clientNonce.length)
      throw new Error('SCRAM: server nonce does not extend the client nonce');
    if (salt.length === 0) throw new Error('SCRAM: no salt');
    if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS)
      throw new Error(`SCRAM: unacceptable iteration count ${attrs.get('i') ?? ''}`);
    const salted = await pbkdf2Async(this.#password, salt, iterations);
    try {
      const clientKey = hmac(salted, 'Client Key');
      const storedKey = createHash('sha256').update(clientKey).digest();
      const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${nonce}`;
      const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;
      const signature = hmac(storedKey, authMessage);
      const proof = Buffer.alloc(KEY_BYTES);
      for (let i = 0; i < KEY_BYTES; i++) proof[i] = (clientKey[i] ?? 0) ^ (signature[i] ?? 0);
      this.#expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
      clientKey.fill(0);
      return `${withoutProof},p=${proof.toString('base64')}`;
    } finally {
      salted.fill(0);
    }
  }

  /** True when server-final-message proves the server holds the verifier. */
  isServerFinalValid(serverFinal: string): boolean {
    const expected = this.#expectedServerSignature;
    const attrs = parseAttributes(serverFinal);
    const given = Buffer.from(attrs.get('v') ?? '', 'base64');
    return (
      expected !== undefined && given.length === expected.length && timingSafeEqual(given, expected)
    );
  }

  /** Zeroes the password copy. */
  dispose(): void {
    this.#password.fill(0);
  }
}

// SASLprep only changes non-ASCII passwords; leave ASCII bytes as they are (no string copy).
function preparePassword(password: Buffer): Buffer {
  const isAscii = password.every((b) => b >= 0x20 && b < 0x7f);
  return isAscii
    ? Buffer.from(password)
    : Buffer.from(saslPrepLite(password.toString('utf8')), 'utf8');
}

function parseAttributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part.length >= 2 && part[1] === '=') out.set(part[0] ?? '', part.slice(2));
  }
  return out;
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function pbkdf2Async(password: Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, KEY_BYTES, 'sha256', (err, key) =>
      err === null ? resolve(key) : reject(err),
    );
  });
}
