import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/index.js';
import { makeScratchStore, TEST_PG_URL, type ScratchStore, type STORE_DRIVERS } from './stores.js';

/**
 * A throwaway store config like `makeScratchStore`, but on PostgreSQL a whole database
 * rather than a schema. Kysely's migrator looks for its lock table in every schema of the
 * database (open.ts does not pass `migrationTableSchema`), so two scratch schemas migrated
 * at once break each other; a database of its own keeps audit tests out of that race.
 */
export async function makeAuditScratchStore(
  driver: (typeof STORE_DRIVERS)[number],
): Promise<ScratchStore> {
  if (driver === 'sqlite') return makeScratchStore('sqlite');
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
export async function openAuditScratchStore(
  driver: (typeof STORE_DRIVERS)[number],
): Promise<Store> {
  const scratch = await makeAuditScratchStore(driver);
  let store: Store;
  try {
    store = await openStore(scratch.config);
  } catch (err) {
    await scratch.destroy();
    throw err;
  }
  const close = async (): Promise<void> => {
    await store.close();
    await scratch.destroy();
  };
  return { db: store.db, driver: store.driver, close, [Symbol.asyncDispose]: close };
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
