import { randomBytes } from 'node:crypto';
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
  const name = `gh_audit_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database "${name}"`);
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  return {
    config: { driver: 'postgres', url: url.toString() },
    destroy: () => adminQuery(`drop database if exists "${name}" with (force)`),
  };
}

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

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
