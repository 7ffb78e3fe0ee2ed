import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** RFC 6238 time step, in seconds. */
export const TOTP_STEP_S = 30;
/** Code length. */
export const TOTP_DIGITS = 6;
/** Accepted clock drift, in steps either side of now. */
export const TOTP_WINDOW_STEPS = 1;
/** Secret length: 160 bits, the HMAC-SHA-1 block-friendly size RFC 4226 §4 recommends. */
export const TOTP_SECRET_BYTES = 20;

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A fresh random TOTP secret. */
export function generateTotpSecret(): Buffer {
  return randomBytes(TOTP_SECRET_BYTES);
}

/** RFC 4648 base32 without padding, as authenticator apps expect in `otpauth://` URIs. */
export function base32Encode(data: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes RFC 4648 base32 (case-insensitive, padding and spaces ignored); undefined if invalid. */
export function base32Decode(text: string): Buffer | undefined {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const index = BASE32_ALPHABET.indexOf(ch);
    if (index < 0) return undefined;
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/** The time step containing `atMs` (RFC 6238 §4: T = floor((now − T0) / X), T0 = 0). */
export function totpStepAt(atMs: number): number {
  return Math.floor(atMs / 1000 / TOTP_STEP_S);
}

/** The HOTP code (RFC 4226 §5.3, HMAC-SHA-1, dynamic truncation) for `step`. */
export function totpCode(secret: Buffer, step: number, digits: number = TOTP_DIGITS): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/**
 * The step whose code equals `code`, searching now ± {@link TOTP_WINDOW_STEPS}; undefined when
 * none does. Every candidate is compared in constant time, whichever matches.
 */
export function findTotpStep(secret: Buffer, code: string, atMs: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const now = totpStepAt(atMs);
  let found: number | undefined;
  for (let step = now - TOTP_WINDOW_STEPS; step <= now + TOTP_WINDOW_STEPS; step++) {
    const isMatch = timingSafeEqual(Buffer.from(totpCode(secret, step)), Buffer.from(code));
    // Prefer the latest matching step, so replay protection remembers the highest one.
    if (isMatch) found = step;
  }
  return found;
}

/** The `otpauth://totp/Issuer:account?secret=…&issuer=…` URI an authenticator app scans. */
export function totpUri(
  account: string,
  secret: Buffer,
  options: { readonly issuer?: string } = {},
): string {
  const issuer = options.issuer ?? 'Gatehouse';
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  return `otpauth://totp/${label}?secret=${base32Encode(secret)}&issuer=${encodeURIComponent(issuer)}`;
}
