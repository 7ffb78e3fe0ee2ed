import pg from 'pg';
import { expect } from 'vitest';
import { ALICE_PASSWORD, LEASED_ROLE, startPgWorld } from '../postgres/fixture.js';
import { describeDbSweep, type Attempt, type DbSweepWorld } from './db-sweep.js';

// Authorization sweep, PostgreSQL (the rows are in db-sweep.ts): each client (psql, the pg
// driver) against `orders-db`; the target's own connection log (log_connections) says whether
// a login reached it. A live session ended by Gatehouse is told with 57P01.
const TARGET = 'orders-db';

describeDbSweep({
  protocol: 'postgres',
  endedHow: 'with-57P01',
  start: async (): Promise<DbSweepWorld> => {
    const world = await startPgWorld({ clusterSettings: { log_connections: 'on' } });
    const psql = async (user: string, password: string): Promise<Attempt> => {
      const run = await world.psql(['-At', '-c', 'select 4242'], {
        login: `${user}#${TARGET}`,
        password,
        timeoutMs: 60_000,
      });
      return {
        isGranted: run.stdout.trim() === '4242',
        detail: `${run.code} ${run.stdout} ${run.stderr}`,
      };
    };
    /** Backends on the target that carry the session id in their application_name. */
    const upstreamSessions = async (sid: string): Promise<number> =>
      (
        await world.superQuery<{ n: number }>(
          'select count(*)::int as n from pg_stat_activity where application_name like $1',
          [`%${sid}%`],
        )
      ).rows[0]?.n ?? 0;
    return {
      target: TARGET,
      cp: world.cp,
      password: ALICE_PASSWORD,
      clients: {
        psql: (user) => psql(user, ALICE_PASSWORD),
        'pg driver': async (user) => {
          const client = new pg.Client(
            world.clientConfig({ login: `${user}#${TARGET}`, connectionTimeoutMillis: 60_000 }),
          );
          try {
            await client.connect();
            const { rows } = await client.query<{ n: number }>('select 4243 as n');
            return { isGranted: rows[0]?.n === 4243, detail: 'connected' };
          } catch (err) {
            const e = err as { code?: string; message: string };
            return { isGranted: false, detail: `${e.code ?? ''} ${e.message}` };
          } finally {
            await client.end().catch(() => undefined);
          }
        },
      },
      login: psql,
      // The cluster's log of leased-role logins (log_connections).
      upstreamLogins: () =>
        world.cluster
          .readLog()
          .split('\n')
          .filter((line) => line.includes(`connection authorized: user=${LEASED_ROLE}`)).length,
      openSession: async (user) => {
        const client = await world.connect({
          login: `${user}#${TARGET}`,
          connectionTimeoutMillis: 60_000,
        });
        const ended = new Promise<Error>((resolve) => client.on('error', resolve));
        const { rows } = await client.query<{ app: string }>(
          "select current_setting('application_name') as app",
        );
        const sid = /gatehouse:(ses_[0-9a-f]+)/.exec(rows[0]?.app ?? '')?.[1] ?? '';
        expect(await upstreamSessions(sid)).toBe(1);
        return {
          sid,
          ended: async () => {
            const error = (await ended) as pg.DatabaseError;
            await client.end().catch(() => undefined);
            expect(error.code).toBe('57P01');
          },
        };
      },
      upstreamSessions,
      [Symbol.asyncDispose]: () => world[Symbol.asyncDispose](),
    };
  },
});
