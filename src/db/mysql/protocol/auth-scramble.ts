/**
 * What authentication plugins compute (dev.mysql.com "Native Authentication", "Caching_sha2_password
 * information"): scrambles, and the RSA-encrypted password of caching_sha2_password full
 * authentication without TLS.
 */
import {
  constants,
  createHash,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

/** Length of the scramble (nonce) Gatehouse sends. */
export const SCRAMBLE_LENGTH = 20;

/** A fresh scramble of printable bytes (no NUL: part 1 is read as a C string by old clients). */
export function newScramble(): Buffer {
  const out = randomBytes(SCRAMBLE_LENGTH);
  for (let i = 0; i < out.length; i += 1) out.writeUInt8(33 + (out.readUInt8(i) % 94), i);
  return out;
}

function sha1(...parts: Buffer[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i += 1)
    out.writeUInt8(a.readUInt8(i) ^ b.readUInt8(i % b.length), i);
  return out;
}

/** mysql_native_password: SHA1(password) XOR SHA1(nonce ‖ SHA1(SHA1(password))); empty for an empty password. */
export function nativePasswordScramble(password: Buffer, nonce: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const stage1 = sha1(password);
  const stage2 = sha1(stage1);
  const out = xor(stage1, sha1(nonce.subarray(0, SCRAMBLE_LENGTH), stage2));
  stage1.fill(0);
  return out;
}

/** caching_sha2_password: SHA256(password) XOR SHA256(SHA256(SHA256(password)) ‖ nonce); empty for an empty password. */
export function cachingSha2Scramble(password: Buffer, nonce: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const stage1 = sha256(password);
  const stage2 = sha256(stage1);
  const out = xor(stage1, sha256(stage2, nonce.subarray(0, SCRAMBLE_LENGTH)));
  stage1.fill(0);
  return out;
}

/** The server-side check of a caching_sha2_password scramble, given the password (tests). */
export function isCachingSha2ScrambleOf(
  scramble: Buffer,
  password: Buffer,
  nonce: Buffer,
): boolean {
  const expected = cachingSha2Scramble(password, nonce);
  return expected.length === scramble.length && expected.equals(scramble);
}

/** The password with its NUL terminator, XORed with the nonce: what gets RSA-encrypted. */
function maskedPassword(password: Buffer, nonce: Buffer): Buffer {
  const withNul = Buffer.concat([password, Buffer.from([0])]);
  const masked = xor(withNul, nonce.subarray(0, SCRAMBLE_LENGTH));
  withNul.fill(0);
  return masked;
}

/** caching_sha2_password full authentication without TLS: RSA-OAEP(password ‖ NUL XOR nonce). */
export function rsaEncryptPassword(
  password: Buffer,
  nonce: Buffer,
  publicKeyPem: string | KeyObject,
): Buffer {
  const masked = maskedPassword(password, nonce);
  try {
    return publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING }, masked);
  } finally {
    masked.fill(0);
  }
}

/** The server side of {@link rsaEncryptPassword}: the password (without NUL). Throws on a bad ciphertext. */
export function rsaDecryptPassword(
  ciphertext: Buffer,
  nonce: Buffer,
  privateKey: KeyObject,
): Buffer {
  const masked = privateDecrypt(
    { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING },
    ciphertext,
  );
  const plain = xor(masked, nonce.subarray(0, SCRAMBLE_LENGTH));
  masked.fill(0);
  const end = plain.indexOf(0);
  return end < 0 ? plain : plain.subarray(0, end);
}

/** A clear password as mysql_clear_password and caching_sha2_password full auth send it: without its NUL. */
export function clearPasswordOf(data: Buffer): Buffer {
  const end = data.indexOf(0);
  return end < 0 ? data : data.subarray(0, end);
}
