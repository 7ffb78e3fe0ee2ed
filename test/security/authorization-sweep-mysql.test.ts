import { createConnection as netConnect, createServer, type Server, type Socket } from 'node:net';
import mysql from 'mysql2/promise';
import { expect } from 'vitest';
import { tailAudit } from '../../src/audit/index.js';
import { openControlPlane } from '../../src/cli/context.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { eventually } from '../postgres/fixture.js';
import {
  ALICE_PASSWORD,
  LEASED_PASSWORD,
  startMysqlWorld,
  type MysqlWorld,
} from '../mysql/fixture.js';
import { describeDbSweep, type Attempt, type DbSweepWorld } from './db-sweep.js';

// Authorization sweep, MySQL (the rows are in db-sweep.ts): each client (the mariadb CLI,
// mysql2) against `sweep-db`, which points at a relay in front of MariaDB that counts the
// connections Gatehouse makes to the target. A live session ended by Gatehouse cannot run its
// next statement.
const TARGET = 'sweep-db';
const by = { actor: 'sweep' };

describeDbSweep({
  protocol: 'mysql',
  start: async () => {
    const world = await startMysqlWorld();
    try {
      return await sweepWorld(world);
    } catch (err) {
      await world[Symbol.asyncDispose]();
      throw err;
    }
  },
});

/** The sweep's view of `world`: a relay that counts connections, `sweep-db` behind it, the clients. */
async function sweepWorld(world: MysqlWorld): Promise<DbSweepWorld> {
  let upstreamConnections = 0;
  const relaySockets = new Set<Socket>();
  const relay: Server = createServer((client) => {
    upstreamConnections += 1;
    const upstream = netConnect({ host: world.account.host, port: world.account.port });
    relaySockets.add(client);
    client.on('close', () => relaySockets.delete(client));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const address = relay.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const cp = await openControlPlane(loadConfig(world.gatehouse.configPath), {
    logger: createLogger({ level: 'silent' }),
  });
  await cp.targets.add(
    {
      name: TARGET,
      kind: 'mysql',
      host: '127.0.0.1',
      port,
      username: world.account.user,
      database: world.database,
    },
    by,
  );
  await cp.credentials.set(
    TARGET,
    { kind: 'password', password: Buffer.from(LEASED_PASSWORD) },
    by,
  );
  const mysql2 = async (user: string, password: string): Promise<Attempt> => {
    let conn: mysql.Connection | undefined;
    try {
      conn = await world.connect({ login: `${user}#${TARGET}`, password, connectTimeout: 60_000 });
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT 4243 AS n');
      return { isGranted: Number(rows[0]?.['n']) === 4243, detail: 'connected' };
    } catch (err) {
      const e = err as { errno?: number; message: string };
      return { isGranted: false, detail: `${e.errno ?? ''} ${e.message}` };
    } finally {
      await conn?.end().catch(() => undefined);
    }
  };
  /** Connections of the leased account on MariaDB (the relay hides which session owns one). */
  const leasedConnections = async (): Promise<number> => {
    const rows = await world.root<{ n: number }[]>(
      'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?',
      [world.account.user],
    );
    return Number(rows[0]?.n ?? 0);
  };
  return {
    target: TARGET,
    cp,
    password: ALICE_PASSWORD,
    clients: {
      'mariadb cli': async (user) => {
        const run = await world.cli(
          ['--ssl', `--ssl-ca=${world.caPath}`, '-N', '-e', 'SELECT 4242'],
          { login: `${user}#${TARGET}`, password: ALICE_PASSWORD, timeoutMs: 60_000 },
        );
        return {
          isGranted: run.stdout.trim() === '4242',
          detail: `${run.code} ${run.stdout} ${run.stderr}`,
        };
      },
      mysql2: (user) => mysql2(user, ALICE_PASSWORD),
    },
    login: mysql2,
    upstreamLogins: () => upstreamConnections,
    openSession: async (user) => {
      const seq = (await tailAudit(cp.store.db, { limit: 1 })).at(-1)?.seq ?? 0;
      const conn = await world.connect({ login: `${user}#${TARGET}`, connectTimeout: 60_000 });
      const ended = new Promise<void>((resolve) => {
        conn.on('error', () => resolve());
        conn.on('end', () => resolve());
      });
      await conn.query('SELECT 1');
      const start = await eventually(
        async () =>
          (await tailAudit(cp.store.db, { limit: 5000 })).find(
            (e) => e.seq > seq && e.type === 'session.start' && e.user === user,
          ),
        20_000,
      );
      expect(await leasedConnections()).toBeGreaterThanOrEqual(1);
      return {
        sid: start.sid ?? '',
        ended: async () => {
          await ended;
          // The client was told and the connection is gone: the next statement cannot run.
          const next = await conn.query('SELECT 1').then(
            () => 'ran',
            (err: { message: string }) => err.message,
          );
          conn.destroy();
          expect(next).not.toBe('ran');
        },
      };
    },
    upstreamSessions: leasedConnections,
    [Symbol.asyncDispose]: async () => {
      for (const socket of relaySockets) socket.destroy();
      relay.close();
      await cp.close();
      await world[Symbol.asyncDispose]();
    },
  };
}
