import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatehouseError } from '../core/errors.js';
import { createLocalKeyFile, openLocalKms } from './kms-local.js';
import type { KmsProvider } from './kms.js';
import { openSecret, sealSecret } from './secret-box.js';

let dir: string;
let kms: KmsProvider;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gh-secret-box-'));
  createLocalKeyFile(join(dir, 'master-key.json'));
  kms = await openLocalKms(join(dir, 'master-key.json'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('secret box', () => {
  it('a-small-secret-round-trips-as-json-text', async () => {
    const seed = Buffer.from('JBSWY3DPEHPK3PXP');
    const sealed = await sealSecret(kms, seed, 'totp:usr_1');
    expect(typeof sealed).toBe('string');
    expect(sealed).not.toContain(seed.toString());
    expect(JSON.parse(sealed)).toMatchObject({
      v: 1,
      kms: 'local',
      context: { purpose: 'gatehouse-secret' },
    });
    expect(await openSecret(kms, sealed, 'totp:usr_1')).toEqual(seed);
  });

  it('another-label-cannot-open-it', async () => {
    const sealed = await sealSecret(kms, Buffer.from('seed'), 'totp:usr_1');
    await expect(openSecret(kms, sealed, 'totp:usr_2')).rejects.toSatisfy(
      (err: unknown) => err instanceof GatehouseError && err.code === 'GH_CRYPTO_FAILED',
    );
  });
});
