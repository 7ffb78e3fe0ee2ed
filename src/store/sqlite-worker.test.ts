import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeAuditScratchStore, openAuditScratchStore } from '../../test/support/audit-stores.js';
import type { ChainAppender, Store, StoreConfig } from './open.js';
import type { UnchainedEvent } from './sqlite-messages.js';

/** The compiled store module: the SQLite thread runs compiled JavaScript (`npm test` builds first). */
const BUILT_STORE = new URL('../../dist/store/index.js', import.meta.url).href;

const event = (type: string): UnchainedEvent => ({
  type,
  user_name: 'alice',
  sid: null,
  target: null,
  gateway: null,
  client_addr: null,
  data: '{}',
});

function appenderOf(store: Store): ChainAppender {
  if (store.appendChain === undefined) throw new Error('a SQLite store in a worker was expected');
  return store.appendChain;
}

async function storedFacts(
  store: Store,
): Promise<{ kv: string[]; events: number; headSeq: number | undefined }> {
  const kv = await store.db.selectFrom('kv').select('key').orderBy('key').execute();
  const events = await store.db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const head = await store.db.selectFrom('audit_head').select('seq').executeTakeFirst();
  return { kv: kv.map((r) => r.key), events: Number(events.n), headSeq: head?.seq };
}

describe('SQLite store in a worker thread: a transaction in few messages', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('a-transaction-with-an-audit-append-costs-three-messages-and-commits-both', async () => {
    await using store = await openAuditScratchStore('sqlite-worker');
    const append = appenderOf(store);
    const sent = vi.spyOn(Worker.prototype, 'postMessage');
    await store.db.transaction().execute(async (trx) => {
      await trx.insertInto('kv').values({ key: 'change', value: '1' }).execute();
      await append(() => ({ events: [event('admin.target.add')], time: 1 }), trx);
    });
    // `begin` with the insert, the append (not its three statements), `commit`.
    expect(sent).toHaveBeenCalledTimes(3);
    expect(await storedFacts(store)).toEqual({ kv: ['change'], events: 1, headSeq: 1 });
  });

  it('a-failing-first-statement-that-carried-begin-leaves-no-transaction-open', async () => {
    const scratch = await makeAuditScratchStore('sqlite-worker');
    try {
      const store = await openBuiltStoreAt(scratch.config);
      await store.db.insertInto('kv').values({ key: 'taken', value: '1' }).execute();
      const failing = store.db.transaction().execute(async (trx) => {
        await trx.insertInto('kv').values({ key: 'taken', value: '2' }).execute();
      });
      await expect(failing).rejects.toThrow(/UNIQUE/);
      // Were the transaction left open, this write would join it and be lost at close.
      await store.db.insertInto('kv').values({ key: 'after', value: '1' }).execute();
      await store.close();
      await using reopened = await openBuiltStoreAt(scratch.config);
      expect(await storedFacts(reopened)).toEqual({
        kv: ['after', 'taken'],
        events: 0,
        headSeq: 0,
      });
    } finally {
      await scratch.destroy();
    }
  });

  it('a-statement-failing-after-an-append-rolls-back-the-append-and-the-earlier-writes', async () => {
    await using store = await openAuditScratchStore('sqlite-worker');
    const append = appenderOf(store);
    await store.db.insertInto('kv').values({ key: 'taken', value: '1' }).execute();
    const failing = store.db.transaction().execute(async (trx) => {
      await trx.insertInto('kv').values({ key: 'change', value: '1' }).execute();
      await append(() => ({ events: [event('admin.target.add')], time: 1 }), trx);
      await trx.insertInto('kv').values({ key: 'taken', value: '2' }).execute();
    });
    await expect(failing).rejects.toThrow(/UNIQUE/);
    expect(await storedFacts(store)).toEqual({ kv: ['taken'], events: 0, headSeq: 0 });
  });

  it('a-failing-append-rolls-back-the-earlier-writes-of-its-transaction', async () => {
    await using store = await openAuditScratchStore('sqlite-worker');
    const append = appenderOf(store);
    // A row squatting seq 1: the append's insert fails after it moved the head.
    await store.db
      .insertInto('audit_events')
      .values({ ...event('session.start'), seq: 1, time: 0, prev_hash: 'x', hash: 'y' })
      .execute();
    const failing = store.db.transaction().execute(async (trx) => {
      await trx.insertInto('kv').values({ key: 'change', value: '1' }).execute();
      await append(() => ({ events: [event('admin.target.add')], time: 1 }), trx);
    });
    await expect(failing).rejects.toThrow(/UNIQUE|PRIMARY/);
    expect(await storedFacts(store)).toEqual({ kv: [], events: 1, headSeq: 0 });
  });

  it(
    'a-process-killed-mid-transaction-leaves-nothing-of-it-written',
    { timeout: 60_000 },
    async () => {
      const scratch = await makeAuditScratchStore('sqlite-worker');
      try {
        await holdTransactionAndDie(scratch.config);
        await using store = await openBuiltStoreAt(scratch.config);
        expect(await storedFacts(store)).toEqual({ kv: [], events: 0, headSeq: 0 });
        // The store works on: the lock the dead process held is gone.
        await store.db.insertInto('kv').values({ key: 'after', value: '1' }).execute();
      } finally {
        await scratch.destroy();
      }
    },
  );
});

async function openBuiltStoreAt(config: StoreConfig): Promise<Store> {
  const { openStore } = (await import(BUILT_STORE)) as typeof import('./open.js');
  return openStore(config);
}

/**
 * In a child process: opens the store in a worker, writes a row and an audit event in one
 * transaction, says `written` and waits; the parent kills it with SIGKILL before the commit.
 */
async function holdTransactionAndDie(config: StoreConfig): Promise<void> {
  const script = `
    const { openStore } = await import(${JSON.stringify(BUILT_STORE)});
    const store = await openStore(JSON.parse(process.env.GH_STORE));
    await store.db.transaction().execute(async (trx) => {
      await trx.insertInto('kv').values({ key: 'half', value: '1' }).execute();
      await store.appendChain(() => ({ events: [${JSON.stringify(event('admin.target.add'))}], time: 1 }), trx);
      process.stdout.write('written\\n');
      await new Promise(() => {});
    });`;
  // A file, not `--input-type=module -e`: the worker thread would inherit that flag and fail.
  const dir = mkdtempSync(join(tmpdir(), 'gh-crash-'));
  const file = join(dir, 'hold-transaction.mjs');
  writeFileSync(file, script);
  const child = spawn(process.execPath, [file], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    env: { ...process.env, GH_STORE: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      if (text.includes('written')) resolve();
    });
    void exited.then(() => reject(new Error(`the child exited before writing: ${stderr}`)));
  });
  child.kill('SIGKILL');
  await exited;
  rmSync(dir, { recursive: true, force: true });
}
