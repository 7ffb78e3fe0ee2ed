import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

/** The MySQL/MariaDB server used by tests (the machine's service: root, no password). */
export const TEST_MYSQL_URL =
  process.env['GATEHOUSE_TEST_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306';

/** A throwaway account on the test server; dispose it (or call `drop`) to drop it. */
export interface MariadbAccount extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** The hosts the account exists for (`%`, and `localhost`/`127.0.0.1` next to an anonymous account). */
  readonly hosts: readonly string[];
  drop(): Promise<void>;
}

/** A throwaway account that owns a database named after it; dropping the account drops both. */
export interface MariadbDatabaseAccount extends MariadbAccount {
  readonly database: string;
}

/** Options of {@link createMariadbAccount}. */
export interface MariadbAccountOptions {
  readonly password: string;
  /** Start of the account name; a random suffix is added. */
  readonly prefix?: string;
}

/**
 * Creates `'<prefix><random>'@'%'` with a password (mysql_native_password, the server's
 * default). The server enforces account passwords, so tests can check that a password works
 * and that another one does not. An anonymous `''@'localhost'` account would win over `'%'`
 * for a client on 127.0.0.1, so when one exists the account is created for `localhost` and
 * `127.0.0.1` too. The password reaches the server in a statement, never in process arguments.
 */
export async function createMariadbAccount(
  options: MariadbAccountOptions,
): Promise<MariadbAccount> {
  const url = new URL(TEST_MYSQL_URL);
  const host = url.hostname;
  const port = Number(url.port === '' ? '3306' : url.port);
  const user = `${options.prefix ?? 'gh_rot_'}${randomBytes(5).toString('hex')}`;
  const hosts = ['%'];
  await withRoot(async (root) => {
    const [anonymous] = await root.query<mysql.RowDataPacket[]>(
      "SELECT host FROM mysql.user WHERE user = ''",
    );
    if (anonymous.length > 0) hosts.push('localhost', '127.0.0.1');
    for (const accountHost of hosts) {
      // Client-side escaping (mysql2 `query` values): CREATE USER takes no bind parameters.
      await root.query('CREATE USER ?@? IDENTIFIED BY ?', [user, accountHost, options.password]);
    }
  });
  const drop = (): Promise<void> =>
    withRoot(async (root) => {
      for (const accountHost of hosts)
        await root.query('DROP USER IF EXISTS ?@?', [user, accountHost]);
    });
  return {
    host,
    port,
    user,
    password: options.password,
    hosts,
    drop,
    [Symbol.asyncDispose]: drop,
  };
}

/**
 * Creates an account as {@link createMariadbAccount} does, and a database of the account's name
 * on which it has all privileges, for every host it exists for (a grant to `'%'` alone would
 * leave its `localhost` twin without them).
 */
export async function createMariadbDatabaseAccount(
  options: MariadbAccountOptions,
): Promise<MariadbDatabaseAccount> {
  const account = await createMariadbAccount(options);
  const database = account.user;
  const dropDatabase = (): Promise<void> =>
    withRoot(async (root) => {
      await root.query(`DROP DATABASE IF EXISTS \`${database}\``);
    });
  try {
    await withRoot(async (root) => {
      await root.query(`CREATE DATABASE \`${database}\``);
      for (const accountHost of account.hosts)
        await root.query(`GRANT ALL ON \`${database}\`.* TO ?@?`, [account.user, accountHost]);
    });
  } catch (err) {
    await dropDatabase().catch(() => undefined);
    await account.drop().catch(() => undefined);
    throw err;
  }
  const drop = async (): Promise<void> => {
    await dropDatabase();
    await account.drop();
  };
  return { ...account, database, drop, [Symbol.asyncDispose]: drop };
}

async function withRoot(work: (root: mysql.Connection) => Promise<void>): Promise<void> {
  const root = await mysql.createConnection({ uri: TEST_MYSQL_URL, connectTimeout: 10_000 });
  try {
    await work(root);
  } finally {
    await root.end();
  }
}

/**
 * The machine's MariaDB allows 151 connections by default, shared with every other test:
 * raises `max_connections` (until the server restarts) to `needed` on top of those in use.
 * Returns the change made, or undefined when the limit was high enough.
 */
export async function raiseMaxConnections(
  root: mysql.Connection,
  needed: number,
): Promise<{ readonly from: number; readonly to: number; readonly inUse: number } | undefined> {
  const [rows] = await root.query<mysql.RowDataPacket[]>(
    "SELECT @@max_connections AS max, (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'THREADS_CONNECTED') AS used",
  );
  const max = Number(rows[0]?.['max']);
  const used = Number(rows[0]?.['used']);
  const wanted = used + needed;
  if (max >= wanted) return undefined;
  await root.query(`SET GLOBAL max_connections = ${wanted}`);
  return { from: max, to: wanted, inUse: used };
}
