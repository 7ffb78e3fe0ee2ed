import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Writes a secret file readable by its owner only (0600), refusing to overwrite. */
export function writeSecretFile(path: string, content: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, content, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
}

/** Generates an Ed25519 or X25519 private key and stores it as PKCS#8 PEM (0600). */
export function generateKeyFile(path: string, type: 'ed25519' | 'x25519'): KeyObject {
  const { privateKey } =
    type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519');
  writeSecretFile(path, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return privateKey;
}

/** Reads a PKCS#8 PEM private key file. */
export function readPrivateKeyFile(path: string): KeyObject {
  return createPrivateKey(readFileSync(path));
}

/** True when a file exists at `path`. */
export function hasFile(path: string): boolean {
  return existsSync(path);
}

/** A public key as base64 SPKI DER, the form stored in the database. */
export function publicKeyToBase64(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' }).toString('base64');
}

/** Parses a base64 SPKI DER public key. */
export function publicKeyFromBase64(text: string): KeyObject {
  return createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
}

/** An Ed25519 signer: signs bytes, exposes its public key. */
export interface Signer {
  readonly publicKey: KeyObject;
  /** Short id of the public key (first 16 hex of its SHA-256). */
  readonly keyId: string;
  sign(data: Buffer | string): string;
}

/** Makes a {@link Signer} from an Ed25519 private key. Signatures are base64. */
export function makeSigner(privateKey: KeyObject): Signer {
  const publicKey = createPublicKey(privateKey);
  return {
    publicKey,
    keyId: keyIdOf(publicKey),
    sign: (data) => sign(null, Buffer.from(data), privateKey).toString('base64'),
  };
}

/** Verifies a base64 Ed25519 signature; false on any malformed input. */
export function verifySignature(
  publicKey: KeyObject,
  data: Buffer | string,
  signature: string,
): boolean {
  try {
    return verify(null, Buffer.from(data), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** Short id of a public key (first 16 hex chars of SHA-256 of its SPKI DER). */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHashHex(der).slice(0, 16);
}

function createHashHex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
