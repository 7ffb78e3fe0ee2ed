import { createServer } from 'node:net';
import mysql from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { createMariadbAccount, type MariadbAccount } from '../../test/support/mariadb-account.js';
import { gatehouseRejection } from '../../test/support/errors.js';
import {
  openRotationWorld,
  startRecordingTcpProxy,
  type RotationWorld,
} from '../../test/support/rotation-world.js';
import { openScratchStore } from '../../test/support/stores.js';
import { mysqlPasswordApplier, nativePasswordHash } from './rotate-mysql.js';
import { rotateCredential, type RotationDeps } from './rotation.js';

let targetCount = 0;

/** Logs in as `user`; resolves to 'ok' or the server's error errno. */
async function tryLogin(
  account: MariadbAccount,
  password: string,
  port = account.port,
): Promise<string> {
  try {
    const conn = await mysql.createConnection({
      host: account.host,
      port,
      user: account.user,
      password,
      connectTimeout: 5_000,
    });
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS who');
    await conn.end();
    return String(rows[0]?.['who']).startsWith(`${account.user}@`) ? 'ok' : 'wrong user';
  } catch (err) {
    return err !== null && typeof err === 'object' && 'errno' in err
      ? String(err.errno)
      : String(err);
  }
}

interface World extends Omit<RotationWorld, 'deps'> {
  readonly deps: RotationDeps;
  /** A target for `account` (reached on `port`, default the server's) with `credential` as v1. */
  addTarget(
    account: MariadbAccount,
    options?: { readonly port?: number; readonly credential?: string },
  ): Promise<string>;
}

async function openWorld(): Promise<World> {
  const world = await openRotationWorld(await openScratchStore('sqlite'));
  return Object.assign(world, {
    deps: world.deps({ mysql: mysqlPasswordApplier }),
    async addTarget(
      account: MariadbAccount,
      options: { readonly port?: number; readonly credential?: string } = {},
    ) {
      const name = `maria-${++targetCount}`;
      await world.targets.add(
        {
          name,
          kind: 'mysql',
          host: account.host,
          port: options.port ?? account.port,
          username: account.user,
        },
        { actor: 'admin' },
      );
      await world.credentials.set(
        name,
        { kind: 'password', password: Buffer.from(options.credential ?? account.password) },
        { actor: 'admin' },
      );
      return name;
    },
  });
}

describe('rotation on mariadb', () => {
  it('rotation-on-mariadb-with-native-password-account-changes-the-password-and-old-stops-working', async () => {
    await using world = await openWorld();
    await using account = await createMariadbAccount({ password: 'Old-maria-1' });
    const target = await world.addTarget(account);

    const result = await rotateCredential(target, { actor: 'alice' }, world.deps);

    expect(result).toMatchObject({ target, version: 2, previousVersion: 1, isRecovered: false });
    expect((await world.credentials.show(target)).map((v) => [v.version, v.status])).toEqual([
      [2, 'active'],
      [1, 'previous'],
    ]);
    const next = await world.activePassword(target);
    expect(next).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(await tryLogin(account, next)).toBe('ok');
    expect(await tryLogin(account, 'Old-maria-1')).toBe('1045'); // ER_ACCESS_DENIED_ERROR, SQLSTATE 28000
    expect(world.audit.ofType('admin.credential.rotate')[0]).toMatchObject({
      target,
      data: { by: 'alice', version: 2, previousVersion: 1 },
    });
  });

  it('new-password-never-crosses-the-wire-nor-reaches-the-audit', async () => {
    await using world = await openWorld();
    await using account = await createMariadbAccount({ password: 'Old-maria-2' });
    const proxy = await startRecordingTcpProxy(account.host, account.port);
    try {
      const target = await world.addTarget(account, { port: proxy.port });
      await rotateCredential(target, { actor: 'alice' }, world.deps);
      const next = await world.activePassword(target);

      const wire = proxy.sent();
      // What was sent is the native hash (SHA1(SHA1(pw))), which alone does not log in.
      expect(
        wire.includes(Buffer.from(`SET PASSWORD = '${nativePasswordHash(Buffer.from(next))}'`)),
      ).toBe(true);
      expect(wire.includes(Buffer.from(next))).toBe(false);
      expect(JSON.stringify(world.audit.events)).not.toContain(next);
    } finally {
      proxy.server.close();
    }
  });

  it('refused-current-password-on-mariadb-leaves-the-old-version-active-and-says-why', async () => {
    await using world = await openWorld();
    await using account = await createMariadbAccount({ password: 'Real-maria-3' });
    const target = await world.addTarget(account, { credential: 'Wrong-maria-3' });

    const err = await gatehouseRejection(rotateCredential(target, { actor: 'alice' }, world.deps));

    expect(err.code).toBe('GH_ROTATION_FAILED');
    expect(err.message).toBe('credential rotation failed: the target refused the current password');
    expect(err.detail).toMatch(/SQLSTATE 28000/);
    expect(await world.activePassword(target)).toBe('Wrong-maria-3');
    expect(await tryLogin(account, 'Real-maria-3')).toBe('ok');
    expect(world.audit.ofType('admin.credential.rotate_failed')[0]?.data).toMatchObject({
      reason: 'auth-failed',
      version: 1,
    });
  });

  it('unreachable-mariadb-target-fails-rotation-and-keeps-the-old-version', async () => {
    await using world = await openWorld();
    await using account = await createMariadbAccount({ password: 'Old-maria-4' });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const target = await world.addTarget(account, {
      port: typeof address === 'object' && address !== null ? address.port : 0,
    });

    const err = await gatehouseRejection(rotateCredential(target, { actor: 'alice' }, world.deps));

    expect(err.code).toBe('GH_ROTATION_FAILED');
    expect(err.message).toBe('credential rotation failed: the target cannot be reached');
    expect(await world.activePassword(target)).toBe('Old-maria-4');
    expect(await tryLogin(account, 'Old-maria-4')).toBe('ok');
  });

  it('native-password-hash-matches-the-server', async () => {
    // The same hash MariaDB's PASSWORD() gives, checked once against the server itself.
    const conn = await mysql.createConnection({
      uri: process.env['GATEHOUSE_TEST_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306',
    });
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT PASSWORD('pw1') AS h");
      expect(nativePasswordHash(Buffer.from('pw1'))).toBe(rows[0]?.['h']);
    } finally {
      await conn.end();
    }
  });
});
