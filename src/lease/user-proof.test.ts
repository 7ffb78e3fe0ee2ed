import { randomBytes, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Authenticator } from '../identity/authenticate.js';
import { makeTestSealer } from '../identity/testing/test-sealer.js';
import { Users } from '../identity/users.js';
import {
  LEASE_STORE_DRIVERS,
  openLeaseWorld,
  withCode,
  type LeaseWorld,
} from '../../test/support/lease-world.js';
import {
  buildUserauthSignedData,
  makeEd25519UserKey,
  signedSshProof,
} from '../../test/support/lease-ssh-proof.js';
import {
  NONCE_PROOF_SKEW_MS,
  ProofChecker,
  newProofNonce,
  type ProofVerifier,
} from './user-proof.js';

const REQUEST = {
  target: 'web-1',
  gatewayId: 'gw_test',
  clientAddr: '192.0.2.7',
  via: 'ssh',
} as const;

function checkerFor(world: LeaseWorld, proofs: ProofVerifier = world.proofs): ProofChecker {
  return new ProofChecker({
    db: world.db,
    audit: world.audit,
    proofs,
    clock: () => world.clock.now,
  });
}

describe.each(LEASE_STORE_DRIVERS)('user proofs on %s', (driver) => {
  it('real-ed25519-userauth-signature-is-accepted-once-and-its-replay-refused', async () => {
    await using world = await openLeaseWorld(driver);
    await world.addUser('alice');
    const key = makeEd25519UserKey();
    world.proofs.keys.set(key.blob.toString('base64'), 'alice');
    const checker = checkerFor(world);
    const proof = signedSshProof(key, { user: 'alice' });

    expect((await checker.verify(proof, REQUEST)).name).toBe('alice');
    await expect(checker.verify(proof, REQUEST)).rejects.toThrow(withCode('GH_PROOF_REPLAYED'));
    expect(world.audit.ofType('auth.failure').at(-1)).toMatchObject({
      user: 'alice',
      gateway: 'gw_test',
      clientAddr: '192.0.2.7',
      data: { method: 'ssh-publickey', reason: 'replayed' },
    });
    // The replay never reached identity: the session id was already spent.
    expect(world.proofs.calls).toEqual(['publickey:alice:ssh-publickey']);
  });

  it('unsigned-or-badly-signed-ssh-proof-is-refused-before-identity-is-asked', async () => {
    await using world = await openLeaseWorld(driver);
    await world.addUser('alice');
    const key = makeEd25519UserKey();
    const other = makeEd25519UserKey();
    world.proofs.keys.set(key.blob.toString('base64'), 'alice');
    const checker = checkerFor(world);
    const good = signedSshProof(key, { user: 'alice' });
    const signedData = Buffer.from(good.signedData, 'base64');
    const otherData = buildUserauthSignedData({
      sessionId: randomBytes(32),
      userName: 'alice',
      keyBlob: key.blob,
    });
    const bad = [
      { ...good, signature: '' },
      { ...good, signature: sign(null, otherData, key.privateKey).toString('base64') },
      { ...good, signature: sign(null, signedData, other.privateKey).toString('base64') },
      { ...good, signature: Buffer.alloc(64).toString('base64') },
      { ...good, signature: 'not base64!' },
    ];
    for (const proof of bad)
      await expect(checker.verify(proof, REQUEST)).rejects.toThrow(withCode('GH_AUTH_FAILED'));
    expect(world.proofs.calls).toEqual([]);
    expect(world.audit.ofType('auth.failure').map((e) => e.data['detail'])).toEqual([
      'no-signature',
      'invalid-signature',
      'invalid-signature',
      'invalid-signature',
      'malformed-base64',
    ]);
    // None of them spent the session id: the real signature still works.
    expect((await checker.verify(good, REQUEST)).name).toBe('alice');
  });

  it('ssh-proof-signed-for-another-user-key-service-or-target-is-refused', async () => {
    await using world = await openLeaseWorld(driver);
    await world.addUser('alice');
    await world.addUser('bob');
    const key = makeEd25519UserKey();
    const other = makeEd25519UserKey();
    world.proofs.keys.set(key.blob.toString('base64'), 'alice');
    world.proofs.keys.set(other.blob.toString('base64'), 'bob');
    const checker = checkerFor(world);

    const cases = [
      signedSshProof(key, { user: 'alice', loginName: 'bob' }),
      signedSshProof(key, { user: 'alice', loginName: 'alice+db-9' }),
      signedSshProof(key, { user: 'alice', service: 'ssh-userauth' }),
      { ...signedSshProof(key, { user: 'alice' }), keyBlob: other.blob.toString('base64') },
      { ...signedSshProof(key, { user: 'alice' }), algo: 'ssh-rsa', hashAlgo: 'sha256' },
      { ...signedSshProof(key, { user: 'alice' }), user: 'bob' },
    ];
    for (const proof of cases)
      await expect(checker.verify(proof, REQUEST)).rejects.toThrow(withCode('GH_AUTH_FAILED'));
    expect(world.proofs.calls).toEqual([]);

    // A login naming this very target is fine (DESIGN.md §7 forms).
    expect(
      (
        await checker.verify(
          signedSshProof(key, { user: 'alice', loginName: 'alice+web-1' }),
          REQUEST,
        )
      ).name,
    ).toBe('alice');
    expect(
      (
        await checker.verify(
          signedSshProof(key, { user: 'alice', loginName: 'alice:web-1' }),
          REQUEST,
        )
      ).name,
    ).toBe('alice');
    // A correctly signed proof for a key identity does not know is refused by identity.
    const unknown = makeEd25519UserKey();
    await expect(
      checker.verify(signedSshProof(unknown, { user: 'alice' }), REQUEST),
    ).rejects.toThrow(withCode('GH_AUTH_FAILED'));
  });

  it('password-proof-nonce-is-single-use-and-must-be-fresh', async () => {
    await using world = await openLeaseWorld(driver);
    await world.addUser('alice', { password: 'correct horse' });
    const checker = checkerFor(world);
    const proof = world.passwordProof('alice');

    // A wrong password does not spend the nonce…
    await expect(checker.verify({ ...proof, password: 'wrong' }, REQUEST)).rejects.toThrow(
      withCode('GH_AUTH_FAILED'),
    );
    expect((await checker.verify(proof, REQUEST)).name).toBe('alice');
    // …a right one does.
    await expect(checker.verify(proof, REQUEST)).rejects.toThrow(withCode('GH_PROOF_REPLAYED'));

    const stale = {
      ...world.passwordProof('alice'),
      ts: world.clock.now - NONCE_PROOF_SKEW_MS - 1,
    };
    await expect(checker.verify(stale, REQUEST)).rejects.toThrow(withCode('GH_AUTH_FAILED'));
    await expect(
      checker.verify({ ...world.passwordProof('alice'), nonce: 'short' }, REQUEST),
    ).rejects.toThrow(withCode('GH_AUTH_FAILED'));
  });

  it('token-proof-must-belong-to-the-named-user', async () => {
    await using world = await openLeaseWorld(driver);
    await world.addUser('alice');
    await world.addUser('bob');
    world.proofs.tokens.set('ght_alice_secret', 'alice');
    const checker = checkerFor(world);
    const proof = {
      kind: 'token' as const,
      token: 'ght_alice_secret',
      nonce: newProofNonce(),
      ts: world.clock.now,
    };
    expect((await checker.verify(proof, REQUEST)).name).toBe('alice');
    await expect(
      checker.verify({ ...proof, nonce: newProofNonce(), user: 'bob' }, REQUEST),
    ).rejects.toThrow(withCode('GH_AUTH_FAILED'));
  });

  it('totp-is-required-for-users-who-enrolled-it', async () => {
    await using world = await openLeaseWorld(driver);
    await world.addUser('alice');
    await world.db
      .updateTable('users')
      .set({ totp_enabled: 1 })
      .where('name', '=', 'alice')
      .execute();
    world.proofs.totpCodes.set('alice', '123456');
    const checker = checkerFor(world);
    await expect(checker.verify(world.passwordProof('alice'), REQUEST)).rejects.toThrow(
      withCode('GH_AUTH_FAILED'),
    );
    await expect(
      checker.verify({ ...world.passwordProof('alice'), totp: '000000' }, REQUEST),
    ).rejects.toThrow(withCode('GH_AUTH_FAILED'));
    expect(
      (await checker.verify({ ...world.passwordProof('alice'), totp: '123456' }, REQUEST)).name,
    ).toBe('alice');
  });

  it('identity-authenticator-is-a-proof-verifier-and-takes-a-real-ssh-proof-once', async () => {
    await using world = await openLeaseWorld(driver);
    const clock = (): number => world.clock.now;
    const identity = {
      db: world.db,
      audit: world.audit,
      clock,
      lockout: { threshold: 5, baseDelayS: 30, maxDelayS: 3600 },
      ...makeTestSealer(),
    };
    const key = makeEd25519UserKey();
    await new Users(identity).add('carol', { actor: 'admin', sshKeys: [key.line] });
    const authenticator: ProofVerifier = new Authenticator(identity);
    const checker = checkerFor(world, authenticator);
    const proof = signedSshProof(key, { user: 'carol' });
    expect((await checker.verify(proof, REQUEST)).name).toBe('carol');
    expect(world.audit.ofType('auth.success').at(-1)).toMatchObject({
      user: 'carol',
      gateway: 'gw_test',
    });
    await expect(checker.verify(proof, REQUEST)).rejects.toThrow(withCode('GH_PROOF_REPLAYED'));
    await expect(checker.verify({ ...proof, signature: '' }, REQUEST)).rejects.toThrow(
      withCode('GH_AUTH_FAILED'),
    );
  });

  it('one-proof-used-twice-at-once-logs-in-once-and-records-one-success', async () => {
    await using world = await openLeaseWorld(driver);
    const identity = {
      db: world.db,
      audit: world.audit,
      clock: (): number => world.clock.now,
      lockout: { threshold: 5, baseDelayS: 30, maxDelayS: 3600 },
      ...makeTestSealer(),
    };
    const key = makeEd25519UserKey();
    await new Users(identity).add('dave', { actor: 'admin', sshKeys: [key.line] });
    const checker = checkerFor(world, new Authenticator(identity));
    const proof = signedSshProof(key, { user: 'dave' });
    // Both pass the early "already used?" look-up; the proof is consumed in the transaction of
    // the login's auth.success, so the second one is undone, not recorded as a success.
    const outcomes = await Promise.allSettled([
      checker.verify(proof, REQUEST),
      checker.verify(proof, REQUEST),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = outcomes.find((o) => o.status === 'rejected');
    expect(refused?.reason).toEqual(withCode('GH_PROOF_REPLAYED'));
    expect(world.audit.ofType('auth.success').filter((e) => e.user === 'dave')).toHaveLength(1);
    expect(world.audit.ofType('auth.failure').at(-1)?.data).toMatchObject({ reason: 'replayed' });
    expect(await world.db.selectFrom('used_proofs').selectAll().execute()).toHaveLength(1);
  });
});
