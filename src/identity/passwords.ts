import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';

/** scrypt cost parameters, as stored in a password hash. */
export interface ScryptParams {
  /** CPU/memory cost; a power of two. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** Parameters for new hashes: N=2^15, r=8, p=1 (32 MiB, tens of ms per hash). */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

/** Longest password accepted, in UTF-8 bytes; longer input is refused before hashing. */
export const MAX_PASSWORD_BYTES = 1024;

const SALT_BYTES = 16;
const HASH_BYTES = 32;
// Bounds for parameters read back from the store, so a tampered row cannot make us allocate
// gigabytes or spin for minutes.
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

/** A parsed `scrypt$N$r$p$salt$hash` string. */
interface ParsedPasswordHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Hashes `password` with scrypt into the self-describing form `scrypt$N$r$p$salt$hash` (base64). */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<string> {
  assertPasswordAcceptable(password);
  const salt = randomBytes(SALT_BYTES);
  const hash = await deriveScrypt(password, salt, params, HASH_BYTES);
  return [
    'scrypt',
    params.N,
    params.r,
    params.p,
    salt.toString('base64'),
    hash.toString('base64'),
  ].join('$');
}

/**
 * True when `password` matches `stored` (constant-time compare). A malformed stored hash or an
 * over-long password gives false, never an exception.
 */
export async function verifyPasswordHash(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (parsed === undefined || Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES)
    return false;
  const candidate = await deriveScrypt(password, parsed.salt, parsed.params, parsed.hash.length);
  return timingSafeEqual(candidate, parsed.hash);
}

/** True when `stored` was made with parameters other than `params` (rehash on next login). */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): boolean {
  const parsed = parsePasswordHash(stored);
  return (
    parsed === undefined ||
    parsed.params.N !== params.N ||
    parsed.params.r !== params.r ||
    parsed.params.p !== params.p
  );
}

/** Throws GH_INVALID_ARGUMENT when `password` is empty or longer than {@link MAX_PASSWORD_BYTES}. */
export function assertPasswordAcceptable(password: string): void {
  if (password.length === 0) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', { message: 'password must not be empty' });
  }
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: `password is longer than ${MAX_PASSWORD_BYTES} bytes`,
    });
  }
}

function parsePasswordHash(stored: string): ParsedPasswordHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = [parts[1], parts[2], parts[3]].map((s) =>
    s !== undefined && /^\d{1,8}$/.test(s) ? Number(s) : 0,
  );
  if (N === undefined || r === undefined || p === undefined) return undefined;
  const isPowerOfTwo = N > 1 && (N & (N - 1)) === 0;
  if (!isPowerOfTwo || N > MAX_N || r < 1 || r > MAX_R || p < 1 || p > MAX_P) return undefined;
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const hash = Buffer.from(parts[5] ?? '', 'base64');
  if (salt.length === 0 || hash.length < 16) return undefined;
  return { params: { N, r, p }, salt, hash };
}

function deriveScrypt(
  password: string,
  salt: Buffer,
  params: ScryptParams,
  keyLength: number,
): Promise<Buffer> {
  // Node refuses by default when 128·N·r reaches its 32 MiB limit; allow twice what is needed.
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.N * params.r,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, keyLength, options, (err, key) => {
      if (err === null) resolve(key);
      else reject(err);
    });
  });
}
