import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gatehouseRejection } from '../../test/support/errors.js';
import { GatehouseError } from '../core/errors.js';
import {
  credentialContext,
  openCredential,
  openEnvelope,
  parseEnvelope,
  rewrapEnvelope,
  sealCredential,
  serializeEnvelope,
  type CredentialRef,
  type Envelope,
} from './envelope.js';
import { createLocalKeyFile, openLocalKms } from './kms-local.js';
import type { KmsProvider } from './kms.js';

const SECRET = Buffer.from('correct horse battery staple');
const ROW: CredentialRef = { credentialId: 'cred_a', targetId: 'tgt_db', version: 1 };
const OTHER_ROW: CredentialRef = { credentialId: 'cred_b', targetId: 'tgt_db', version: 1 };

let dir: string;
let kms: KmsProvider;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gh-envelope-'));
  const keyFile = join(dir, 'master-key.json');
  createLocalKeyFile(keyFile);
  kms = await openLocalKms(keyFile);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('credential envelope', () => {
  it('credential-round-trips-and-has-the-design-shape', async () => {
    const envelope = await sealCredential(kms, SECRET, ROW);
    expect(Object.keys(envelope).sort()).toEqual([
      'ciphertext',
      'context',
      'iv',
      'keyId',
      'kms',
      'tag',
      'v',
      'wrappedKey',
    ]);
    expect(envelope.context).toEqual({
      purpose: 'gatehouse-credential',
      credentialId: 'cred_a',
      targetId: 'tgt_db',
      version: '1',
    });
    expect(envelope.kms).toBe('local');
    expect(await openCredential(kms, envelope, ROW)).toEqual(SECRET);
    expect(await openCredential(kms, serializeEnvelope(envelope), ROW)).toEqual(SECRET);
  });

  it('each-seal-uses-a-fresh-data-key', async () => {
    const a = await sealCredential(kms, SECRET, ROW);
    const b = await sealCredential(kms, SECRET, ROW);
    expect(a.wrappedKey).not.toBe(b.wrappedKey);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it('decryption-with-another-context-fails', async () => {
    const envelope = await sealCredential(kms, SECRET, ROW);
    for (const other of [OTHER_ROW, { ...ROW, targetId: 'tgt_other' }, { ...ROW, version: 2 }]) {
      const err = await gatehouseRejection(openCredential(kms, envelope, other));
      expect(err.code).toBe('GH_CRYPTO_FAILED');
    }
    const err = await gatehouseRejection(
      openEnvelope(kms, envelope, { ...credentialContext(ROW), purpose: 'gatehouse-secret' }),
    );
    expect(err.code).toBe('GH_CRYPTO_FAILED');
  });

  it('envelope-copied-to-another-row-with-its-context-rewritten-fails', async () => {
    // An attacker with write access to the store copies the envelope onto another row and
    // edits the stored context to match: the wrapped key and the AAD still bind the original.
    const envelope = await sealCredential(kms, SECRET, ROW);
    const forged: Envelope = { ...envelope, context: credentialContext(OTHER_ROW) };
    const err = await gatehouseRejection(openCredential(kms, forged, OTHER_ROW));
    expect(err.code).toBe('GH_CRYPTO_FAILED');
  });

  it('swapping-two-envelopes-ciphertexts-fails', async () => {
    const a = await sealCredential(kms, Buffer.from('secret-a'), ROW);
    const b = await sealCredential(kms, Buffer.from('secret-b'), ROW);
    const swapped: Envelope = { ...a, ciphertext: b.ciphertext };
    expect((await gatehouseRejection(openCredential(kms, swapped, ROW))).code).toBe(
      'GH_CRYPTO_FAILED',
    );
    const swappedAll: Envelope = { ...a, iv: b.iv, ciphertext: b.ciphertext, tag: b.tag };
    expect((await gatehouseRejection(openCredential(kms, swappedAll, ROW))).code).toBe(
      'GH_CRYPTO_FAILED',
    );
  });

  it('a-corrupted-tag-fails', async () => {
    const envelope = await sealCredential(kms, SECRET, ROW);
    const tag = Buffer.from(envelope.tag, 'base64');
    tag[0] = (tag[0] ?? 0) ^ 0x01;
    const corrupted: Envelope = { ...envelope, tag: tag.toString('base64') };
    expect((await gatehouseRejection(openCredential(kms, corrupted, ROW))).code).toBe(
      'GH_CRYPTO_FAILED',
    );
  });

  it('a-truncated-tag-fails', async () => {
    const envelope = await sealCredential(kms, SECRET, ROW);
    const truncated: Envelope = {
      ...envelope,
      tag: Buffer.from(envelope.tag, 'base64').subarray(0, 4).toString('base64'),
    };
    expect((await gatehouseRejection(openCredential(kms, truncated, ROW))).code).toBe(
      'GH_CRYPTO_FAILED',
    );
  });

  it('a-flipped-ciphertext-bit-fails', async () => {
    const envelope = await sealCredential(kms, SECRET, ROW);
    const ct = Buffer.from(envelope.ciphertext, 'base64');
    ct[3] = (ct[3] ?? 0) ^ 0x80;
    expect(
      (
        await gatehouseRejection(
          openCredential(kms, { ...envelope, ciphertext: ct.toString('base64') }, ROW),
        )
      ).code,
    ).toBe('GH_CRYPTO_FAILED');
  });

  it('a-wrapped-key-from-another-envelope-fails', async () => {
    const a = await sealCredential(kms, SECRET, ROW);
    const sameRow = await sealCredential(kms, SECRET, ROW);
    const otherRow = await sealCredential(kms, SECRET, OTHER_ROW);
    // Same context: the other data key unwraps, but GCM under it does not authenticate.
    expect(
      (await gatehouseRejection(openCredential(kms, { ...a, wrappedKey: sameRow.wrappedKey }, ROW)))
        .code,
    ).toBe('GH_CRYPTO_FAILED');
    // Other context: the wrapped key does not even unwrap.
    expect(
      (
        await gatehouseRejection(
          openCredential(kms, { ...a, wrappedKey: otherRow.wrappedKey }, ROW),
        )
      ).code,
    ).toBe('GH_CRYPTO_FAILED');
  });

  it('failures-say-nothing-secret', async () => {
    const envelope = await sealCredential(kms, SECRET, ROW);
    const err = await gatehouseRejection(
      openCredential(kms, { ...envelope, tag: Buffer.alloc(16).toString('base64') }, ROW),
    );
    expect(err.message).toBe('decryption failed');
    const everything = JSON.stringify({ message: err.message, detail: err.detail, hint: err.hint });
    expect(everything).not.toContain(SECRET.toString());
    expect(everything).not.toContain(envelope.wrappedKey);
    expect(everything).not.toContain(envelope.ciphertext);
  });

  it('data-key-buffers-are-zeroed-after-use', async () => {
    const handed: Buffer[] = [];
    const spy: KmsProvider = {
      name: kms.name,
      async generateDataKey(context) {
        const key = await kms.generateDataKey(context);
        handed.push(key.plaintextKey);
        return key;
      },
      async decryptDataKey(wrappedKey, keyId, context) {
        const key = await kms.decryptDataKey(wrappedKey, keyId, context);
        handed.push(key);
        return key;
      },
    };
    const envelope = await sealCredential(spy, SECRET, ROW);
    expect(await openCredential(spy, envelope, ROW)).toEqual(SECRET);
    await gatehouseRejection(
      openCredential(spy, { ...envelope, tag: Buffer.alloc(16).toString('base64') }, ROW),
    );
    expect(handed).toHaveLength(3);
    for (const key of handed) expect(key.equals(Buffer.alloc(32))).toBe(true);
  });

  it('malformed-envelopes-are-refused', async () => {
    const envelope = await sealCredential(kms, SECRET, ROW);
    const bad: unknown[] = [
      'not json',
      { ...envelope, v: 2 },
      { ...envelope, kms: 'gcp' },
      { ...envelope, extra: 1 },
      { ...envelope, iv: 42 },
      { ...envelope, context: { ...envelope.context, extra: 'x' } },
      { ...envelope, iv: 'not base64!' },
    ];
    for (const value of bad) {
      const err = await gatehouseRejection(openCredential(kms, value as Envelope, ROW));
      expect(err.code).toBe('GH_CRYPTO_FAILED');
    }
    expect(() => parseEnvelope({ ...envelope, keyId: '' })).toThrow(GatehouseError);
  });

  it('an-envelope-from-another-provider-is-refused-clearly', async () => {
    const envelope = await sealCredential(kms, SECRET, ROW);
    const err = await gatehouseRejection(openCredential(kms, { ...envelope, kms: 'aws' }, ROW));
    expect(err.code).toBe('GH_KMS_UNAVAILABLE');
  });

  it('rewrap-without-provider-support-reseals-under-a-new-data-key', async () => {
    const plain: KmsProvider = {
      name: kms.name,
      generateDataKey: (context) => kms.generateDataKey(context),
      decryptDataKey: (wrappedKey, keyId, context) =>
        kms.decryptDataKey(wrappedKey, keyId, context),
    };
    const envelope = await sealCredential(plain, SECRET, ROW);
    const resealed = await rewrapEnvelope(plain, envelope);
    expect(resealed.wrappedKey).not.toBe(envelope.wrappedKey);
    expect(await openCredential(plain, resealed, ROW)).toEqual(SECRET);
  });
});
