import pg from 'pg';
import { openStore, type Store } from '../../src/store/index.js';
import { makeScratchStore, TEST_PG_URL, type ScratchStore, type STORE_DRIVERS } from './stores.js';

/** The compiled store module (a URL, so TypeScript does not look for its declarations). */
const BUILT_STORE = new URL('../../dist/store/index.js', import.meta.url).href;

/**
 * The stores the audit log is tested on: SQLite in the process, SQLite in a worker thread
 * (as `gatehouse serve` opens it, with its one-message chain append) and PostgreSQL.
 */
export const AUDIT_STORE_DRIVERS = ['sqlite', 'sqlite-worker', 'postgres'] as const;
export type AuditStoreDriver =
  (typeof AUDIT_STORE_DRIVERS)[number] | (typeof STORE_DRIVERS)[number];

/**
 * A throwaway store config like `makeScratchStore`, but on PostgreSQL a whole database
 * rather than a schema. Kysely's migrator looks for its lock table in every schema of the
 * database (open.ts does not pass `migrationTableSchema`), so two scratch schemas migrated
 * at once break each other; a database of its own keeps audit tests out of that race.
 */
export async function makeAuditScratchStore(driver: AuditStoreDriver): Promise<ScratchStore> {
  if (driver === 'sqlite') return makeScratchStore('sqlite');
  if (driver === 'sqlite-worker') {
    const scratch = makeScratchStore('sqlite');
    if (scratch.config.driver !== 'sqlite') throw new Error('a SQLite scratch store was expected');
    return { ...scratch, config: { ...scratch.config, inWorker: true } };
  }
  const name = await takeDatabase();
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  return {
    config: { driver: 'postgres', url: url.toString() },
    destroy: async () => {
      // Like `drop database … with (force)`: nothing of this test stays connected.
      await adminQuery(
        `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name}' and pid <> pg_backend_pid()`,
      );
      freeDatabases.push(name);
    },
  };
}

/**
 * Scratch databases of this process free for the next test. Creating a database costs
 * PostgreSQL 0.3–1.6 s here (a copy of template1 and its syncs), emptying one 60 ms, so a
 * test's database is emptied and reused rather than dropped.
 */
const freeDatabases: string[] = [];
let databasesMade = 0;

/** An empty scratch database: a free one, or one named for this test worker. */
async function takeDatabase(): Promise<string> {
  let name = freeDatabases.pop();
  if (name === undefined) {
    // Named per vitest worker (no two run at once), so later runs reuse what earlier ones left.
    name = `gh_audit_w${process.env['VITEST_POOL_ID'] ?? `p${process.pid}`}_${databasesMade++}`;
    try {
      await adminQuery(`create database "${name}"`);
    } catch (err) {
      if ((err as { code?: unknown }).code !== PG_DUPLICATE_DATABASE) throw err;
    }
  }
  await adminQuery('drop schema if exists public cascade; create schema public', name);
  return name;
}

const PG_DUPLICATE_DATABASE = '42P04';

/** Opens a migrated {@link makeAuditScratchStore}; dispose it to close and destroy it. */
export async function openAuditScratchStore(driver: AuditStoreDriver): Promise<Store> {
  const scratch = await makeAuditScratchStore(driver);
  let store: Store;
  try {
    // The worker thread runs compiled JavaScript: open that store from the build (`npm test`
    // builds first), as `gatehouse serve` does.
    const open =
      driver === 'sqlite-worker'
        ? ((await import(BUILT_STORE)) as { openStore: typeof openStore }).openStore
        : openStore;
    store = await open(scratch.config);
  } catch (err) {
    await scratch.destroy();
    throw err;
  }
  const close = async (): Promise<void> => {
    await store.close();
    await scratch.destroy();
  };
  return {
    db: store.db,
    driver: store.driver,
    appendChain: store.appendChain,
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function adminQuery(text: string, database?: string): Promise<void> {
  const url = new URL(TEST_PG_URL);
  if (database !== undefined) url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
