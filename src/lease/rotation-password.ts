import { randomBytes } from 'node:crypto';

/** Length of a generated password: 32 base62 characters, about 190 bits. */
export const ROTATED_PASSWORD_LENGTH = 32;

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random password of base62 characters (no quote or backslash, safe even as an SQL literal). */
export function generateRotationPassword(length: number = ROTATED_PASSWORD_LENGTH): Buffer {
  const out = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const pool = randomBytes(length * 2);
    // 248 = 4 * 62: rejecting larger bytes keeps every character equally likely.
    for (let i = 0; i < pool.length && filled < length; i++) {
      const byte = pool[i] ?? 255;
      if (byte < 248) out[filled++] = BASE62.charCodeAt(byte % 62);
    }
    pool.fill(0);
  }
  return out;
}
