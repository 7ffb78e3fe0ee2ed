import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgCluster, type PgCluster } from '../../test/support/pg-cluster.js';
import { gatehouseRejection } from '../../test/support/errors.js';
import {
  openRotationWorld,
  startRecordingTcpProxy,
  type RecordingTcpProxy,
  type RotationWorld,
} from '../../test/support/rotation-world.js';
import { openScratchStore } from '../../test/support/stores.js';
import { GatehouseError } from '../core/errors.js';
import { decryptCredential, findCredentialForUnlock } from './credentials.js';
import { postgresPasswordApplier } from './rotate-postgres.js';
import { rotateCredential, type RotationDeps } from './rotation.js';
import type { PasswordApplier, PasswordAppliers } from './rotation-appliers.js';

const SUPER_PASSWORD = 'super-Secret-4-tests';
const START_MS = 1_800_000_000_000;

let cluster: PgCluster;
let roleCount = 0;

beforeAll(async () => {
  cluster = await startPgCluster({
    superPassword: SUPER_PASSWORD,
    settings: { log_statement: 'all' },
  });
});

afterAll(async () => {
  await cluster.stop();
});

async function asSuper(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: cluster.url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/** Logs in as `user`; resolves to the SQLSTATE of the refusal, or 'ok'. */
async function tryLogin(user: string, password: string, port = cluster.port): Promise<string> {
  const client = new pg.Client({ host: cluster.host, port, user, password, database: 'postgres' });
  try {
    await client.connect();
    const { rows } = await client.query<{ who: string }>('select current_user as who');
    return rows[0]?.who === user ? 'ok' : 'wrong user';
  } catch (err) {
    return err instanceof pg.DatabaseError ? (err.code ?? 'no code') : String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface World extends Omit<RotationWorld, 'deps'> {
  deps(appliers?: { postgres: PasswordApplier }): RotationDeps;
  /** A fresh LOGIN role with `password`, a target for it and that password as credential v1. */
  seed(
    password: string,
    options?: { readonly port?: number; readonly credential?: string },
  ): Promise<{ role: string; target: string }>;
}

async function openWorld(): Promise<World> {
  const world = await openRotationWorld(await openScratchStore('sqlite'), START_MS);
  const depsWith = world.deps.bind(world);
  return Object.assign(world, {
    deps: (appliers: PasswordAppliers = { postgres: postgresPasswordApplier }) =>
      depsWith(appliers),
    async seed(
      password: string,
      options: { readonly port?: number; readonly credential?: string } = {},
    ) {
      const role = `leased_${++roleCount}`;
      await asSuper(`create role ${role} login password '${password}'`);
      const target = role.replaceAll('_', '-');
      await world.targets.add(
        {
          name: target,
          kind: 'postgres',
          host: cluster.host,
          port: options.port ?? cluster.port,
          username: role,
          database: 'postgres',
        },
        { actor: 'admin' },
      );
      await world.credentials.set(
        target,
        { kind: 'password', password: Buffer.from(options.credential ?? password) },
        { actor: 'admin' },
      );
      return { role, target };
    },
  });
}

/** A TCP relay in front of the cluster that keeps every byte the client sent. */
function startRecordingProxy(): Promise<RecordingTcpProxy> {
  return startRecordingTcpProxy(cluster.host, cluster.port);
}

describe('rotation on postgresql', () => {
  it('rotation-on-postgresql-with-scram-account-changes-the-password-and-old-stops-working', async () => {
    await using world = await openWorld();
    const { role, target } = await world.seed('Old-pass-1');

    const result = await rotateCredential(target, { actor: 'alice' }, world.deps());

    expect(result).toMatchObject({ target, version: 2, previousVersion: 1, isRecovered: false });
    const versions = await world.credentials.show(target);
    expect(versions.map((v) => [v.version, v.status])).toEqual([
      [2, 'active'],
      [1, 'previous'],
    ]);
    const next = await world.activePassword(target);
    expect(next).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(await tryLogin(role, next)).toBe('ok');
    expect(await tryLogin(role, 'Old-pass-1')).toBe('28P01');
    // The server stores a SCRAM verifier, as it would for a password it hashed itself.
    const { rows } = await asSuper(`select rolpassword from pg_authid where rolname = '${role}'`);
    expect(String(rows[0]?.rolpassword)).toMatch(/^SCRAM-SHA-256\$4096:/);
    const [event] = world.audit.ofType('admin.credential.rotate');
    expect(event).toMatchObject({
      target,
      data: { by: 'alice', version: 2, previousVersion: 1, recovered: false },
    });
    expect(world.audit.ofType('admin.credential.rotate_failed')).toEqual([]);
  });

  it('previous-version-still-decrypts-for-sessions-that-lease-it', async () => {
    await using world = await openWorld();
    const { target } = await world.seed('Old-pass-2');
    await rotateCredential(target, { actor: 'alice' }, world.deps());

    const targetId = (await world.targets.get(target)).id;
    const previous = await findCredentialForUnlock(world.store.db, targetId, 1);
    expect(previous?.status).toBe('previous');
    if (previous === undefined) throw new Error('no previous version');
    expect((await decryptCredential(world.kms, previous)).toString()).toBe('Old-pass-2');
  });

  it('failed-alter-leaves-the-old-version-active-and-says-why', async () => {
    await using world = await openWorld();
    const { role, target } = await world.seed('Old-pass-3');
    // Every transaction of the role is read-only: it logs in, but ALTER ROLE fails (25006).
    await asSuper(`alter role ${role} set default_transaction_read_only = on`);

    const err = await gatehouseRejection(
      rotateCredential(target, { actor: 'alice' }, world.deps()),
    );

    expect(err.code).toBe('GH_ROTATION_FAILED');
    expect(err.message).toBe('credential rotation failed: the target refused the password change');
    expect(err.detail).toMatch(/SQLSTATE 25006/);
    const versions = await world.credentials.show(target);
    expect(versions.find((v) => v.status === 'active')?.version).toBe(1);
    expect(await world.activePassword(target)).toBe('Old-pass-3');
    expect(await tryLogin(role, 'Old-pass-3')).toBe('ok');
    const [failed] = world.audit.ofType('admin.credential.rotate_failed');
    expect(failed?.data).toMatchObject({
      by: 'alice',
      reason: 'change-refused',
      step: 'change',
      version: 1,
      pendingVersion: 2,
    });
    expect(String(failed?.data['detail'])).toMatch(/read-only transaction/);
    expect(world.audit.ofType('admin.credential.rotate')).toEqual([]);
  });

  it('refused-current-password-leaves-the-old-version-active-and-says-why', async () => {
    await using world = await openWorld();
    const { role, target } = await world.seed('Real-pass-4', { credential: 'Wrong-pass-4' });

    const err = await gatehouseRejection(
      rotateCredential(target, { actor: 'alice' }, world.deps()),
    );

    expect(err.code).toBe('GH_ROTATION_FAILED');
    expect(err.message).toBe('credential rotation failed: the target refused the current password');
    expect(err.detail).toMatch(/28P01/);
    expect(await world.activePassword(target)).toBe('Wrong-pass-4');
    expect(
      (await world.credentials.show(target))
        .filter((v) => v.status === 'active')
        .map((v) => v.version),
    ).toEqual([1]);
    expect(await tryLogin(role, 'Real-pass-4')).toBe('ok');
    expect(world.audit.ofType('admin.credential.rotate_failed')[0]?.data).toMatchObject({
      reason: 'auth-failed',
      step: 'connect',
    });
  });

  it('unreachable-target-fails-rotation-and-keeps-the-old-version', async () => {
    await using world = await openWorld();
    const closed = await startRecordingProxy(); // a port that was just free
    closed.server.close();
    const { target } = await world.seed('Old-pass-5', { port: closed.port });

    const err = await gatehouseRejection(
      rotateCredential(target, { actor: 'alice' }, world.deps()),
    );

    expect(err.code).toBe('GH_ROTATION_FAILED');
    expect(err.message).toBe('credential rotation failed: the target cannot be reached');
    expect(err.detail).toMatch(/ECONNREFUSED/);
    expect(await world.activePassword(target)).toBe('Old-pass-5');
    expect(world.audit.ofType('admin.credential.rotate_failed')[0]?.data).toMatchObject({
      reason: 'unreachable',
      step: 'connect',
    });
  });

  it('new-password-never-reaches-the-audit-the-server-log-or-the-wire', async () => {
    await using world = await openWorld();
    const proxy = await startRecordingProxy();
    try {
      const { target } = await world.seed('Old-pass-6', { port: proxy.port });
      await rotateCredential(target, { actor: 'alice' }, world.deps());
      const next = await world.activePassword(target);

      const log = cluster.readLog();
      // log_statement = all is on: the change is logged, with the verifier only.
      expect(log).toMatch(/statement: ALTER ROLE CURRENT_USER PASSWORD 'SCRAM-SHA-256\$4096:/);
      for (const needle of [
        next,
        Buffer.from(next).toString('base64'),
        Buffer.from(next).toString('hex'),
      ]) {
        expect(log).not.toContain(needle);
        expect(JSON.stringify(world.audit.events)).not.toContain(needle);
      }
      const sent = proxy.sent();
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.includes(Buffer.from('ALTER ROLE CURRENT_USER'))).toBe(true);
      expect(sent.includes(Buffer.from(next))).toBe(false);
    } finally {
      proxy.server.close();
    }
  });

  it('failed-verification-sets-the-old-password-back', async () => {
    await using world = await openWorld();
    const { role, target } = await world.seed('Old-pass-7');
    let logins = 0;
    // The second login (the check with the new password) fails as if the target went away.
    const flaky: PasswordApplier = {
      connect: (t, password) =>
        ++logins === 2
          ? Promise.reject(new GatehouseError('GH_UPSTREAM_UNREACHABLE', { detail: 'simulated' }))
          : postgresPasswordApplier.connect(t, password),
    };

    const err = await gatehouseRejection(
      rotateCredential(target, { actor: 'alice' }, world.deps({ postgres: flaky })),
    );

    expect(err.code).toBe('GH_ROTATION_FAILED');
    expect(await tryLogin(role, 'Old-pass-7')).toBe('ok');
    expect((await world.credentials.show(target)).map((v) => [v.version, v.status])).toEqual([
      [2, 'retired'],
      [1, 'active'],
    ]);
    expect(world.audit.ofType('admin.credential.rotate_failed')[0]?.data).toMatchObject({
      reason: 'unreachable',
      step: 'verify',
      isReverted: true,
    });
  });

  it('interrupted-rotation-is-recovered-by-the-next-one', async () => {
    await using world = await openWorld();
    const { role, target } = await world.seed('Old-pass-8');
    // The change lands, then the check and the revert both fail: the target holds v2, stored only as pending.
    let changes = 0;
    const cut: PasswordApplier = {
      async connect(t, password) {
        if (changes > 0)
          throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', { detail: 'simulated' });
        const session = await postgresPasswordApplier.connect(t, password);
        return {
          setPassword: (p) =>
            ++changes === 1
              ? session.setPassword(p)
              : Promise.reject(new GatehouseError('GH_UPSTREAM_UNREACHABLE')),
          close: () => session.close(),
          [Symbol.asyncDispose]: () => session.close(),
        };
      },
    };
    const err = await gatehouseRejection(
      rotateCredential(target, { actor: 'alice' }, world.deps({ postgres: cut })),
    );
    expect(err.message).toMatch(/may hold a password that is not active yet/);
    expect(await tryLogin(role, 'Old-pass-8')).toBe('28P01');
    expect(world.audit.ofType('admin.credential.rotate_failed')[0]?.data).toMatchObject({
      step: 'verify',
      isReverted: false,
    });

    // While fresh, the pending row means "a rotation is running".
    expect(
      (await gatehouseRejection(rotateCredential(target, { actor: 'alice' }, world.deps())))
        .message,
    ).toMatch(/in progress/);
    world.clock.now += 10 * 60_000;
    const result = await rotateCredential(target, { actor: 'alice' }, world.deps());

    expect(result).toMatchObject({ version: 3, previousVersion: 2, isRecovered: true });
    expect(await tryLogin(role, await world.activePassword(target))).toBe('ok');
    const statuses = (
      await world.store.db
        .selectFrom('credentials')
        .select(['version', 'status'])
        .orderBy('version')
        .execute()
    ).map((r) => [r.version, r.status]);
    expect(statuses).toEqual([
      [1, 'retired'],
      [2, 'previous'],
      [3, 'active'],
    ]);
  });
});
