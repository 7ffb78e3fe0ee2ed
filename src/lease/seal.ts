import {
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import { GatehouseError } from '../core/errors.js';
import { decodeBase64, decryptGcm, encryptGcm } from './aes-gcm.js';

/**
 * A secret sealed to one gateway's X25519 key for one lease (DESIGN.md §4, dual key):
 * ephemeral X25519, HKDF-SHA256, AES-256-GCM with AAD = lease id. Binary fields are base64;
 * `epk` is the raw 32-byte ephemeral public key.
 */
export interface SealedBox {
  readonly v: 1;
  readonly epk: string;
  readonly iv: string;
  readonly ciphertext: string;
  readonly tag: string;
}

/** HKDF info string; changing it makes every sealed box of older versions unreadable. */
export const SEAL_HKDF_INFO = 'gatehouse-lease-v1';

const X25519_KEY_BYTES = 32;

/** Seals `plaintext` so that only the holder of the gateway's private key can open it, for `leaseId`. */
export function sealToGateway(
  gatewaySealPublicKey: KeyObject,
  plaintext: Buffer,
  leaseId: string,
): SealedBox {
  const recipient = asX25519Public(gatewaySealPublicKey);
  const ephemeral = generateKeyPairSync('x25519');
  const epk = rawPublicKey(ephemeral.publicKey);
  const key = deriveKey(ephemeral.privateKey, recipient, epk);
  try {
    const parts = encryptGcm(key, plaintext, Buffer.from(leaseId, 'utf8'));
    return {
      v: 1,
      epk: epk.toString('base64'),
      iv: parts.iv.toString('base64'),
      ciphertext: parts.ciphertext.toString('base64'),
      tag: parts.tag.toString('base64'),
    };
  } finally {
    key.fill(0);
  }
}

/** Opens a sealed box with the gateway's X25519 private key; GH_CRYPTO_FAILED for another key or lease id. */
export function openSealedBox(
  gatewaySealPrivateKey: KeyObject,
  box: SealedBox,
  leaseId: string,
): Buffer {
  if (
    gatewaySealPrivateKey.type !== 'private' ||
    gatewaySealPrivateKey.asymmetricKeyType !== 'x25519'
  ) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      detail: 'openSealedBox needs an X25519 private key',
    });
  }
  const checked = parseSealedBox(box); // it may have come off the wire typed only by a cast
  const epk = decodeBase64(checked.epk, 'sealed box epk');
  if (epk.length !== X25519_KEY_BYTES)
    throw new GatehouseError('GH_CRYPTO_FAILED', { detail: 'sealed box: bad epk length' });
  const parts = {
    iv: decodeBase64(checked.iv, 'sealed box iv'),
    ciphertext: decodeBase64(checked.ciphertext, 'sealed box ciphertext'),
    tag: decodeBase64(checked.tag, 'sealed box tag'),
  };
  const key = deriveKey(gatewaySealPrivateKey, publicKeyFromRaw(epk), epk);
  try {
    return decryptGcm(key, parts, Buffer.from(leaseId, 'utf8'), 'sealed box');
  } finally {
    key.fill(0);
  }
}

/** Checks a sealed box (object or JSON text) field by field; GH_CRYPTO_FAILED when malformed. */
export function parseSealedBox(value: unknown): SealedBox {
  let raw = value;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch (err) {
      throw new GatehouseError('GH_CRYPTO_FAILED', { detail: 'sealed box: not JSON', cause: err });
    }
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new GatehouseError('GH_CRYPTO_FAILED', { detail: 'sealed box: not an object' });
  }
  const { v, epk, iv, ciphertext, tag } = raw as Record<string, unknown>;
  if (v !== 1)
    throw new GatehouseError('GH_CRYPTO_FAILED', {
      detail: `sealed box: unsupported version ${String(v)}`,
    });
  if (
    typeof epk !== 'string' ||
    typeof iv !== 'string' ||
    typeof ciphertext !== 'string' ||
    typeof tag !== 'string'
  ) {
    throw new GatehouseError('GH_CRYPTO_FAILED', {
      detail: 'sealed box: binary fields must be base64 strings',
    });
  }
  return { v, epk, iv, ciphertext, tag };
}

/** ECDH then HKDF-SHA256(salt = ephemeral public key, info = SEAL_HKDF_INFO) to a 32-byte key. */
function deriveKey(privateKey: KeyObject, publicKey: KeyObject, epk: Buffer): Buffer {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch (err) {
    // OpenSSL refuses an all-zero X25519 result (a low-order point): a forged box.
    throw new GatehouseError('GH_CRYPTO_FAILED', {
      detail: 'sealed box: key agreement failed',
      cause: err,
    });
  }
  try {
    return Buffer.from(hkdfSync('sha256', shared, epk, SEAL_HKDF_INFO, 32));
  } finally {
    shared.fill(0);
  }
}

function asX25519Public(key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== 'x25519') {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      detail: 'sealToGateway needs an X25519 public key',
    });
  }
  // A private key is accepted too: its public half is what the sender uses.
  return key.type === 'private' ? createPublicKey(key) : key;
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string')
    throw new GatehouseError('GH_INTERNAL', { detail: 'x25519 key without x' });
  return Buffer.from(jwk.x, 'base64url');
}

function publicKeyFromRaw(raw: Buffer): KeyObject {
  try {
    return createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') },
      format: 'jwk',
    });
  } catch (err) {
    throw new GatehouseError('GH_CRYPTO_FAILED', { detail: 'sealed box: bad epk', cause: err });
  }
}
