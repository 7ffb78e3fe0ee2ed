import { openEnvelope, sealEnvelope, serializeEnvelope } from './envelope.js';
import type { EncryptionContext, KmsProvider } from './kms.js';

/** The `purpose` of small secrets stored through the KMS (TOTP seeds and the like). */
export const SECRET_PURPOSE = 'gatehouse-secret';

/**
 * The context of a small secret. `contextLabel` should name the owner and the use, e.g.
 * `totp:usr_3f9a…`, so a sealed value copied to another row or column does not open.
 */
export function secretContext(contextLabel: string): EncryptionContext {
  return { purpose: SECRET_PURPOSE, credentialId: contextLabel, targetId: '-', version: '1' };
}

/** Seals a small secret through the KMS; returns the envelope as JSON text for a database column. */
export async function sealSecret(
  kms: KmsProvider,
  plaintext: Buffer,
  contextLabel: string,
): Promise<string> {
  return serializeEnvelope(await sealEnvelope(kms, plaintext, secretContext(contextLabel)));
}

/** Opens what {@link sealSecret} made; GH_CRYPTO_FAILED for another label or a tampered value. */
export function openSecret(
  kms: KmsProvider,
  sealed: string,
  contextLabel: string,
): Promise<Buffer> {
  return openEnvelope(kms, sealed, secretContext(contextLabel));
}
