import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { OpenSecret, SealSecret } from '../deps.js';

/**
 * A stand-in for the KMS envelope in tests: AES-256-GCM with a random key held in memory,
 * the context as additional data. Sealed form: base64 `iv.ciphertext.tag`.
 */
export function makeTestSealer(): { sealSecret: SealSecret; openSecret: OpenSecret } {
  const key = randomBytes(32);
  const sealSecret: SealSecret = (plaintext, context) => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Promise.resolve(
      [iv, ciphertext, cipher.getAuthTag()].map((b) => b.toString('base64')).join('.'),
    );
  };
  const openSecret: OpenSecret = (sealed, context) => {
    try {
      const [iv, ciphertext, tag] = sealed.split('.').map((s) => Buffer.from(s, 'base64'));
      if (iv === undefined || ciphertext === undefined || tag === undefined)
        throw new Error('malformed sealed secret');
      const decipher = createDecipheriv('aes-256-gcm', key, iv)
        .setAAD(Buffer.from(context))
        .setAuthTag(tag);
      return Promise.resolve(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  };
  return { sealSecret, openSecret };
}
