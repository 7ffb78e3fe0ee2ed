import { describe, expect, it } from 'vitest';
import { openAuditScratchStore } from '../../test/support/audit-stores.js';
import { MemoryAudit } from '../../test/support/memory-audit.js';
import { gatehouseRejection } from '../../test/support/errors.js';
import { openRotationWorld } from '../../test/support/rotation-world.js';
import { STORE_DRIVERS } from '../../test/support/stores.js';
import { validateAuditEvent } from '../audit/validate.js';
import { GatehouseError } from '../core/errors.js';
import type { Target } from '../core/types.js';
import { Targets } from '../policy/targets.js';
import type { Store } from '../store/index.js';
import { Credentials } from './credentials.js';
import { rotateCredential, type RotationDeps } from './rotation.js';
import type { PasswordApplier, PasswordSession } from './rotation-appliers.js';
import { generateRotationPassword } from './rotation-password.js';
import { findActiveCredentialCreatedAt } from './rotation-versions.js';

const START_MS = 1_800_000_000_000;

/** An in-memory database account: logins check the password, sessions change it. */
class FakeAccount implements PasswordApplier {
  password: string;
  logins = 0;
  /** Buffers handed to `setPassword`, kept to check they were wiped. */
  readonly seen: Buffer[] = [];
  /** Resolves the next login only when released (to hold a rotation mid-way). */
  gate: Promise<void> | undefined;

  constructor(password: string) {
    this.password = password;
  }

  async connect(_target: Target, password: Buffer): Promise<PasswordSession> {
    this.logins++;
    const gate = this.gate;
    this.gate = undefined;
    if (gate !== undefined) await gate;
    if (password.toString() !== this.password)
      throw new GatehouseError('GH_UPSTREAM_AUTH_FAILED', { detail: 'SQLSTATE 28P01' });
    const close = (): Promise<void> => Promise.resolve();
    return {
      setPassword: (next) => {
        this.seen.push(next);
        this.password = next.toString();
        return Promise.resolve();
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  }
}

interface World extends AsyncDisposable {
  readonly store: Store;
  readonly audit: MemoryAudit;
  readonly targets: Targets;
  readonly credentials: Credentials;
  readonly clock: { now: number };
  readonly account: FakeAccount;
  readonly deps: RotationDeps;
  statuses(target?: string): Promise<[number, string][]>;
}

async function openWorld(driver: (typeof STORE_DRIVERS)[number]): Promise<World> {
  const world = await openRotationWorld(await openAuditScratchStore(driver), START_MS);
  const account = new FakeAccount('Old-pass');
  await world.targets.add(
    {
      name: 'orders',
      kind: 'postgres',
      host: '127.0.0.1',
      port: 5432,
      username: 'leased',
      database: 'orders',
    },
    { actor: 'admin' },
  );
  await world.credentials.set(
    'orders',
    { kind: 'password', password: Buffer.from('Old-pass') },
    { actor: 'admin' },
  );
  return Object.assign(world, {
    account,
    deps: world.deps({ postgres: account, mysql: account }),
    async statuses(target = 'orders'): Promise<[number, string][]> {
      return (await world.credentials.show(target)).map((v) => [v.version, v.status]);
    },
  });
}

describe('rotation password', () => {
  it('generated-passwords-are-32-base62-characters-and-differ', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const password = generateRotationPassword().toString();
      expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
      seen.add(password);
    }
    expect(seen.size).toBe(50);
  });
});

