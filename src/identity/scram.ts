import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslPrepLite } from './saslprep.js';

/** Iteration count of new verifiers: PostgreSQL's default (`scram_iterations` = 4096). */
export const SCRAM_ITERATIONS = 4096;

/** PostgreSQL's salt length for SCRAM verifiers, in bytes. */
const SCRAM_SALT_BYTES = 16;
const SCRAM_KEY_BYTES = 32;
const SERVER_NONCE_BYTES = 18;
const MAX_ITERATIONS = 10_000_000;

/** A SCRAM-SHA-256 verifier: what a server stores instead of the password (RFC 5802 §3). */
export interface ScramVerifier {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** Options for {@link deriveScramVerifier}; both default to fresh PostgreSQL-like values. */
export interface DeriveScramOptions {
  readonly salt?: Buffer;
  readonly iterations?: number;
}

/**
 * Derives the PostgreSQL-format verifier `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`
 * for `password`, normalized like PostgreSQL does (see {@link saslPrepLite} for the gap).
 */
export async function deriveScramVerifier(
  password: string,
  options: DeriveScramOptions = {},
): Promise<string> {
  const salt = options.salt ?? randomBytes(SCRAM_SALT_BYTES);
  const iterations = options.iterations ?? SCRAM_ITERATIONS;
  const salted = await saltPassword(saslPrepLite(password), salt, iterations);
  const clientKey = hmac(salted, 'Client Key');
  return formatScramVerifier({
    iterations,
    salt,
    storedKey: sha256(clientKey),
    serverKey: hmac(salted, 'Server Key'),
  });
}

/** Formats a verifier exactly as PostgreSQL stores it in `pg_authid.rolpassword`. */
export function formatScramVerifier(verifier: ScramVerifier): string {
  const b64 = (b: Buffer): string => b.toString('base64');
  return `SCRAM-SHA-256$${verifier.iterations}:${b64(verifier.salt)}$${b64(verifier.storedKey)}:${b64(verifier.serverKey)}`;
}

/** Parses a PostgreSQL-format SCRAM-SHA-256 verifier; undefined when malformed. */
export function parseScramVerifier(text: string): ScramVerifier | undefined {
  const match =
    /^SCRAM-SHA-256\$(\d{1,8}):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(text);
  if (match === null) return undefined;
  const iterations = Number(match[1]);
  const salt = Buffer.from(match[2] ?? '', 'base64');
  const storedKey = Buffer.from(match[3] ?? '', 'base64');
  const serverKey = Buffer.from(match[4] ?? '', 'base64');
  if (iterations < 1 || iterations > MAX_ITERATIONS || salt.length === 0) return undefined;
  if (storedKey.length !== SCRAM_KEY_BYTES || serverKey.length !== SCRAM_KEY_BYTES)
    return undefined;
  return { iterations, salt, storedKey, serverKey };
}

/**
 * A verifier for a user who does not exist (or may not log in): a stable salt derived from the
 * name and `mockKey`, so probing two names cannot tell a real user from a missing one (like
 * PostgreSQL's mock authentication), and keys no password can match.
 */
export function createMockScramVerifier(userName: string, mockKey: Buffer): ScramVerifier {
  return {
    iterations: SCRAM_ITERATIONS,
    salt: createHmac('sha256', mockKey)
      .update(`scram-mock-salt:${userName}`)
      .digest()
      .subarray(0, SCRAM_SALT_BYTES),
    storedKey: randomBytes(SCRAM_KEY_BYTES),
    serverKey: randomBytes(SCRAM_KEY_BYTES),
  };
}

/** Why a SCRAM exchange failed (for audit; the client only learns that it failed). */
export type ScramFailureReason =
  | 'malformed-message'
  | 'unsupported-feature'
  | 'channel-binding-mismatch'
  | 'nonce-mismatch'
  | 'bad-proof'
  | 'out-of-order';

/** The outcome of one SCRAM step: the message to send back, or why the exchange failed. */
export type ScramStepResult =
  | { readonly ok: true; readonly message: string }
  | { readonly ok: false; readonly reason: ScramFailureReason };

/** Options for {@link ScramServerExchange}. */
export interface ScramServerOptions {
  /** Server nonce part; random by default. Only tests (RFC 7677 vectors) set it. */
  readonly serverNonce?: string;
  /**
   * Whether the server offered SCRAM-SHA-256-PLUS. When it did, a client sending the `y` flag
   * ("I could bind but you can't") signals a downgrade and is refused (RFC 5802 §6).
   */
  readonly isChannelBindingAdvertised?: boolean;
  /** Make the exchange fail at the proof whatever is sent (mock authentication). */
  readonly isMock?: boolean;
}

type ExchangeState =
  | { readonly step: 'client-first' }
  | {
      readonly step: 'client-final';
      readonly gs2Header: string;
      readonly clientFirstBare: string;
      readonly serverFirst: string;
      readonly nonce: string;
    }
  | { readonly step: 'done' };

/**
 * The server side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677), without channel binding
 * (no -PLUS): `handleClientFirst` answers server-first, `handleClientFinal` checks the proof and
 * answers server-final (`v=<ServerSignature>`). Any failure ends the exchange.
 */
export class ScramServerExchange {
  readonly #verifier: ScramVerifier;
  readonly #options: ScramServerOptions;
  #state: ExchangeState = { step: 'client-first' };

