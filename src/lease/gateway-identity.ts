import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';
import {
  generateKeyFile,
  hasFile,
  makeSigner,
  publicKeyToBase64,
  readPrivateKeyFile,
  type Signer,
} from '../crypto/key-files.js';

/**
 * A gateway's own keys (DESIGN.md §4, dual key): Ed25519 to sign its requests to the control
 * plane, X25519 to receive credentials sealed to it. The private halves never leave it.
 */
export interface GatewayIdentity {
  /** The name the gateway enrolls under. */
  readonly name: string;
  readonly signer: Signer;
  readonly sealPrivateKey: KeyObject;
  /** Ed25519 public key, SPKI DER base64 (the form stored in `gateways`). */
  readonly signPublicKey: string;
  /** X25519 public key, SPKI DER base64. */
  readonly sealPublicKey: string;
}

/** Where a gateway's key files live: `gateway.signingKey` and `gateway.sealingKey` in the config. */
export interface GatewayKeyPaths {
  readonly signingKey: string;
  readonly sealingKey: string;
}

/** Builds an identity from two private keys; GH_INVALID_ARGUMENT if they are not Ed25519 / X25519. */
export function gatewayIdentityFromKeys(
  name: string,
  signPrivateKey: KeyObject,
  sealPrivateKey: KeyObject,
): GatewayIdentity {
  assertPrivate(signPrivateKey, 'ed25519', 'signing');
  assertPrivate(sealPrivateKey, 'x25519', 'sealing');
  return {
    name,
    signer: makeSigner(signPrivateKey),
    sealPrivateKey,
    signPublicKey: publicKeyToBase64(signPrivateKey),
    sealPublicKey: publicKeyToBase64(sealPrivateKey),
  };
}

/** Loads the identity from the key files made by `gatehouse init` (PKCS#8 PEM, 0600). */
export function loadGatewayIdentity(name: string, paths: GatewayKeyPaths): GatewayIdentity {
  return gatewayIdentityFromKeys(
    name,
    readKey(paths.signingKey, 'signing'),
    readKey(paths.sealingKey, 'sealing'),
  );
}

/**
 * Makes a new identity for a remote gateway. With `paths`, the keys are written there (0600,
 * never overwriting an existing file); without, they live in memory only (tests).
 */
export function generateGatewayIdentity(name: string, paths?: GatewayKeyPaths): GatewayIdentity {
  if (paths === undefined) {
    return gatewayIdentityFromKeys(
      name,
      generateKeyPairSync('ed25519').privateKey,
      generateKeyPairSync('x25519').privateKey,
    );
  }
  for (const path of [paths.signingKey, paths.sealingKey]) {
    if (hasFile(path)) {
      throw new GatehouseError('GH_ALREADY_EXISTS', {
        message: 'a gateway key file already exists',
        detail: path,
      });
    }
  }
  return gatewayIdentityFromKeys(
    name,
    generateKeyFile(paths.signingKey, 'ed25519'),
    generateKeyFile(paths.sealingKey, 'x25519'),
  );
}

function readKey(path: string, what: string): KeyObject {
  try {
    return readPrivateKeyFile(path);
  } catch (err) {
    throw new GatehouseError('GH_CONFIG_INVALID', {
      message: `the gateway ${what} key cannot be read`,
      hint: `check gateway.${what === 'signing' ? 'signingKey' : 'sealingKey'} in the configuration`,
      detail: path,
      cause: err,
    });
  }
}

function assertPrivate(key: KeyObject, type: 'ed25519' | 'x25519', what: string): void {
  if (key.type !== 'private' || key.asymmetricKeyType !== type) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: `the gateway ${what} key must be an ${type === 'ed25519' ? 'Ed25519' : 'X25519'} private key`,
    });
  }
}
