import { Worker } from 'node:worker_threads';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type Transaction,
} from 'kysely';
import type { Database } from './schema.js';
import type {
  ChainAppend,
  ChainAppendMessage,
  ChainedEvents,
  SqliteRequest,
  SqliteResponse,
  SqliteThreadOptions,
} from './sqlite-messages.js';
import { unchainedColumns } from '../audit/chain.js';

/**
 * A Kysely dialect for SQLite whose one connection lives in a worker thread
 * (src/store/sqlite-thread.ts). better-sqlite3 is synchronous: on the main thread every
 * commit's disk sync (`synchronous = FULL`) stops the event loop, and with it every relayed
 * session, for the length of an fsync (milliseconds, tens of them on a busy disk). Here the
 * worker waits for the disk and the event loop goes on. Semantics are those of Kysely's
 * SqliteDialect: one connection, held by one transaction at a time.
 *
 * Each message to the thread and back costs the gateway a turn of its event loop, which at full
 * load lasts 0.1–1.5 s (docs/soak.md); so a transaction's `begin` goes with its first statement,
 * and an audit append inside a transaction ({@link appendChainInTransaction}) is one message
 * rather than three statements.
 */
export class WorkerSqliteDialect implements Dialect {
  readonly #options: SqliteThreadOptions;
  #driver: WorkerSqliteDriver | undefined;

  constructor(options: SqliteThreadOptions) {
    this.#options = options;
  }

  createDriver(): Driver {
    this.#driver = new WorkerSqliteDriver(this.#options);
    return this.#driver;
  }

