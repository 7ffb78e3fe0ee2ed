import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openScratchStore, STORE_DRIVERS } from '../../test/support/stores.js';
import type { PublicKeyProof } from './authenticate.js';
import { parsePublickeySignedData } from './ssh-userauth.js';
import { denied } from './testing/denied.js';
import { makeIdentityFixture, type IdentityFixture } from './testing/identity-fixture.js';
import {
  buildPublickeySignedData,
  generateTestSshKey,
  type TestSshKey,
} from './testing/ssh-signing.js';

const by = { actor: 'root' };
const CTX = { clientAddr: '198.51.100.4', method: 'ssh-publickey' };

/** What ssh2's server hands the front end for a signed publickey request. */
function signedProof(
  key: TestSshKey,
  options: {
    readonly userName?: string;
    readonly sessionId?: Buffer;
    readonly rsaHash?: 'sha256' | 'sha512';
  } = {},
): PublicKeyProof {
  const hashAlgo = key.algo === 'ssh-rsa' ? (options.rsaHash ?? 'sha256') : undefined;
  const keyAlgo = hashAlgo === undefined ? key.algo : `rsa-sha2-${hashAlgo.slice(3)}`;
  const signedData = buildPublickeySignedData({
    sessionId: options.sessionId ?? randomBytes(32),
    userName: options.userName ?? 'alice',
    keyAlgo,
    keyBlob: key.blob,
  });
  return {
    algo: key.algo,
    blob: key.blob,
    signedData,
    signature: key.sign(signedData, hashAlgo),
    hashAlgo,
  };
}

describe('publickey signed data', () => {
  it('parses-the-rfc4252-publickey-request-and-rejects-others', () => {
    const key = generateTestSshKey('ed25519');
    const sessionId = randomBytes(32);
    const data = buildPublickeySignedData({
      sessionId,
      userName: 'alice+web-1',
      keyAlgo: key.algo,
      keyBlob: key.blob,
    });
    expect(parsePublickeySignedData(data)).toEqual({
      sessionId,
      userName: 'alice+web-1',
      service: 'ssh-connection',
      keyAlgo: key.algo,
      keyBlob: key.blob,
    });
    expect(parsePublickeySignedData(data.subarray(0, data.length - 1))).toBeUndefined();
    expect(parsePublickeySignedData(Buffer.concat([data, Buffer.from([0])]))).toBeUndefined();
    expect(parsePublickeySignedData(Buffer.alloc(0))).toBeUndefined();
  });
});