describe.each(STORE_DRIVERS)('rotation on a %s store', (driver) => {
  it('rotation-makes-a-new-active-version-and-keeps-the-old-as-previous', async () => {
    await using world = await openWorld(driver);
    world.clock.now += 1_000;

    const result = await rotateCredential('orders', { actor: 'alice' }, world.deps);

    expect(result).toMatchObject({
      target: 'orders',
      version: 2,
      previousVersion: 1,
      isRecovered: false,
    });
    expect(await world.statuses()).toEqual([
      [2, 'active'],
      [1, 'previous'],
    ]);
    expect(world.account.password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(world.account.logins).toBe(2); // one to change, a fresh one to check
    for (const event of world.audit.events) expect(() => validateAuditEvent(event)).not.toThrow();
    const targetId = (await world.targets.get('orders')).id;
    expect(await findActiveCredentialCreatedAt(world.store.db, targetId)).toBe(START_MS + 1_000);
  });

  it('ssh-target-is-refused', async () => {
    await using world = await openWorld(driver);
    await world.targets.add(
      { name: 'web', kind: 'ssh', host: '127.0.0.1', port: 22, username: 'deploy' },
      { actor: 'admin' },
    );

    const err = await gatehouseRejection(rotateCredential('web', { actor: 'alice' }, world.deps));

    expect(err).toMatchObject({
      code: 'GH_INVALID_ARGUMENT',
      message: 'rotation applies to database targets',
    });
    expect(world.account.logins).toBe(0);
    expect(world.audit.ofType('admin.credential.rotate_failed')).toEqual([]);
  });

  it('unknown-target-is-not-found', async () => {
    await using world = await openWorld(driver);
    expect(
      (await gatehouseRejection(rotateCredential('nope', { actor: 'alice' }, world.deps))).code,
    ).toBe('GH_NOT_FOUND');
  });

  it('target-without-a-credential-fails-with-no-credential', async () => {
    await using world = await openWorld(driver);
    await world.targets.add(
      { name: 'empty', kind: 'mysql', host: '127.0.0.1', port: 3306, username: 'leased' },
      { actor: 'admin' },
    );

    const err = await gatehouseRejection(rotateCredential('empty', { actor: 'alice' }, world.deps));

    expect(err.code).toBe('GH_NO_CREDENTIAL');
    expect(world.audit.ofType('admin.credential.rotate_failed')[0]?.data).toMatchObject({
      reason: 'no-credential',
      version: null,
    });
  });

  it('a-second-rotation-while-one-runs-is-refused-as-busy', async () => {
    await using world = await openWorld(driver);
    let release = (): void => undefined;
    world.account.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = rotateCredential('orders', { actor: 'alice' }, world.deps);
    await expect.poll(() => world.account.logins).toBe(1); // the first holds its pending row

    const err = await gatehouseRejection(rotateCredential('orders', { actor: 'bob' }, world.deps));
    release();

    expect(err.message).toBe(
      'credential rotation failed: another rotation of this target is in progress',
    );
    expect((await first).version).toBe(2);
    expect(await world.statuses()).toEqual([
      [2, 'active'],
      [1, 'previous'],
    ]);
  });

  it('failed-change-retires-the-pending-version-and-redacts-the-password', async () => {
    await using world = await openWorld(driver);
    const account = world.account;
    // A server that quotes the statement back must not get the password into the audit.
    account.connect = async function (target, password) {
      const session = await FakeAccount.prototype.connect.call(account, target, password);
      return {
        ...session,
        setPassword: (next: Buffer) =>
          Promise.reject(
            new GatehouseError('GH_ROTATION_FAILED', {
              detail: `syntax error near '${next.toString()}'`,
            }),
          ),
      };
    };

    const err = await gatehouseRejection(
      rotateCredential('orders', { actor: 'alice' }, world.deps),
    );

    expect(err.detail).toMatch(/near '\[redacted\]'/);
    expect(await world.statuses()).toEqual([
      [2, 'retired'],
      [1, 'active'],
    ]);
    // The real audit log would accept the event: nothing in it looks like a secret.
    for (const event of world.audit.events) expect(() => validateAuditEvent(event)).not.toThrow();
    expect(world.audit.ofType('admin.credential.rotate_failed')[0]?.data).toMatchObject({
      reason: 'change-refused',
      detail: "change: credential rotation failed: syntax error near '[redacted]'",
    });
  });

  it('audit-failure-after-the-change-sets-the-target-and-the-store-back', async () => {
    await using world = await openWorld(driver);
    world.audit.failNext = true;

    const err = await gatehouseRejection(
      rotateCredential('orders', { actor: 'alice' }, world.deps),
    );

    expect(err.code).toBe('GH_AUDIT_WRITE_FAILED');
    expect(world.account.password).toBe('Old-pass');
    expect(await world.statuses()).toEqual([
      [2, 'retired'],
      [1, 'active'],
    ]);
  });

  it('every-plaintext-buffer-is-wiped-after-the-rotation', async () => {
    await using world = await openWorld(driver);
    await rotateCredential('orders', { actor: 'alice' }, world.deps);
    expect(world.account.seen).toHaveLength(1);
    expect(world.account.seen.every((b) => b.every((byte) => byte === 0))).toBe(true);
  });

  it('older-previous-versions-are-retired-unless-a-session-still-leases-them', async () => {
    await using world = await openWorld(driver);
    const [v1] = await world.credentials.show('orders');
    if (v1 === undefined) throw new Error('no v1');
    await world.store.db
      .insertInto('leases')
      .values({
        id: 'lease_1',
        credential_id: v1.id,
        credential_version: 1,
        sid: 'sid_1',
        user_name: 'carol',
        gateway_id: 'gw',
        issued_at: START_MS,
        released_at: null,
      })
      .execute();
    await rotateCredential('orders', { actor: 'alice' }, world.deps);
    await rotateCredential('orders', { actor: 'alice' }, world.deps);
    expect(await world.statuses()).toEqual([
      [3, 'active'],
      [2, 'previous'],
      [1, 'previous'], // carol's session still holds it
    ]);

    await world.store.db
      .updateTable('leases')
      .set({ released_at: START_MS + 1 })
      .execute();
    await rotateCredential('orders', { actor: 'alice' }, world.deps);
    expect(await world.statuses()).toEqual([
      [4, 'active'],
      [3, 'previous'],
      [2, 'retired'],
      [1, 'retired'],
    ]);
  });

  it('credential-set-during-a-rotation-wins-and-the-rotation-fails', async () => {
    await using world = await openWorld(driver);
    let release = (): void => undefined;
    world.account.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const rotation = rotateCredential('orders', { actor: 'alice' }, world.deps);
    await expect.poll(() => world.account.logins).toBe(1);
    await world.credentials.set(
      'orders',
      { kind: 'password', password: Buffer.from('Admin-set') },
      { actor: 'admin' },
    );
    release();

    const err = await gatehouseRejection(rotation);

    expect(err.message).toBe('credential rotation failed: the new version could not be stored');
    expect(err.detail).toMatch(/changed during the rotation/);
    // The target was set back to the password it had; the admin's version is active.
    expect(world.account.password).toBe('Old-pass');
    expect((await world.statuses()).find(([, status]) => status === 'active')).toEqual([
      3,
      'active',
    ]);
  });
});