  /**
   * Appends audit events to the chain in one transaction and one message to the thread, in
   * turn with Kysely's transactions; `append` is called once the connection is ours (its time
   * then follows the order of commits).
   */
  appendChain(append: () => ChainAppend): Promise<ChainedEvents> {
    if (this.#driver === undefined) throw new Error('the SQLite driver is not initialized');
    return this.#driver.appendChain(append);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

/** An error the SQLite thread raised, with better-sqlite3's `code` (e.g. `SQLITE_CONSTRAINT_UNIQUE`). */
export class SqliteThreadError extends Error {
  readonly code: string | undefined;

  constructor(error: { readonly message: string; readonly code?: string }) {
    super(error.message);
    this.name = 'SqliteError';
    this.code = error.code;
  }
}

/** A statement that appends audit events in the caller's transaction, run by the SQLite thread. */
interface ChainAppendQuery extends CompiledQuery {
  readonly chainAppend: ChainAppendMessage;
}

/**
 * Appends audit events inside `trx`, a transaction of a {@link WorkerSqliteDialect} store, as
 * one message to the SQLite thread: the thread chains and inserts them in a savepoint of the
 * transaction, which commits or rolls back with the caller's other changes.
 */
export async function appendChainInTransaction(
  trx: Transaction<Database>,
  append: () => ChainAppend,
): Promise<ChainedEvents> {
  const { events, time } = append(); // the transaction holds the connection: it is our turn
  const query: ChainAppendQuery = {
    ...CompiledQuery.raw('-- audit chain append'),
    chainAppend: { columns: unchainedColumns(events), time },
  };
  const { rows } = await trx.executeQuery<ChainedEvents>(query);
  const chained = rows[0];
  if (chained === undefined) throw new Error('the SQLite thread did not chain');
  return chained;
}

function isChainAppendQuery(query: CompiledQuery): query is ChainAppendQuery {
  return 'chainAppend' in query;
}

class WorkerSqliteDriver implements Driver {
  readonly #options: SqliteThreadOptions;
  readonly #waiting = new Map<number, (response: SqliteResponse) => void>();
  #worker: Worker | undefined;
  #nextId = 1;
  #connection: DatabaseConnection | undefined;
  /** Resolves when the connection is free; each holder chains the next. */
  #lock: Promise<void> = Promise.resolve();
  #unlock: (() => void) | undefined;
  #failure: Error | undefined;
  /** A transaction began and no statement of it was sent yet: the first one carries `begin`. */
  #isBeginPending = false;

  constructor(options: SqliteThreadOptions) {
    this.#options = options;
  }

  async init(): Promise<void> {
    const worker = new Worker(new URL('./sqlite-thread.js', import.meta.url), {
      workerData: this.#options,
    });
    this.#worker = worker;
    const opened = new Promise<void>((resolve, reject) => {
      this.#waiting.set(0, (response) =>
        response.error === undefined ? resolve() : reject(new SqliteThreadError(response.error)),
      );
    });
    worker.on('message', (response: SqliteResponse) => {
      const wake = this.#waiting.get(response.id);
      this.#waiting.delete(response.id);
      wake?.(response);
    });
    const fail = (err: Error): void => {
      this.#failure ??= err;
      for (const wake of this.#waiting.values())
        wake({ id: -1, error: { message: `the SQLite thread stopped: ${err.message}` } });
      this.#waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    await opened;
    this.#connection = {
      executeQuery: (query) => this.#execute(query),
      streamQuery: () => unsupportedStream(),
    };
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#lock;
    let release!: () => void;
    this.#lock = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.#unlock = release;
    if (this.#connection === undefined) throw new Error('the SQLite driver is not initialized');
    return this.#connection;
  }

  async appendChain(append: () => ChainAppend): Promise<ChainedEvents> {
    await this.acquireConnection();
    try {
      const { events, time } = append();
      const columns = unchainedColumns(events);
      const response = await this.#send({ id: 0, params: [], append: { columns, time } });
      if (response.chained === undefined) throw new Error('the SQLite thread did not chain');
      return response.chained;
    } finally {
      await this.releaseConnection();
    }
  }

  beginTransaction(): Promise<void> {
    this.#isBeginPending = true;
    return Promise.resolve();
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    // A transaction that sent nothing never began in the thread.
    if (this.#isBeginPending) this.#isBeginPending = false;
    else await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#isBeginPending) this.#isBeginPending = false;
    else await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  releaseConnection(): Promise<void> {
    const unlock = this.#unlock;
    this.#unlock = undefined;
    unlock?.();
    return Promise.resolve();
  }

  async destroy(): Promise<void> {
    const worker = this.#worker;
    if (worker === undefined) return;
    this.#worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ id: 0, params: [] } satisfies SqliteRequest);
    await exited;
  }

  async #execute<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const begin = this.#isBeginPending ? ({ begin: true } as const) : {};
    this.#isBeginPending = false;
    if (isChainAppendQuery(query)) {
      const response = await this.#send({ id: 0, params: [], append: query.chainAppend, ...begin });
      if (response.chained === undefined) throw new Error('the SQLite thread did not chain');
      return { rows: [response.chained as R] };
    }
    const response = await this.#send({
      id: 0,
      sql: query.sql,
      params: query.parameters,
      ...begin,
    });
    return {
      rows: response.rows.map(withBuffers) as R[],
      ...(response.changes === undefined ? {} : { numAffectedRows: BigInt(response.changes) }),
      ...(response.lastInsertRowid === undefined
        ? {}
        : { insertId: BigInt(response.lastInsertRowid) }),
    };
  }

  /** Sends `request` (its id replaced by a fresh one); resolves with the thread's answer. */
  #send(request: SqliteRequest): Promise<Extract<SqliteResponse, { error?: undefined }>> {
    const worker = this.#worker;
    if (worker === undefined || this.#failure !== undefined)
      return Promise.reject(
        new SqliteThreadError({
          message: `the SQLite thread is not running${this.#failure === undefined ? '' : `: ${this.#failure.message}`}`,
        }),
      );
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, (response) => {
        if (response.error !== undefined) return reject(new SqliteThreadError(response.error));
        resolve(response);
      });
      worker.postMessage({ ...request, id } satisfies SqliteRequest);
    });
  }
}

// Blobs come back as Uint8Arrays (structured clone); the rest of the code expects Buffers.
function withBuffers(row: Record<string, unknown>): Record<string, unknown> {
  for (const key in row) {
    const value = row[key];
    if (value instanceof Uint8Array && !Buffer.isBuffer(value))
      row[key] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  return row;
}

function unsupportedStream(): never {
  throw new Error('streaming queries are not supported by the SQLite worker driver');
}
