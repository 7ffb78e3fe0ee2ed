import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';

/** GCM nonce length in bytes (NIST SP 800-38D recommends 96 bits). */
export const GCM_IV_BYTES = 12;
/** GCM tag length in bytes; shorter tags are refused. */
export const GCM_TAG_BYTES = 16;
/** AES-256 key length in bytes. */
export const AES_256_KEY_BYTES = 32;

/** The three outputs of one AES-256-GCM encryption. */
export interface GcmParts {
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/** Encrypts with AES-256-GCM under a fresh random IV, authenticating `aad` too. */
export function encryptGcm(key: Buffer, plaintext: Buffer, aad: Buffer): GcmParts {
  assertKey(key);
  const iv = randomBytes(GCM_IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

/**
 * Decrypts AES-256-GCM; any length or authentication failure is GH_CRYPTO_FAILED.
 * `what` names the object in the private detail (never secret material).
 */
export function decryptGcm(key: Buffer, parts: GcmParts, aad: Buffer, what: string): Buffer {
  assertKey(key);
  // A short tag would be accepted by OpenSSL and weaken the forgery bound: insist on 16 bytes.
  if (parts.iv.length !== GCM_IV_BYTES || parts.tag.length !== GCM_TAG_BYTES) {
    throw new GatehouseError('GH_CRYPTO_FAILED', { detail: `${what}: bad iv or tag length` });
  }
  const decipher = createDecipheriv('aes-256-gcm', key, parts.iv, { authTagLength: GCM_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(parts.tag);
  const head = decipher.update(parts.ciphertext);
  try {
    // Buffer.concat copies, so `head` can be wiped whatever happens.
    return Buffer.concat([head, decipher.final()]);
  } catch (err) {
    throw new GatehouseError('GH_CRYPTO_FAILED', {
      detail: `${what}: authentication failed`,
      cause: err,
    });
  } finally {
    head.fill(0); // unauthenticated plaintext must not linger
  }
}

/** Decodes strict base64 (the alphabet Buffer emits); anything else is GH_CRYPTO_FAILED. */
export function decodeBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) {
    throw new GatehouseError('GH_CRYPTO_FAILED', { detail: `${what}: not canonical base64` });
  }
  return bytes;
}

function assertKey(key: Buffer): void {
  if (key.length !== AES_256_KEY_BYTES) {
    throw new GatehouseError('GH_CRYPTO_FAILED', {
      detail: `key must be ${AES_256_KEY_BYTES} bytes`,
    });
  }
}
