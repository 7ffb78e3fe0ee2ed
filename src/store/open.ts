import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Transaction } from 'kysely';
import pg from 'pg';
import { GatehouseError } from '../core/errors.js';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';
import type { ChainAppend, ChainedEvents } from './sqlite-messages.js';
import { appendChainInTransaction, WorkerSqliteDialect } from './sqlite-worker.js';
import { mapped, waitingPool, withStoreErrors } from './unavailable.js';

/** Where the store lives. */
export type StoreConfig =
  | {
      readonly driver: 'sqlite';
      readonly path: string;
      /**
       * Run the connection in a worker thread (src/store/sqlite-worker.ts), so commits do
       * not stop the event loop while the disk syncs: for `gatehouse serve`.
       */
      readonly inWorker?: boolean | undefined;
    }
  | {
      readonly driver: 'postgres';
      readonly url: string;
      /** PostgreSQL schema to use (created if missing); default `public`. */
      readonly schema?: string | undefined;
      readonly poolSize?: number | undefined;
    };

/** An open, migrated store. Dispose it (or call `close`) to release connections. */
export interface Store extends AsyncDisposable {
  readonly db: Kysely<Database>;
  readonly driver: StoreConfig['driver'];
  /**
   * Appends audit events in one message to the SQLite thread (a SQLite store in a worker),
   * in a transaction of their own or, given `trx`, in the caller's: the audit log's faster
   * path; without it, it appends through `db` (or `trx`) statement by statement.
   */
  readonly appendChain?: ChainAppender | undefined;
  close(): Promise<void>;
}

/**
 * Appends a group of audit events in one transaction, or inside `trx` (a transaction of the
 * same store); `append` is read once it is their turn.
 */
export type ChainAppender = (
  append: () => ChainAppend,
  trx?: Transaction<Database>,
) => Promise<ChainedEvents>;

const PG_INT8_OID = 20;
/**
 * How long a statement waits for the store before failing with GH_STORE_UNAVAILABLE: SQLite's
 * `busy_timeout` (the file locked by another process), PostgreSQL's connection attempts while
 * the server restarts or fails over (src/store/unavailable.ts).
 */
export const STORE_WAIT_MS = 10_000;
/**
 * SQLite's `busy_timeout` in `gatehouse serve`, where one worker-thread connection runs every
 * statement in turn: a write waiting for another process's lock holds up all the others
 * (logins too), so it waits less. Audit appends try again (src/audit/audit-log.ts).
 */
export const SQLITE_WORKER_BUSY_MS = 1_000;
/** One PostgreSQL connection attempt (a server that drops packets would otherwise hang it). */
const PG_CONNECT_TIMEOUT_MS = 5_000;

/** Opens the store named in `config` and applies pending migrations. */
export async function openStore(config: StoreConfig): Promise<Store> {
  const { db, appendChain } =
    config.driver === 'sqlite'
      ? openSqlite(config.path, config.inWorker === true)
      : { db: await openPostgres(config), appendChain: undefined };
  try {
    // On PostgreSQL, name the schema: Kysely's migrator otherwise finds the bookkeeping
    // tables of another schema on the same server and skips creating its own.
    await migrate(db, config.driver === 'postgres' ? (config.schema ?? 'public') : undefined);
  } catch (err) {
    await db.destroy();
    throw new GatehouseError('GH_STORE_UNAVAILABLE', {
      detail: `migration failed: ${err instanceof Error ? err.message : String(err)}`,
      cause: err,
    });
  }
  const close = async (): Promise<void> => {
    await db.destroy();
  };
  return { db, driver: config.driver, appendChain, close, [Symbol.asyncDispose]: close };
}

/** How every SQLite connection of the store is set up. */
const SQLITE_PRAGMAS = [
  'journal_mode = WAL',
  `busy_timeout = ${STORE_WAIT_MS}`,
  'foreign_keys = ON',
  'synchronous = FULL',
];

function openSqlite(
  path: string,
  inWorker: boolean,
): { readonly db: Kysely<Database>; readonly appendChain: ChainAppender | undefined } {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  if (inWorker) {
    const pragmas = SQLITE_PRAGMAS.map((p) =>
      p.startsWith('busy_timeout') ? `busy_timeout = ${SQLITE_WORKER_BUSY_MS}` : p,
    );
    const dialect = new WorkerSqliteDialect({ path, pragmas });
    const appendChain: ChainAppender = (append, trx) =>
      trx === undefined
        ? mapped(() => dialect.appendChain(append))
        : appendChainInTransaction(trx, append);
    return { db: new Kysely<Database>({ dialect: withStoreErrors(dialect) }), appendChain };
  }
  const sqlite = new SqliteDatabase(path);
  for (const pragma of SQLITE_PRAGMAS) sqlite.pragma(pragma);
  return {
    db: new Kysely<Database>({ dialect: withStoreErrors(new SqliteDialect({ database: sqlite })) }),
    appendChain: undefined,
  };
}

async function openPostgres(
  config: Extract<StoreConfig, { driver: 'postgres' }>,
): Promise<Kysely<Database>> {
  const schema = config.schema ?? 'public';
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
    throw new GatehouseError('GH_CONFIG_INVALID', {
      message: `store.schema "${schema}" is not a plain identifier`,
    });
  }
  if (schema !== 'public') {
    const client = new pg.Client({ connectionString: config.url });
    try {
      await client.connect();
      await client.query(`create schema if not exists "${schema}"`);
    } catch (err) {
      throw unavailable(err);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize ?? 10,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    options: `-c search_path=${schema}`,
    // Times are BIGINT ms; they fit in a double for the next 285,000 years.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
        oid === PG_INT8_OID
          ? Number
          : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', () => undefined);
  // pg-pool listens for a client's errors only while it is idle. A server that goes away (a
  // restart, an admin's pg_terminate_backend) while a client is checked out makes that client
  // emit 'error' after failing its queries; with no listener that would end the process. The
  // queries are told (GH_STORE_UNAVAILABLE) and the pool drops the client when it comes back.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<Database>({
    dialect: withStoreErrors(
      new PostgresDialect({ pool: waitingPool(pool, { waitMs: STORE_WAIT_MS }) }),
    ),
  });
}

async function migrate(db: Kysely<Database>, schema: string | undefined): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(db, schema);
    } catch (err) {
      // Kysely's migrator introspects every schema of the database; one dropped meanwhile
      // (another Gatehouse's or a test's) fails that look-up with 3F000. It is safe to retry.
      if (
        attempt >= MIGRATION_ATTEMPTS ||
        (err as { code?: unknown }).code !== PG_INVALID_SCHEMA_NAME
      )
        throw err;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

const MIGRATION_ATTEMPTS = 5;
const PG_INVALID_SCHEMA_NAME = '3F000';

async function migrateOnce(db: Kysely<Database>, schema: string | undefined): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider,
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error !== undefined || failed !== undefined) {
    throw error instanceof Error
      ? error
      : new Error(`migration ${failed?.migrationName ?? '?'} failed`);
  }
}

function unavailable(err: unknown): GatehouseError {
  return new GatehouseError('GH_STORE_UNAVAILABLE', {
    detail: err instanceof Error ? err.message : String(err),
    cause: err,
  });
}
