import { describe, expect, it } from 'vitest';
import { openScratchStore, STORE_DRIVERS } from '../../test/support/stores.js';
import { isGatehouseError } from '../core/errors.js';
import { parseScramVerifier } from './scram.js';
import { generateTestSshKey } from './testing/ssh-signing.js';
import { makeIdentityFixture } from './testing/identity-fixture.js';
import { base32Decode } from './totp.js';
import { totpSealContext } from './totp-state.js';

const by = { actor: 'root' };

async function rejection(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe.each(STORE_DRIVERS)('users on %s', (driver) => {
  it('add-user-with-password-and-key-is-audited-without-secrets', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    const key = generateTestSshKey('ed25519', { comment: 'alice@laptop' });
    const user = await fx.users.add('alice', {
      ...by,
      password: 'hunter2-long',
      sshKeys: [key.publicLine],
    });
    expect(user).toMatchObject({
      name: 'alice',
      roles: ['user'],
      isDisabled: false,
      hasTotp: false,
    });
    expect(user.id).toMatch(/^usr_/);
    expect(await fx.users.get('alice')).toEqual(user);
    const row = await fx.store.db
      .selectFrom('users')
      .selectAll()
      .where('name', '=', 'alice')
      .executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^scrypt\$/);
    expect(parseScramVerifier(row.scram_verifier ?? '')).toBeDefined();
    const [event] = fx.audit.ofType('admin.user.add');
    expect(event?.user).toBe('alice');
    expect(event?.data).toMatchObject({ by: 'root', roles: ['user'], hasPassword: true });
    const keys = await fx.users.listKeys('alice');
    expect(event?.data['keys']).toEqual([keys[0]?.fingerprint]);
    expect(JSON.stringify(fx.audit.events)).not.toContain('hunter2');
  });

  it('invalid-user-names-are-refused', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    for (const name of ['', 'Alice', '1abc', '-x', 'a b', 'a+b', 'a:b', 'a#b', 'a'.repeat(33)]) {
      expect(isGatehouseError(await rejection(fx.users.add(name, by)), 'GH_INVALID_ARGUMENT')).toBe(
        true,
      );
    }
    for (const name of ['a', '_svc', 'j.doe-2', 'a'.repeat(32)]) await fx.users.add(name, by);
    expect(fx.audit.ofType('admin.user.add')).toHaveLength(4);
  });

  it('unknown-role-or-duplicate-user-is-refused-before-auditing', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    expect(
      isGatehouseError(
        await rejection(fx.users.add('bob', { ...by, roles: ['wizard'] })),
        'GH_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    await fx.users.add('bob', by);
    expect(isGatehouseError(await rejection(fx.users.add('bob', by)), 'GH_ALREADY_EXISTS')).toBe(
      true,
    );
    expect(fx.audit.ofType('admin.user.add')).toHaveLength(1);
  });

  it('failed-audit-write-leaves-nothing-changed', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    fx.audit.isFailing = true;
    await expect(fx.users.add('carol', by)).rejects.toThrow('audit store down');
    expect(await fx.users.find('carol')).toBeUndefined();
  });

  it('set-password-replaces-hash-and-scram-verifier', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('dave', { ...by, password: 'first-password' });
    const before = await fx.store.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    await fx.users.setPassword('dave', 'second-password', { actor: 'admin1' });
    const after = await fx.store.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(after.password_hash).not.toBe(before.password_hash);
    expect(after.scram_verifier).not.toBe(before.scram_verifier);
    expect(fx.audit.last()).toMatchObject({
      type: 'admin.user.passwd',
      user: 'dave',
      data: { by: 'admin1' },
    });
    expect(JSON.stringify(fx.audit.events)).not.toContain('password"');
    expect(
      isGatehouseError(
        await rejection(fx.users.setPassword('dave', '', by)),
        'GH_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    const tokenLike = `ght_${'a'.repeat(43)}`;
    expect(
      isGatehouseError(
        await rejection(fx.users.setPassword('dave', tokenLike, by)),
        'GH_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isGatehouseError(await rejection(fx.users.setPassword('nobody', 'x', by)), 'GH_NOT_FOUND'),
    ).toBe(true);
  });

  it('ssh-keys-are-added-listed-and-removed', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('erin', by);
    const ed = generateTestSshKey('ed25519', { comment: 'erin@a' });
    const ec = generateTestSshKey('ecdsa');
    const added = await fx.users.addKey('erin', ed.publicLine, by);
    await fx.users.addKey('erin', ec.publicLine, by);
    expect(added).toMatchObject({
      algo: 'ssh-ed25519',
      comment: 'erin@a',
      publicKey: ed.publicLine,
    });
    expect((await fx.users.listKeys('erin')).map((k) => k.algo).sort()).toEqual([
      'ecdsa-sha2-nistp256',
      'ssh-ed25519',
    ]);
    expect(
      isGatehouseError(
        await rejection(fx.users.addKey('erin', ed.publicLine, by)),
        'GH_ALREADY_EXISTS',
      ),
    ).toBe(true);
    await fx.users.removeKey('erin', added.fingerprint, by);
    expect((await fx.users.listKeys('erin')).map((k) => k.algo)).toEqual(['ecdsa-sha2-nistp256']);
    expect(
      isGatehouseError(
        await rejection(fx.users.removeKey('erin', added.fingerprint, by)),
        'GH_NOT_FOUND',
      ),
    ).toBe(true);
    expect(fx.audit.ofType('admin.user.key.add').map((e) => e.data['fingerprint'])).toHaveLength(2);
    expect(fx.audit.ofType('admin.user.key.remove')[0]?.data).toMatchObject({
      by: 'root',
      fingerprint: added.fingerprint,
    });
  });

  it('totp-enrolment-seals-the-secret-and-returns-otpauth-uri', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('frank', by);
    const uri = await fx.users.enrollTotp('frank', by);
    const match =
      /^otpauth:\/\/totp\/Gatehouse:frank\?secret=([A-Z2-7]{32})&issuer=Gatehouse$/.exec(uri);
    expect(match).not.toBeNull();
    const secretB32 = match?.[1] ?? '';
    const row = await fx.store.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(row.totp_enabled).toBe(1);
    expect(row.totp_secret).not.toContain(secretB32);
    const opened = await fx.deps.openSecret(row.totp_secret ?? '', totpSealContext(row.id));
    expect(opened).toEqual(base32Decode(secretB32));
    await expect(
      fx.deps.openSecret(row.totp_secret ?? '', totpSealContext('usr_other')),
    ).rejects.toThrow();
    expect((await fx.users.get('frank')).hasTotp).toBe(true);
    expect(fx.audit.last()).toMatchObject({
      type: 'admin.user.totp',
      data: { by: 'root', enabled: true },
    });
    expect(JSON.stringify(fx.audit.events)).not.toContain(secretB32);
    await fx.users.disableTotp('frank', by);
    expect((await fx.users.get('frank')).hasTotp).toBe(false);
  });

  it('disable-enable-and-roles-are-audited-with-the-actor', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('gina', by);
    await fx.users.disable('gina', { actor: 'boss' });
    expect((await fx.users.get('gina')).isDisabled).toBe(true);
    await fx.users.enable('gina', { actor: 'boss' });
    expect((await fx.users.get('gina')).isDisabled).toBe(false);
    await fx.users.addRole('ops', { actor: 'boss', description: 'on-call engineers' });
    expect(
      isGatehouseError(
        await rejection(fx.users.addRole('ops', { actor: 'boss', description: 'x' })),
        'GH_ALREADY_EXISTS',
      ),
    ).toBe(true);
    expect(
      isGatehouseError(
        await rejection(fx.users.addRole('Bad Role', { actor: 'boss', description: 'x' })),
        'GH_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    await fx.users.setRoles('gina', ['user', 'ops', 'ops'], { actor: 'boss' });
    expect((await fx.users.get('gina')).roles).toEqual(['ops', 'user']);
    expect(
      isGatehouseError(
        await rejection(fx.users.setRoles('gina', ['nope'], by)),
        'GH_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(fx.audit.events.map((e) => e.type)).toEqual([
      'admin.user.add',
      'admin.user.disable',
      'admin.user.enable',
      'admin.role.add',
      'admin.user.role',
    ]);
    expect(fx.audit.ofType('admin.user.role')[0]?.data).toEqual({
      by: 'boss',
      roles: ['ops', 'user'],
      previous: ['user'],
    });
    expect(fx.audit.ofType('admin.role.add')[0]?.data).toMatchObject({ by: 'boss', role: 'ops' });
  });

  it('list-returns-every-user-with-roles', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    await fx.users.add('zed', { ...by, roles: ['admin', 'user'] });
    await fx.users.add('amy', { ...by, roles: [] });
    const list = await fx.users.list();
    expect(list.map((u) => [u.name, u.roles])).toEqual([
      ['amy', []],
      ['zed', ['admin', 'user']],
    ]);
    expect(await fx.users.find('nobody')).toBeUndefined();
    expect(isGatehouseError(await rejection(fx.users.get('nobody')), 'GH_NOT_FOUND')).toBe(true);
  });

  it('find-and-get-return-a-user-with-every-role-sorted-or-with-none', async () => {
    await using fx = makeIdentityFixture(await openScratchStore(driver));
    const zed = await fx.users.add('zed', { ...by, roles: ['user', 'admin', 'auditor'] });
    const amy = await fx.users.add('amy', { ...by, roles: [] });
    await fx.users.disable('amy', by);
    expect(await fx.users.get('zed')).toEqual({ ...zed, roles: ['admin', 'auditor', 'user'] });
    expect(await fx.users.find('amy')).toEqual({ ...amy, isDisabled: true, roles: [] });
  });
});
