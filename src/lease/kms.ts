import { canonicalJson } from '../core/canonical-json.js';
import { GatehouseError } from '../core/errors.js';

/** Which key management service wrapped a data key. */
export type KmsName = 'local' | 'aws';

/**
 * What a data key is bound to. Every value is a string because AWS KMS takes the context as a
 * string map; the same four fields are the AEAD additional data of the envelope.
 */
export interface EncryptionContext {
  readonly purpose: string;
  readonly credentialId: string;
  readonly targetId: string;
  readonly version: string;
}

/** A data key wrapped by a KMS: what an envelope stores. */
export interface WrappedDataKey {
  /** The wrapped key, base64. */
  readonly wrappedKey: string;
  /** The KMS key that wrapped it (local key id or AWS key ARN). */
  readonly keyId: string;
}

/** A fresh data key: the 32 plaintext bytes (zero them after use) and their wrapped form. */
export interface DataKey extends WrappedDataKey {
  readonly plaintextKey: Buffer;
}

/** A key management service that makes and unwraps 256-bit data keys bound to a context. */
export interface KmsProvider {
  readonly name: KmsName;
  /** Makes a fresh 256-bit data key wrapped under the active master key. */
  generateDataKey(context: EncryptionContext): Promise<DataKey>;
  /** Unwraps a data key; fails with GH_CRYPTO_FAILED unless `context` is the one it was made with. */
  decryptDataKey(wrappedKey: string, keyId: string, context: EncryptionContext): Promise<Buffer>;
  /** Re-wraps a data key under the active master key without exposing it to the caller. */
  rewrap?(wrappedKey: string, keyId: string, context: EncryptionContext): Promise<WrappedDataKey>;
  /** Releases sockets or other resources held by the provider. */
  close?(): void;
}

/** Length of an AES-256 data key in bytes. */
export const DATA_KEY_BYTES = 32;

/** The four context fields only, in a fresh object (drops anything extra a caller passed). */
export function pickContext(context: EncryptionContext): EncryptionContext {
  return {
    purpose: context.purpose,
    credentialId: context.credentialId,
    targetId: context.targetId,
    version: context.version,
  };
}

/** The context as AWS wants it: a plain string map of the four fields. */
export function contextToRecord(context: EncryptionContext): Record<string, string> {
  return { ...pickContext(context) };
}

/** The AEAD additional data for a context: canonical JSON of its four fields. */
export function contextAad(context: EncryptionContext): Buffer {
  return Buffer.from(canonicalJson(pickContext(context)), 'utf8');
}

/** True when two contexts have the same four fields. */
export function isSameContext(a: EncryptionContext, b: EncryptionContext): boolean {
  return contextAad(a).equals(contextAad(b));
}

/** Checks that a value is an {@link EncryptionContext} with exactly the four string fields. */
export function parseEncryptionContext(value: unknown): EncryptionContext {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw malformedContext('not an object');
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  if (keys.join(',') !== 'credentialId,purpose,targetId,version') {
    throw malformedContext(`unexpected fields ${keys.join(',')}`);
  }
  const { purpose, credentialId, targetId, version } = record;
  if (
    typeof purpose !== 'string' ||
    typeof credentialId !== 'string' ||
    typeof targetId !== 'string' ||
    typeof version !== 'string'
  ) {
    throw malformedContext('fields must be strings');
  }
  return { purpose, credentialId, targetId, version };
}

function malformedContext(why: string): GatehouseError {
  return new GatehouseError('GH_CRYPTO_FAILED', { detail: `malformed encryption context: ${why}` });
}