  constructor(verifier: ScramVerifier, options: ScramServerOptions = {}) {
    this.#verifier = verifier;
    this.#options = options;
  }

  /** True once the exchange has finished, successfully or not. */
  get isDone(): boolean {
    return this.#state.step === 'done';
  }

  /** Handles client-first-message (RFC 5802 §7) and returns server-first-message. */
  handleClientFirst(message: string): ScramStepResult {
    if (this.#state.step !== 'client-first') return this.#fail('out-of-order');
    const parts = message.split(',');
    const [flag, authzid, user, nonceAttr] = parts;
    if (
      flag === undefined ||
      authzid === undefined ||
      user === undefined ||
      nonceAttr === undefined
    ) {
      return this.#fail('malformed-message');
    }
    // gs2-cbind-flag: "n" (client cannot bind), "y" (client could, thinks we cannot), "p=" (binds).
    if (flag.startsWith('p=')) return this.#fail('unsupported-feature');
    if (flag === 'y' && this.#options.isChannelBindingAdvertised === true) {
      return this.#fail('channel-binding-mismatch');
    }
    if (flag !== 'n' && flag !== 'y') return this.#fail('malformed-message');
    // PostgreSQL does not support an authorization identity nor mandatory extensions ("m=").
    if (authzid !== '' || user.startsWith('m=')) return this.#fail('unsupported-feature');
    if (!user.startsWith('n=')) return this.#fail('malformed-message');
    const clientNonce = nonceAttr.startsWith('r=') ? nonceAttr.slice(2) : '';
    if (!isPrintable(clientNonce)) return this.#fail('malformed-message');
    const serverNonce =
      this.#options.serverNonce ?? randomBytes(SERVER_NONCE_BYTES).toString('base64');
    const nonce = clientNonce + serverNonce;
    const v = this.#verifier;
    const serverFirst = `r=${nonce},s=${v.salt.toString('base64')},i=${v.iterations}`;
    this.#state = {
      step: 'client-final',
      gs2Header: `${flag},${authzid},`,
      clientFirstBare: parts.slice(2).join(','),
      serverFirst,
      nonce,
    };
    return { ok: true, message: serverFirst };
  }

  /** Handles client-final-message, checks the proof and returns server-final-message. */
  handleClientFinal(message: string): ScramStepResult {
    const state = this.#state;
    if (state.step !== 'client-final') return this.#fail('out-of-order');
    this.#state = { step: 'done' };
    const proofAt = message.lastIndexOf(',p=');
    if (proofAt < 0) return this.#fail('malformed-message');
    const withoutProof = message.slice(0, proofAt);
    const proofText = message.slice(proofAt + 3);
    const [binding, nonceAttr] = withoutProof.split(',');
    if (
      binding === undefined ||
      nonceAttr === undefined ||
      !binding.startsWith('c=') ||
      !isBase64(proofText)
    ) {
      return this.#fail('malformed-message');
    }
    // Without -PLUS the channel binding is just the gs2 header echoed back (RFC 5802 §7).
    if (binding.slice(2) !== Buffer.from(state.gs2Header).toString('base64')) {
      return this.#fail('channel-binding-mismatch');
    }
    if (nonceAttr !== `r=${state.nonce}`) return this.#fail('nonce-mismatch');
    const proof = Buffer.from(proofText, 'base64');
    if (proof.length !== SCRAM_KEY_BYTES) return this.#fail('malformed-message');
    const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
    const v = this.#verifier;
    const clientSignature = hmac(v.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    const isProofValid = timingSafeEqual(sha256(clientKey), v.storedKey);
    if (!isProofValid || this.#options.isMock === true) return this.#fail('bad-proof');
    return { ok: true, message: `v=${hmac(v.serverKey, authMessage).toString('base64')}` };
  }

  #fail(reason: ScramFailureReason): ScramStepResult {
    this.#state = { step: 'done' };
    return { ok: false, reason };
  }
}

function saltPassword(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, SCRAM_KEY_BYTES, 'sha256', (err, key) => {
      if (err === null) resolve(key);
      else reject(err);
    });
  });
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

// RFC 5802 §7: printable = %x21-2B / %x2D-7E (printable ASCII except ",").
function isPrintable(text: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(text);
}

function isBase64(text: string): boolean {
  return (
    /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text) && text.length > 0
  );
}
