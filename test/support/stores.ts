import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore, type Store, type StoreConfig } from '../../src/store/index.js';

/** PostgreSQL server used by tests (the machine's service, trust auth). */
export const TEST_PG_URL =
  process.env['GATEHOUSE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The store drivers every store test runs on. */
export const STORE_DRIVERS = ['sqlite', 'postgres'] as const;

/** A throwaway store config: a temp SQLite file or a fresh PostgreSQL schema. */
export interface ScratchStore {
  readonly config: StoreConfig;
  /** Removes the file or drops the schema. */
  destroy(): Promise<void>;
}

/** Makes a throwaway store config for `driver`. */
export function makeScratchStore(driver: (typeof STORE_DRIVERS)[number]): ScratchStore {
  if (driver === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'gh-store-'));
    return {
      config: { driver: 'sqlite', path: join(dir, 'gatehouse.db') },
      destroy: () => {
        rmSync(dir, { recursive: true, force: true });
        return Promise.resolve();
      },
    };
  }
  const schema = `gh_test_${randomBytes(6).toString('hex')}`;
  return {
    config: { driver: 'postgres', url: TEST_PG_URL, schema },
    destroy: async () => {
      const client = new pg.Client({ connectionString: TEST_PG_URL });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    },
  };
}

/** Opens a migrated throwaway store; dispose it to close and destroy it. */
export async function openScratchStore(driver: (typeof STORE_DRIVERS)[number]): Promise<Store> {
  const scratch = makeScratchStore(driver);
  const store = await openStore(scratch.config).catch(async (err: unknown) => {
    await scratch.destroy();
    throw err;
  });
  const close = async (): Promise<void> => {
    await store.close();
    await scratch.destroy();
  };
  return { db: store.db, driver: store.driver, close, [Symbol.asyncDispose]: close };
}
