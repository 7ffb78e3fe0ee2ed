import type { KmsConfig } from '../config/schema.js';
import { openAwsKms } from './kms-aws.js';
import { openLocalKms } from './kms-local.js';
import type { KmsProvider } from './kms.js';

/** Opens the KMS provider the `kms` configuration section names (paths already resolved). */
export async function openKms(config: KmsConfig): Promise<KmsProvider> {
  if (config.provider === 'local') return openLocalKms(config.keyFile);
  return openAwsKms({
    keyId: config.keyId,
    region: config.region,
    endpoint: config.endpoint,
    accessKeyId: config.accessKeyId,
    secretAccessKey: config.secretAccessKey,
  });
}
