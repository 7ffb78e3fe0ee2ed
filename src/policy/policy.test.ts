import { describe, expect, it } from 'vitest';
import { isGatehouseError } from '../core/errors.js';
import type { User } from '../core/types.js';
import { MemoryAudit } from '../../test/support/memory-audit.js';
import { openScratchStore, STORE_DRIVERS } from '../../test/support/stores.js';
import type { Store } from '../store/index.js';
import { AccessPolicy } from './access.js';
import { Grants, parseGrantScope, parseGrantSubject } from './grants.js';
import { Targets } from './targets.js';

async function seedUser(store: Store, name: string, roles: string[]): Promise<User> {
  const user: User = {
    id: `u_${name}`,
    name,
    roles,
    isDisabled: false,
    hasTotp: false,
    createdAt: 0,
  };
  await store.db
    .insertInto('users')
    .values({
      id: user.id,
      name,
      password_hash: null,
      scram_verifier: null,
      totp_secret: null,
      totp_enabled: 0,
      disabled: 0,
      failed_count: 0,
      locked_until: 0,
      last_failure_at: 0,
      created_at: 0,
    })
    .execute();
  for (const role of roles)
    await store.db.insertInto('user_roles').values({ user_id: user.id, role }).execute();
  return user;
}

function setup(store: Store, clock: { now: number }) {
  const audit = new MemoryAudit();
  const deps = { db: store.db, audit, clock: () => clock.now };
  const targets = new Targets(deps);
  const grants = new Grants(deps);
  const users = new Map<string, User>();
  const policy = new AccessPolicy({
    targets,
    grants,
    audit,
    clock: () => clock.now,
    findUser: (n) => Promise.resolve(users.get(n)),
  });
  return { audit, targets, grants, users, policy };
}

