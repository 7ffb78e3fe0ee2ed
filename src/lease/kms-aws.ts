import {
  DecryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ReEncryptCommand,
  type KMSClientConfig,
} from '@aws-sdk/client-kms';
import { GatehouseError } from '../core/errors.js';
import { decodeBase64 } from './aes-gcm.js';
import {
  DATA_KEY_BYTES,
  contextToRecord,
  type DataKey,
  type KmsProvider,
  type WrappedDataKey,
} from './kms.js';

/** How to reach AWS KMS; the `aws` kms section of the configuration plus tuning. */
export interface AwsKmsOptions {
  /** Key id, key ARN, alias name or alias ARN of the KMS key that wraps new data keys. */
  readonly keyId: string;
  readonly region: string;
  /** Endpoint override (a VPC endpoint, LocalStack, the test endpoint). */
  readonly endpoint?: string | undefined;
  /** Static credentials; both or neither. Without them the SDK's default chain is used. */
  readonly accessKeyId?: string | undefined;
  readonly secretAccessKey?: string | undefined;
  /** Attempts per call including the first (SDK default 3). */
  readonly maxAttempts?: number;
  /** Connection and request timeout per attempt. */
  readonly timeoutMs?: number;
}

/** Default per-attempt timeout: an unlock waits on this, so fail fast rather than hang. */
export const AWS_KMS_TIMEOUT_MS = 5000;

/**
 * AWS KMS errors that mean "this ciphertext does not open here" (tampered blob, other key,
 * other encryption context). Everything else (network, throttling, disabled or missing key,
 * access denied) means the service cannot do its job: GH_KMS_UNAVAILABLE.
 */
const CRYPTO_ERRORS: ReadonlySet<string> = new Set([
  'InvalidCiphertextException',
  'IncorrectKeyException',
]);

/** Opens the AWS KMS provider with `@aws-sdk/client-kms`. */
export function openAwsKms(options: AwsKmsOptions): KmsProvider {
  const client = new KMSClient(clientConfig(options));

  return {
    name: 'aws',
    async generateDataKey(context): Promise<DataKey> {
      const out = await send('GenerateDataKey', () =>
        client.send(
          new GenerateDataKeyCommand({
            KeyId: options.keyId,
            KeySpec: 'AES_256',
            EncryptionContext: contextToRecord(context),
          }),
        ),
      );
      const plaintext = out.Plaintext;
      try {
        if (
          plaintext?.length !== DATA_KEY_BYTES ||
          out.CiphertextBlob === undefined ||
          out.KeyId === undefined
        ) {
          throw badResponse('GenerateDataKey');
        }
        return {
          plaintextKey: Buffer.from(plaintext),
          wrappedKey: Buffer.from(out.CiphertextBlob).toString('base64'),
          keyId: out.KeyId,
        };
      } finally {
        plaintext?.fill(0);
      }
    },

    async decryptDataKey(wrappedKey, keyId, context): Promise<Buffer> {
      const blob = decodeBase64(wrappedKey, 'wrapped key');
      // KeyId is passed so KMS refuses a blob made under any other key (AWS best practice).
      const out = await send('Decrypt', () =>
        client.send(
          new DecryptCommand({
            CiphertextBlob: blob,
            KeyId: keyId,
            EncryptionContext: contextToRecord(context),
          }),
        ),
      );
      const plaintext = out.Plaintext;
      try {
        if (plaintext?.length !== DATA_KEY_BYTES) throw badResponse('Decrypt');
        return Buffer.from(plaintext);
      } finally {
        plaintext?.fill(0);
      }
    },

    async rewrap(wrappedKey, keyId, context): Promise<WrappedDataKey> {
      const record = contextToRecord(context);
      // ReEncrypt: the data key is unwrapped and wrapped again inside KMS, never sent to us.
      const out = await send('ReEncrypt', () =>
        client.send(
          new ReEncryptCommand({
            CiphertextBlob: decodeBase64(wrappedKey, 'wrapped key'),
            SourceKeyId: keyId,
            SourceEncryptionContext: record,
            DestinationKeyId: options.keyId,
            DestinationEncryptionContext: record,
          }),
        ),
      );
      if (out.CiphertextBlob === undefined || out.KeyId === undefined)
        throw badResponse('ReEncrypt');
      return { wrappedKey: Buffer.from(out.CiphertextBlob).toString('base64'), keyId: out.KeyId };
    },

    close(): void {
      client.destroy();
    },
  };
}

function clientConfig(options: AwsKmsOptions): KMSClientConfig {
  const timeoutMs = options.timeoutMs ?? AWS_KMS_TIMEOUT_MS;
  const config: KMSClientConfig = {
    region: options.region,
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: {
      connectionTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      throwOnRequestTimeout: true,
    },
  };
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  const { accessKeyId, secretAccessKey } = options;
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    config.credentials = { accessKeyId, secretAccessKey };
  } else if (accessKeyId !== undefined || secretAccessKey !== undefined) {
    throw new GatehouseError('GH_CONFIG_INVALID', {
      detail: 'kms.accessKeyId and kms.secretAccessKey must be set together',
      hint: 'set both, or neither to use the default AWS credential chain',
    });
  }
  return config;
}

/** Runs one SDK call and converts whatever it throws at this edge. */
async function send<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toKmsError(err, operation);
  }
}

/** Maps an AWS SDK error to GH_CRYPTO_FAILED or GH_KMS_UNAVAILABLE; detail names the SDK error. */
export function toKmsError(err: unknown, operation: string): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const name = err instanceof Error ? err.name : 'unknown';
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  const message = err instanceof Error ? err.message : String(err);
  const detail = `aws kms ${operation}: ${name}${code === undefined ? '' : ` (${code})`}: ${message}`;
  if (CRYPTO_ERRORS.has(name))
    return new GatehouseError('GH_CRYPTO_FAILED', { detail, cause: err });
  return new GatehouseError('GH_KMS_UNAVAILABLE', { detail, cause: err });
}

function badResponse(operation: string): GatehouseError {
  return new GatehouseError('GH_KMS_UNAVAILABLE', {
    detail: `aws kms ${operation}: unexpected response shape`,
  });
}
