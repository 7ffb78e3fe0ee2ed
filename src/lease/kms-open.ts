import type { KmsConfig } from '../config/schema.js';
import { openLocalKms } from './kms-local.js';
import type { KmsProvider } from './kms.js';

/** Opens the KMS provider the `kms` configuration section names (paths already resolved). */
export async function openKms(config: KmsConfig): Promise<KmsProvider> {
  if (config.provider === 'local') return openLocalKms(config.keyFile);
  // Loaded only when configured: the AWS SDK is large and slows every CLI start.
  const { openAwsKms } = await import('./kms-aws.js');
  return openAwsKms({
    keyId: config.keyId,
    region: config.region,
    endpoint: config.endpoint,
    accessKeyId: config.accessKeyId,
    secretAccessKey: config.secretAccessKey,
  });
}