describe.each(STORE_DRIVERS)('policy on %s', (driver) => {
  it('grant-for-a-duration-allows-until-expiry-then-denies-and-audits', async () => {
    await using store = await openScratchStore(driver);
    const clock = { now: 1_800_000_000_000 };
    const { audit, targets, grants, users, policy } = setup(store, clock);
    users.set('alice', await seedUser(store, 'alice', ['user']));
    await targets.add(
      { name: 'web-1', kind: 'ssh', host: '127.0.0.1', port: 22, username: 'deploy' },
      { actor: 'admin' },
    );
    await grants.create(
      {
        subject: parseGrantSubject('alice'),
        scope: parseGrantScope('web-1'),
        durationMs: 3_600_000,
      },
      { actor: 'admin' },
    );

    const ok = await policy.check('alice', 'web-1');
    expect(ok.target.name).toBe('web-1');
    clock.now += 3_600_000;
    await expect(policy.check('alice', 'web-1')).rejects.toSatisfy((e) =>
      isGatehouseError(e, 'GH_ACCESS_DENIED'),
    );
    expect(audit.ofType('access.denied').at(-1)?.data).toMatchObject({ reason: 'grant-expired' });
    expect(audit.ofType('grant.create')).toHaveLength(1);
  });

  it('revoke-takes-effect-at-once-for-the-next-check', async () => {
    await using store = await openScratchStore(driver);
    const clock = { now: 1_800_000_000_000 };
    const { audit, targets, grants, users, policy } = setup(store, clock);
    users.set('bob', await seedUser(store, 'bob', ['user']));
    await targets.add(
      {
        name: 'db-1',
        kind: 'postgres',
        host: '127.0.0.1',
        port: 5432,
        username: 'app',
        database: 'app',
      },
      { actor: 'admin' },
    );
    const g = await grants.create(
      { subject: { kind: 'user', name: 'bob' }, scope: { kind: 'target', name: 'db-1' } },
      { actor: 'admin' },
    );
    await policy.check('bob', 'db-1');
    await grants.revoke(g.id, { actor: 'admin' });
    await expect(policy.check('bob', 'db-1')).rejects.toSatisfy((e) =>
      isGatehouseError(e, 'GH_ACCESS_DENIED'),
    );
    expect(audit.ofType('access.denied').at(-1)?.data).toMatchObject({ reason: 'grant-revoked' });
    expect(audit.ofType('grant.revoke')[0]?.data).toMatchObject({ grantId: g.id, by: 'admin' });
    expect(await grants.list()).toHaveLength(0);
    expect(await grants.list({ includeInactive: true })).toHaveLength(1);
  });

  it('label-and-role-grants-reach-matching-targets-and-list-them', async () => {
    await using store = await openScratchStore(driver);
    const clock = { now: 1_800_000_000_000 };
    const { targets, grants, users, policy } = setup(store, clock);
    const carol = await seedUser(store, 'carol', ['user', 'admin']);
    users.set('carol', carol);
    await targets.add(
      { name: 'web-1', kind: 'ssh', host: 'h', port: 22, username: 'u', labels: { env: 'prod' } },
      { actor: 'a' },
    );
    await targets.add(
      { name: 'web-2', kind: 'ssh', host: 'h', port: 22, username: 'u', labels: { env: 'dev' } },
      { actor: 'a' },
    );
    await targets.add(
      { name: 'db-9', kind: 'mysql', host: 'h', port: 3306, username: 'u' },
      { actor: 'a' },
    );
    await grants.create(
      { subject: parseGrantSubject('@admin'), scope: parseGrantScope('label:env=prod') },
      { actor: 'a' },
    );
    await grants.create(
      { subject: parseGrantSubject('carol'), scope: parseGrantScope('db-9'), durationMs: 60_000 },
      { actor: 'a' },
    );
    const reachable = await policy.reachable(carol);
    expect(reachable.map((r) => [r.target.name, r.expiresAt])).toEqual([
      ['db-9', clock.now + 60_000],
      ['web-1', null],
    ]);
    await expect(policy.check('carol', 'web-2')).rejects.toSatisfy((e) =>
      isGatehouseError(e, 'GH_ACCESS_DENIED'),
    );
  });

  it('unknown-target-and-unknown-user-look-like-any-denial', async () => {
    await using store = await openScratchStore(driver);
    const { audit, policy } = setup(store, { now: 1 });
    const err1 = await policy.check('nobody', 'web-1').catch((e: unknown) => e);
    const err2 = await policy.check('nobody', 'nothing').catch((e: unknown) => e);
    expect(isGatehouseError(err1, 'GH_ACCESS_DENIED') && err1.message).toBe('access denied');
    expect(isGatehouseError(err2, 'GH_ACCESS_DENIED') && err2.message).toBe('access denied');
    expect(audit.ofType('access.denied').map((e) => e.data['reason'])).toEqual([
      'unknown-user',
      'unknown-user',
    ]);
  });

  it('a-change-that-cannot-be-audited-does-not-happen', async () => {
    await using store = await openScratchStore(driver);
    const { audit, targets, grants, users } = setup(store, { now: 1 });
    users.set('dave', await seedUser(store, 'dave', ['user']));
    audit.failNext = true;
    await expect(
      targets.add(
        { name: 'web-9', kind: 'ssh', host: 'h', port: 22, username: 'u' },
        { actor: 'a' },
      ),
    ).rejects.toThrow();
    expect(await targets.find('web-9')).toBeUndefined();
    await targets.add(
      { name: 'web-9', kind: 'ssh', host: 'h', port: 22, username: 'u' },
      { actor: 'a' },
    );
    audit.failNext = true;
    await expect(
      grants.create(
        { subject: { kind: 'user', name: 'dave' }, scope: { kind: 'target', name: 'web-9' } },
        { actor: 'a' },
      ),
    ).rejects.toThrow();
    expect(await grants.list({ includeInactive: true })).toHaveLength(0);
  });

  it('rejects-bad-target-input-with-a-message-naming-it', async () => {
    await using store = await openScratchStore(driver);
    const { targets, grants } = setup(store, { now: 1 });
    await expect(
      targets.add(
        { name: 'Web 1', kind: 'ssh', host: 'h', port: 22, username: 'u' },
        { actor: 'a' },
      ),
    ).rejects.toThrow(/target name "Web 1" is invalid/);
    await expect(
      targets.add(
        { name: 'w', kind: 'telnet', host: 'h', port: 22, username: 'u' },
        { actor: 'a' },
      ),
    ).rejects.toThrow(/kind "telnet"/);
    await expect(
      targets.add(
        { name: 'w', kind: 'ssh', host: 'h', port: 70000, username: 'u' },
        { actor: 'a' },
      ),
    ).rejects.toThrow(/port/);
    await expect(
      grants.create(
        { subject: { kind: 'user', name: 'ghost' }, scope: { kind: 'target', name: 'w' } },
        { actor: 'a' },
      ),
    ).rejects.toThrow(/user "ghost" does not exist/);
  });
});
