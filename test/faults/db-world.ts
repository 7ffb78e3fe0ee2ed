import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import {
  createMariadbDatabaseAccount,
  TEST_MYSQL_URL,
  type MariadbDatabaseAccount,
} from '../support/mariadb-account.js';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { machinePostgresTarget, startFaultWorld, type FaultWorld } from './world.js';

/**
 * The fault world with two database targets on servers a test may break: `orders`
 * (PostgreSQL) and `shop` (a MariaDB database of its own, on the machine's server).
 */
export interface DbFaultWorld extends FaultWorld {
  /** A throwaway PostgreSQL cluster: the `orders` target, or Gatehouse's store. */
  readonly cluster: PgCluster;
  /** Root on the machine's MariaDB (e.g. to `KILL` a connection), open until disposal. */
  readonly mariadbRoot: mysql.Connection;
}

/** Options of {@link startDbFaultWorld}. */
export interface DbFaultWorldOptions {
  /**
   * What the cluster serves: the `orders` target, or Gatehouse's store (then `orders` is the
   * machine's PostgreSQL, which stays up while the store goes away).
   */
  readonly cluster: 'orders' | 'store';
  /** Start of the MariaDB account's name (its database takes the same name); a random suffix is added. */
  readonly prefix: string;
}

/** Starts the cluster, the MariaDB account and database, and the fault world with both targets. */
export async function startDbFaultWorld(options: DbFaultWorldOptions): Promise<DbFaultWorld> {
  const leasedPassword = `leased-${randomBytes(6).toString('hex')}`;
  let world: FaultWorld | undefined;
  let cluster: PgCluster | undefined;
  let account: MariadbDatabaseAccount | undefined;
  let root: mysql.Connection | undefined;
  // Gatehouse first (its store may be the cluster), then the servers it stood in front of.
  const dispose = async (): Promise<void> => {
    await world?.[Symbol.asyncDispose]();
    await cluster?.stop();
    await root?.end().catch(() => undefined);
    await account?.drop();
  };
  try {
    const clusterStarted = startPgCluster({
      superPassword: `super-${randomBytes(6).toString('hex')}`,
    }).then((c) => (cluster = c));
    const started = await Promise.allSettled([
      clusterStarted,
      createMariadbDatabaseAccount({ password: leasedPassword, prefix: options.prefix }).then(
        (a) => (account = a),
      ),
      (options.cluster === 'store'
        ? clusterStarted.then((c) =>
            startFaultWorld({ gatehouse: { initArgs: ['--store-url', c.url] } }),
          )
        : startFaultWorld()
      ).then((w) => (world = w)),
    ]);
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    if (world === undefined || cluster === undefined || account === undefined)
      throw new Error('the database fault world did not start');

    if (options.cluster === 'orders') {
      const superClient = new pg.Client({ connectionString: cluster.url });
      await superClient.connect();
      await superClient.query(`CREATE ROLE leased LOGIN PASSWORD '${leasedPassword}'`);
      await superClient.query('CREATE DATABASE app OWNER leased');
      await superClient.end();
      await world.addDbTarget('orders', {
        kind: 'postgres',
        host: cluster.host,
        port: cluster.port,
        username: 'leased',
        password: leasedPassword,
        database: 'app',
      });
    } else {
      await world.addDbTarget('orders', machinePostgresTarget());
    }

    root = await mysql.createConnection({ uri: TEST_MYSQL_URL });
    await world.addDbTarget('shop', {
      kind: 'mysql',
      host: account.host,
      port: account.port,
      username: account.user,
      password: leasedPassword,
      database: account.database,
    });
    return { ...world, cluster, mariadbRoot: root, [Symbol.asyncDispose]: dispose };
  } catch (err) {
    await dispose().catch(() => undefined);
    throw err;
  }
}
