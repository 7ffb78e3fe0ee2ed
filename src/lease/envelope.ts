import { GatehouseError } from '../core/errors.js';
import { decodeBase64, decryptGcm, encryptGcm, type GcmParts } from './aes-gcm.js';
import {
  contextAad,
  isSameContext,
  parseEncryptionContext,
  pickContext,
  type EncryptionContext,
  type KmsName,
  type KmsProvider,
} from './kms.js';

/** A secret sealed under a KMS-wrapped data key (DESIGN.md §4); binary fields are base64. */
export interface Envelope {
  readonly v: 1;
  readonly kms: KmsName;
  readonly keyId: string;
  readonly wrappedKey: string;
  readonly iv: string;
  readonly ciphertext: string;
  readonly tag: string;
  readonly context: EncryptionContext;
}

/** The `purpose` of a target credential's encryption context. */
export const CREDENTIAL_PURPOSE = 'gatehouse-credential';

/** Which credential version an envelope holds: the fields of its `credentials` row. */
export interface CredentialRef {
  readonly credentialId: string;
  readonly targetId: string;
  readonly version: number;
}

/** The encryption context of a credential version. */
export function credentialContext(ref: CredentialRef): EncryptionContext {
  return {
    purpose: CREDENTIAL_PURPOSE,
    credentialId: ref.credentialId,
    targetId: ref.targetId,
    version: String(ref.version),
  };
}

/** Seals a target credential under a fresh data key bound to its credential row. */
export function sealCredential(
  kms: KmsProvider,
  plaintext: Buffer,
  ref: CredentialRef,
): Promise<Envelope> {
  return sealEnvelope(kms, plaintext, credentialContext(ref));
}

/**
 * Opens a credential envelope. The context comes from the caller's credentials row, not from
 * the envelope, so an envelope copied onto another row (or another version) does not open.
 */
export function openCredential(
  kms: KmsProvider,
  envelope: Envelope | string,
  ref: CredentialRef,
): Promise<Buffer> {
  return openEnvelope(kms, envelope, credentialContext(ref));
}

/** Seals bytes: fresh 256-bit data key from the KMS, AES-256-GCM, AAD = canonical JSON of the context. */
export async function sealEnvelope(
  kms: KmsProvider,
  plaintext: Buffer,
  context: EncryptionContext,
): Promise<Envelope> {
  const ctx = pickContext(context);
  const dataKey = await kms.generateDataKey(ctx);
  try {
    const parts = encryptGcm(dataKey.plaintextKey, plaintext, contextAad(ctx));
    return {
      v: 1,
      kms: kms.name,
      keyId: dataKey.keyId,
      wrappedKey: dataKey.wrappedKey,
      iv: parts.iv.toString('base64'),
      ciphertext: parts.ciphertext.toString('base64'),
      tag: parts.tag.toString('base64'),
      context: ctx,
    };
  } finally {
    dataKey.plaintextKey.fill(0);
  }
}

/**
 * Opens an envelope with the context the caller expects; GH_CRYPTO_FAILED when the stored
 * context differs, the wrapped key does not unwrap under it, or GCM authentication fails.
 */
export async function openEnvelope(
  kms: KmsProvider,
  envelope: Envelope | string,
  expected: EncryptionContext,
): Promise<Buffer> {
  const env = parseEnvelope(envelope);
  assertProvider(kms, env);
  if (!isSameContext(env.context, expected)) {
    throw new GatehouseError('GH_CRYPTO_FAILED', {
      detail: `envelope context differs from the expected one in ${differingFields(env.context, expected).join(', ')}`,
    });
  }
  const parts = decodeParts(env);
  // Unwrap and authenticate with the expected context: the stored copy is only informative.
  const dataKey = await kms.decryptDataKey(env.wrappedKey, env.keyId, pickContext(expected));
  try {
    return decryptGcm(dataKey, parts, contextAad(expected), 'envelope');
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Re-wraps an envelope's data key under the KMS's active key (for `kms rotate`); iv,
 * ciphertext and tag are unchanged. Uses the stored context, which is safe: the wrapped key
 * only unwraps under the context it was made with. A provider without `rewrap` gets a full
 * reseal (new data key and ciphertext) instead.
 */
export async function rewrapEnvelope(
  kms: KmsProvider,
  envelope: Envelope | string,
): Promise<Envelope> {
  const env = parseEnvelope(envelope);
  assertProvider(kms, env);
  if (kms.rewrap === undefined) {
    const plaintext = await openEnvelope(kms, env, env.context);
    try {
      return await sealEnvelope(kms, plaintext, env.context);
    } finally {
      plaintext.fill(0);
    }
  }
  const wrapped = await kms.rewrap(env.wrappedKey, env.keyId, env.context);
  return { ...env, keyId: wrapped.keyId, wrappedKey: wrapped.wrappedKey };
}

/** The envelope as stored in the database (JSON text, fields in DESIGN.md order). */
export function serializeEnvelope(envelope: Envelope): string {
  const { v, kms, keyId, wrappedKey, iv, ciphertext, tag, context } = envelope;
  return JSON.stringify({
    v,
    kms,
    keyId,
    wrappedKey,
    iv,
    ciphertext,
    tag,
    context: pickContext(context),
  });
}

const ENVELOPE_FIELDS = 'ciphertext,context,iv,keyId,kms,tag,v,wrappedKey';

/** Checks an envelope (object or JSON text) field by field; GH_CRYPTO_FAILED when malformed. */
export function parseEnvelope(value: unknown): Envelope {
  let raw = value;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch (err) {
      throw malformed('not JSON', err);
    }
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw malformed('not an object');
  const record = raw as Record<string, unknown>;
  const fields = Object.keys(record).sort().join(',');
  if (fields !== ENVELOPE_FIELDS) throw malformed(`unexpected fields ${fields}`);
  const { v, kms, keyId, wrappedKey, iv, ciphertext, tag, context } = record;
  if (v !== 1) throw malformed(`unsupported version ${String(v)}`);
  if (kms !== 'local' && kms !== 'aws') throw malformed('unknown kms');
  if (typeof keyId !== 'string' || keyId === '') throw malformed('keyId missing');
  if (
    typeof wrappedKey !== 'string' ||
    typeof iv !== 'string' ||
    typeof ciphertext !== 'string' ||
    typeof tag !== 'string'
  ) {
    throw malformed('binary fields must be base64 strings');
  }
  return {
    v,
    kms,
    keyId,
    wrappedKey,
    iv,
    ciphertext,
    tag,
    context: parseEncryptionContext(context),
  };
}

function decodeParts(env: Envelope): GcmParts {
  return {
    iv: decodeBase64(env.iv, 'envelope iv'),
    ciphertext: decodeBase64(env.ciphertext, 'envelope ciphertext'),
    tag: decodeBase64(env.tag, 'envelope tag'),
  };
}

function assertProvider(kms: KmsProvider, env: Envelope): void {
  if (env.kms === kms.name) return;
  throw new GatehouseError('GH_KMS_UNAVAILABLE', {
    message: 'the secret was sealed by another KMS provider',
    hint: `configure the "${env.kms}" kms provider to open it`,
    detail: `envelope kms ${env.kms}, configured ${kms.name}`,
  });
}

function differingFields(a: EncryptionContext, b: EncryptionContext): string[] {
  return (['purpose', 'credentialId', 'targetId', 'version'] as const).filter(
    (field) => a[field] !== b[field],
  );
}

function malformed(why: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_CRYPTO_FAILED', {
    detail: `malformed envelope: ${why}`,
    ...(cause === undefined ? {} : { cause }),
  });
}