describe.each(STORE_DRIVERS)('publickey authentication on %s', (driver) => {
  async function fixture(...keys: TestSshKey[]): Promise<IdentityFixture> {
    const fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('alice', { ...by, sshKeys: keys.map((k) => k.publicLine) });
    await fx.users.add('bob', by);
    return fx;
  }

  it('signed-publickey-proof-authenticates-for-each-key-type', async () => {
    const keys = [
      generateTestSshKey('ed25519'),
      generateTestSshKey('ecdsa', { ecdsaBits: 384 }),
      generateTestSshKey('rsa'),
    ];
    await using fx = await fixture(...keys);
    for (const key of keys)
      expect((await fx.auth.verifyPublicKey('alice', signedProof(key), CTX)).name).toBe('alice');
    const rsa = keys[2];
    if (rsa !== undefined)
      await fx.auth.verifyPublicKey('alice', signedProof(rsa, { rsaHash: 'sha512' }), CTX);
    const successes = fx.audit.ofType('auth.success');
    expect(successes).toHaveLength(4);
    expect(successes[0]?.data).toMatchObject({
      method: 'ssh-publickey',
      fingerprint: expect.stringMatching(/^SHA256:/) as unknown,
    });
  });

  it('stored-key-line-form-and-login-name-with-target-are-accepted', async () => {
    const key = generateTestSshKey('ed25519');
    await using fx = await fixture(key);
    const proof = signedProof(key, { userName: 'alice+web-1' });
    const byLine: PublicKeyProof = {
      keyLine: key.publicLine,
      signedData: proof.signedData,
      signature: proof.signature,
    };
    expect((await fx.auth.verifyPublicKey('alice', byLine, CTX)).name).toBe('alice');
    await fx.auth.verifyPublicKey('alice', signedProof(key, { userName: 'alice:db-1' }), CTX);
  });

  it('unsigned-publickey-offer-never-authenticates', async () => {
    const key = generateTestSshKey('ed25519');
    await using fx = await fixture(key);
    const proof = signedProof(key);
    await denied(fx.auth.verifyPublicKey('alice', { ...proof, signature: undefined }, CTX));
    await denied(fx.auth.verifyPublicKey('alice', { ...proof, signature: Buffer.alloc(0) }, CTX));
    expect(fx.audit.ofType('auth.failure').map((e) => e.data['detail'])).toEqual([
      'no-signature',
      'no-signature',
    ]);
    expect(await fx.auth.isPublicKeyAcceptable('alice', key)).toBe(true);
    expect(fx.audit.ofType('auth.success')).toHaveLength(0);
  });

  it('bad-signature-is-denied-and-counted', async () => {
    const key = generateTestSshKey('ecdsa');
    await using fx = await fixture(key);
    const proof = signedProof(key);
    const forged = Buffer.from(proof.signature ?? Buffer.alloc(0));
    forged[forged.length - 1] = (forged.at(-1) ?? 0) ^ 1;
    await denied(fx.auth.verifyPublicKey('alice', { ...proof, signature: forged }, CTX));
    expect(fx.audit.last()).toMatchObject({
      type: 'auth.failure',
      user: 'alice',
      clientAddr: '198.51.100.4',
      data: {
        method: 'ssh-publickey',
        reason: 'bad-signature',
        detail: 'invalid-signature',
        failures: 1,
      },
    });
  });

  it('key-not-registered-to-the-user-is-refused', async () => {
    const aliceKey = generateTestSshKey('ed25519');
    const stranger = generateTestSshKey('ed25519');
    await using fx = await fixture(aliceKey);
    await denied(fx.auth.verifyPublicKey('alice', signedProof(stranger), CTX));
    expect(fx.audit.last().data).toMatchObject({
      reason: 'bad-signature',
      detail: 'key-not-registered',
    });
    await denied(fx.auth.verifyPublicKey('bob', signedProof(aliceKey, { userName: 'bob' }), CTX));
    expect(await fx.auth.isPublicKeyAcceptable('alice', stranger)).toBe(false);
    expect(await fx.auth.isPublicKeyAcceptable('bob', aliceKey)).toBe(false);
    expect(await fx.auth.isPublicKeyAcceptable('nobody', aliceKey)).toBe(false);
  });

  it('signature-made-for-another-login-name-is-refused', async () => {
    const key = generateTestSshKey('ed25519');
    await using fx = await fixture(key);
    await denied(fx.auth.verifyPublicKey('alice', signedProof(key, { userName: 'alicex' }), CTX));
    expect(fx.audit.last().data).toMatchObject({ detail: 'signed-user-mismatch' });
  });

  it('rsa-hash-must-match-the-signed-algorithm', async () => {
    const key = generateTestSshKey('rsa');
    await using fx = await fixture(key);
    const proof = signedProof(key, { rsaHash: 'sha256' });
    await denied(fx.auth.verifyPublicKey('alice', { ...proof, hashAlgo: 'sha512' }, CTX));
    await denied(fx.auth.verifyPublicKey('alice', { ...proof, hashAlgo: undefined }, CTX));
    expect(fx.audit.ofType('auth.failure').map((e) => e.data['detail'])).toEqual([
      'algorithm-mismatch',
      'algorithm-mismatch',
    ]);
  });

  it('unknown-or-disabled-user-is-refused', async () => {
    const key = generateTestSshKey('ed25519');
    await using fx = await fixture(key);
    await denied(fx.auth.verifyPublicKey('nobody', signedProof(key, { userName: 'nobody' }), CTX));
    await fx.users.disable('alice', by);
    await denied(fx.auth.verifyPublicKey('alice', signedProof(key), CTX));
    expect(fx.audit.ofType('auth.failure').map((e) => e.data['reason'])).toEqual([
      'unknown-user',
      'disabled',
    ]);
    expect(await fx.auth.isPublicKeyAcceptable('alice', key)).toBe(false);
  });
});
