import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gatehouseRejection } from '../../test/support/errors.js';
import {
  FAKE_AWS_CREDENTIALS,
  startFakeKmsEndpoint,
  type FakeKmsEndpoint,
} from '../../test/support/kms-fake-endpoint.js';
import { openCredential, rewrapEnvelope, sealCredential, type CredentialRef } from './envelope.js';
import { openAwsKms, type AwsKmsOptions } from './kms-aws.js';
import { openKms } from './kms-open.js';
import type { KmsProvider } from './kms.js';

const SECRET = Buffer.from('pg-password-for-leased');
const ROW: CredentialRef = { credentialId: 'cred_a', targetId: 'tgt_pg', version: 1 };

let endpoint: FakeKmsEndpoint;
let keyId: string;
const opened: KmsProvider[] = [];

beforeEach(async () => {
  endpoint = await startFakeKmsEndpoint({ accessKeyId: FAKE_AWS_CREDENTIALS.accessKeyId });
  keyId = endpoint.createKey();
});

afterEach(async () => {
  for (const kms of opened.splice(0)) kms.close?.();
  await endpoint.close();
});

function open(overrides: Partial<AwsKmsOptions> = {}): KmsProvider {
  const kms = openAwsKms({
    keyId,
    region: endpoint.region,
    endpoint: endpoint.url,
    ...FAKE_AWS_CREDENTIALS,
    ...overrides,
  });
  opened.push(kms);
  return kms;
}

describe('aws kms through the real sdk', () => {
  it('credential-round-trips-through-the-sdk-with-signed-requests', async () => {
    const kms = open();
    const envelope = await sealCredential(kms, SECRET, ROW);
    expect(envelope.kms).toBe('aws');
    expect(envelope.keyId).toBe(endpoint.arnOf(keyId));
    expect(await openCredential(kms, envelope, ROW)).toEqual(SECRET);

    expect(endpoint.requests.map((r) => r.operation)).toEqual(['GenerateDataKey', 'Decrypt']);
    expect(endpoint.requests.every((r) => r.hasAuthorization)).toBe(true);
    const [generate, decrypt] = endpoint.requests;
    expect(generate?.body).toMatchObject({
      KeyId: keyId,
      KeySpec: 'AES_256',
      EncryptionContext: {
        purpose: 'gatehouse-credential',
        credentialId: 'cred_a',
        targetId: 'tgt_pg',
        version: '1',
      },
    });
    expect(decrypt?.body).toMatchObject({
      KeyId: endpoint.arnOf(keyId),
      EncryptionContext: envelope.context,
    });
  });

  it('opens-through-the-config-factory', async () => {
    const kms = await openKms({
      provider: 'aws',
      keyId,
      region: endpoint.region,
      endpoint: endpoint.url,
      ...FAKE_AWS_CREDENTIALS,
    });
    opened.push(kms);
    expect(await openCredential(kms, await sealCredential(kms, SECRET, ROW), ROW)).toEqual(SECRET);
  });

  it('a-wrong-context-is-a-crypto-failure', async () => {
    const kms = open();
    const envelope = await sealCredential(kms, SECRET, ROW);
    // Rewrite the stored context too, so the check reaches KMS itself.
    const moved = { ...envelope, context: { ...envelope.context, version: '2' } };
    const err = await gatehouseRejection(openCredential(kms, moved, { ...ROW, version: 2 }));
    expect(err.code).toBe('GH_CRYPTO_FAILED');
    expect(err.detail).toContain('InvalidCiphertextException');
    expect(endpoint.requests.at(-1)?.operation).toBe('Decrypt');
  });

  it('a-wrapped-key-under-another-kms-key-is-a-crypto-failure', async () => {
    const kms = open();
    const envelope = await sealCredential(kms, SECRET, ROW);
    const otherKey = endpoint.createKey();
    const err = await gatehouseRejection(
      openCredential(kms, { ...envelope, keyId: endpoint.arnOf(otherKey) }, ROW),
    );
    expect(err.code).toBe('GH_CRYPTO_FAILED');
    expect(err.detail).toContain('IncorrectKeyException');
  });

  it('endpoint-down-is-kms-unavailable', async () => {
    const url = endpoint.url;
    await endpoint.close();
    const kms = open({ endpoint: url, maxAttempts: 2 });
    const err = await gatehouseRejection(sealCredential(kms, SECRET, ROW));
    expect(err.code).toBe('GH_KMS_UNAVAILABLE');
    expect(err.message).toBe('the key management service is unavailable');
  });

  it('a-hung-endpoint-times-out-as-kms-unavailable', async () => {
    endpoint.setStalled(true);
    const kms = open({ timeoutMs: 200, maxAttempts: 1 });
    const started = Date.now();
    const err = await gatehouseRejection(sealCredential(kms, SECRET, ROW));
    expect(err.code).toBe('GH_KMS_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('an-unknown-key-is-kms-unavailable', async () => {
    const kms = open({ keyId: 'alias/does-not-exist' });
    const err = await gatehouseRejection(sealCredential(kms, SECRET, ROW));
    expect(err.code).toBe('GH_KMS_UNAVAILABLE');
    expect(err.detail).toContain('NotFoundException');
  });

  it('credentials-the-endpoint-does-not-know-are-kms-unavailable', async () => {
    const kms = open({ accessKeyId: 'AKIAOTHER', maxAttempts: 1 });
    const err = await gatehouseRejection(sealCredential(kms, SECRET, ROW));
    expect(err.code).toBe('GH_KMS_UNAVAILABLE');
    expect(err.detail).toContain('UnrecognizedClientException');
  });

  it('rewrap-moves-the-data-key-to-the-key-the-alias-now-names', async () => {
    const first = endpoint.createKey();
    endpoint.setAlias('gatehouse', first);
    const kms = open({ keyId: 'alias/gatehouse' });
    const envelope = await sealCredential(kms, SECRET, ROW);
    expect(envelope.keyId).toBe(endpoint.arnOf(first));

    const second = endpoint.createKey();
    endpoint.setAlias('gatehouse', second);
    const moved = await rewrapEnvelope(kms, envelope);
    expect(endpoint.requests.at(-1)?.operation).toBe('ReEncrypt');
    expect(moved.keyId).toBe(endpoint.arnOf(second));
    expect([moved.iv, moved.ciphertext, moved.tag]).toEqual([
      envelope.iv,
      envelope.ciphertext,
      envelope.tag,
    ]);
    expect(await openCredential(kms, moved, ROW)).toEqual(SECRET);
    expect(await openCredential(kms, envelope, ROW)).toEqual(SECRET);
  });

  it('half-static-credentials-are-a-config-error', () => {
    expect(() => openAwsKms({ keyId, region: 'us-east-1', accessKeyId: 'AKIAONLY' })).toThrow(
      expect.objectContaining({ code: 'GH_CONFIG_INVALID' }),
    );
  });
});

describe('fake kms endpoint', () => {
  it('refuses-an-unsigned-request', async () => {
    const response = await fetch(endpoint.url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': 'TrentService.GenerateDataKey',
      },
      body: JSON.stringify({ KeyId: keyId, KeySpec: 'AES_256' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: 'MissingAuthenticationTokenException' });
  });
});
