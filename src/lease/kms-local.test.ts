import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gatehouseRejection } from '../../test/support/errors.js';
import { openCredential, rewrapEnvelope, sealCredential, type CredentialRef } from './envelope.js';
import { createLocalKeyFile, openLocalKms, rotateLocalKey } from './kms-local.js';
import { openKms } from './kms-open.js';

const SECRET = Buffer.from('s3cret-password');
const ROW: CredentialRef = { credentialId: 'cred_a', targetId: 'tgt_db', version: 3 };

let dir: string;
let keyFile: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gh-kms-local-'));
  keyFile = join(dir, 'keys', 'master-key.json');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function readKeyFile(): { v: number; activeKeyId: string; keys: Record<string, string> } {
  return JSON.parse(readFileSync(keyFile, 'utf8')) as {
    v: number;
    activeKeyId: string;
    keys: Record<string, string>;
  };
}

describe('local kms', () => {
  it('key-file-is-created-owner-only-and-never-overwritten', () => {
    const keyId = createLocalKeyFile(keyFile);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const file = readKeyFile();
    expect(file.v).toBe(1);
    expect(file.activeKeyId).toBe(keyId);
    expect(Buffer.from(file.keys[keyId] ?? '', 'base64')).toHaveLength(32);
    expect(() => createLocalKeyFile(keyFile)).toThrow(
      expect.objectContaining({ code: 'GH_ALREADY_EXISTS' }),
    );
    expect(readKeyFile().activeKeyId).toBe(keyId);
  });

  it('opens-through-the-config-factory', async () => {
    createLocalKeyFile(keyFile);
    const kms = await openKms({ provider: 'local', keyFile });
    expect(kms.name).toBe('local');
    expect(await openCredential(kms, await sealCredential(kms, SECRET, ROW), ROW)).toEqual(SECRET);
  });

  it('rotating-a-missing-key-file-is-reported-as-unavailable', () => {
    expect(() => rotateLocalKey(keyFile)).toThrow(
      expect.objectContaining({ code: 'GH_KMS_UNAVAILABLE' }),
    );
  });

  it('rotation-keeps-old-envelopes-readable-and-rewrap-moves-them-to-the-new-key-id', async () => {
    const firstKeyId = createLocalKeyFile(keyFile);
    const kms = await openLocalKms(keyFile);
    const old = await sealCredential(kms, SECRET, ROW);
    expect(old.keyId).toBe(firstKeyId);

    const secondKeyId = rotateLocalKey(keyFile);
    expect(secondKeyId).not.toBe(firstKeyId);
    expect(Object.keys(readKeyFile().keys).sort()).toEqual([firstKeyId, secondKeyId].sort());
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    // The running provider notices the rotation without a restart.
    expect(await openCredential(kms, old, ROW)).toEqual(SECRET);
    expect((await sealCredential(kms, SECRET, ROW)).keyId).toBe(secondKeyId);

    const moved = await rewrapEnvelope(kms, old);
    expect(moved.keyId).toBe(secondKeyId);
    expect(moved.wrappedKey).not.toBe(old.wrappedKey);
    expect({
      iv: moved.iv,
      ciphertext: moved.ciphertext,
      tag: moved.tag,
      context: moved.context,
    }).toEqual({
      iv: old.iv,
      ciphertext: old.ciphertext,
      tag: old.tag,
      context: old.context,
    });
    expect(await openCredential(kms, moved, ROW)).toEqual(SECRET);
    // A fresh process sees the same.
    expect(await openCredential(await openLocalKms(keyFile), moved, ROW)).toEqual(SECRET);
  });

  it('rewrap-refuses-an-envelope-whose-stored-context-was-rewritten', async () => {
    createLocalKeyFile(keyFile);
    const kms = await openLocalKms(keyFile);
    const envelope = await sealCredential(kms, SECRET, ROW);
    rotateLocalKey(keyFile);
    const forged = { ...envelope, context: { ...envelope.context, targetId: 'tgt_other' } };
    expect((await gatehouseRejection(rewrapEnvelope(kms, forged))).code).toBe('GH_CRYPTO_FAILED');
  });

  it('a-world-readable-key-file-is-refused', async () => {
    createLocalKeyFile(keyFile);
    chmodSync(keyFile, 0o644);
    const err = await gatehouseRejection(openLocalKms(keyFile));
    expect(err.code).toBe('GH_KMS_UNAVAILABLE');
    expect(err.message).toBe('the master key file is accessible by other users');
    expect(err.hint).toContain('chmod 600');
    expect(() => rotateLocalKey(keyFile)).toThrow(
      expect.objectContaining({ code: 'GH_KMS_UNAVAILABLE' }),
    );
  });

  it('a-group-readable-key-file-is-refused', async () => {
    createLocalKeyFile(keyFile);
    chmodSync(keyFile, 0o640);
    expect((await gatehouseRejection(openLocalKms(keyFile))).code).toBe('GH_KMS_UNAVAILABLE');
  });

  it('a-key-file-opened-to-others-after-startup-is-refused', async () => {
    createLocalKeyFile(keyFile);
    const kms = await openLocalKms(keyFile);
    chmodSync(keyFile, 0o604);
    const err = await gatehouseRejection(sealCredential(kms, SECRET, ROW));
    expect(err.message).toBe('the master key file is accessible by other users');
  });

  it('an-envelope-under-a-key-id-the-file-lacks-is-reported-as-unavailable', async () => {
    createLocalKeyFile(keyFile);
    const kms = await openLocalKms(keyFile);
    const envelope = await sealCredential(kms, SECRET, ROW);
    const err = await gatehouseRejection(
      openCredential(kms, { ...envelope, keyId: 'mk_missing' }, ROW),
    );
    expect(err.code).toBe('GH_KMS_UNAVAILABLE');
  });

  it('a-malformed-key-file-is-refused', async () => {
    const bad = [
      'not json',
      JSON.stringify({ v: 2, activeKeyId: 'a', keys: { a: Buffer.alloc(32).toString('base64') } }),
      JSON.stringify({ v: 1, activeKeyId: 'b', keys: { a: Buffer.alloc(32).toString('base64') } }),
      JSON.stringify({ v: 1, activeKeyId: 'a', keys: { a: Buffer.alloc(16).toString('base64') } }),
    ];
    for (const text of bad) {
      rmSync(keyFile, { force: true });
      createLocalKeyFile(keyFile);
      writeFileSync(keyFile, text);
      const err = await gatehouseRejection(openLocalKms(keyFile));
      expect(err.code).toBe('GH_KMS_UNAVAILABLE');
      expect(err.message).toBe('the master key file is not valid');
    }
  });

  it('a-missing-key-file-is-reported-as-unavailable', async () => {
    expect((await gatehouseRejection(openLocalKms(keyFile))).code).toBe('GH_KMS_UNAVAILABLE');
  });

  it('a-concurrent-rotation-is-refused-and-the-lock-is-released-after', () => {
    createLocalKeyFile(keyFile);
    writeFileSync(`${keyFile}.lock`, '');
    expect(() => rotateLocalKey(keyFile)).toThrow(
      expect.objectContaining({ code: 'GH_ALREADY_EXISTS' }),
    );
    rmSync(`${keyFile}.lock`);
    rotateLocalKey(keyFile);
    expect(existsSync(`${keyFile}.lock`)).toBe(false);
    expect(Object.keys(readKeyFile().keys)).toHaveLength(2);
  });
});
