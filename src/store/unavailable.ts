/**
 * Store failures that pass: the SQLite file locked by another process past `busy_timeout`,
 * a PostgreSQL server restarting, failing over or out of reach. At the store's edge they become
 * GH_STORE_UNAVAILABLE, so that a login is answered "temporarily unavailable" (not "permission
 * denied") and the audit log knows an append may be tried again (src/audit/audit-log.ts).
 * Every other database error (a constraint, a syntax error) passes through unchanged.
 */
import type { DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';
import { GatehouseError, isGatehouseError } from '../core/errors.js';

/** SQLite result codes (better-sqlite3 `code`) of a lock held elsewhere or a file that cannot be opened. */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|CANTOPEN|PROTOCOL)(_|$)/;
/**
 * PostgreSQL SQLSTATEs of a connection that failed or a server that is not serving: class 08
 * (connection exception), 57P01-57P03 (admin or crash shutdown, cannot connect now), 53300
 * (too many connections).
 */
const PG_UNAVAILABLE = /^(08...|57P0[123]|53300)$/;
/** Socket errors of a server that is down or out of reach. */
const SOCKET_UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** node-postgres errors without a code (pg/lib/client.js, pg-pool). */
const PG_CLIENT_UNAVAILABLE =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable)/;

/** True when `err` says the store is locked, restarting or unreachable (worth trying again). */
export function isStoreUnavailable(err: unknown): boolean {
  if (isGatehouseError(err)) return err.code === 'GH_STORE_UNAVAILABLE';
  if (!(err instanceof Error)) return false;
  const { code, syscall } = err as { code?: unknown; syscall?: unknown };
  if (typeof code === 'string') {
    if (SQLITE_UNAVAILABLE.test(code) || PG_UNAVAILABLE.test(code)) return true;
    if (SOCKET_UNAVAILABLE.has(code)) return true;
    // A Unix socket path that is gone: the server is not running.
    if (code === 'ENOENT' && syscall === 'connect') return true;
  }
  return PG_CLIENT_UNAVAILABLE.test(err.message);
}

/** `err` as GH_STORE_UNAVAILABLE when it is one of those failures, else unchanged. */
export function asStoreError(err: unknown): unknown {
  if (isGatehouseError(err) || !isStoreUnavailable(err)) return err;
  const code = (err as { code?: unknown }).code;
  return new GatehouseError('GH_STORE_UNAVAILABLE', {
    detail: `${typeof code === 'string' ? `${code}: ` : ''}${err instanceof Error ? err.message : String(err)}`,
    cause: err,
  });
}

/** A dialect whose driver reports passing failures as GH_STORE_UNAVAILABLE (see {@link asStoreError}). */
export function withStoreErrors(dialect: Dialect): Dialect {
  return {
    createDriver: () => new StoreErrorDriver(dialect.createDriver()),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  };
}

/** Runs `work`, turning an unavailable store's error into GH_STORE_UNAVAILABLE. */
export async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw asStoreError(err);
  }
}

/**
 * Hands out wrapped connections and gives the inner driver its own connection back (drivers
 * keep private state on it, e.g. Kysely's PostgreSQL release hook).
 */
class StoreErrorDriver implements Driver {
  readonly #inner: Driver;
  readonly #innerOf = new WeakMap<DatabaseConnection, DatabaseConnection>();

  constructor(inner: Driver) {
    this.#inner = inner;
  }

  init(): Promise<void> {
    return mapped(() => this.#inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await mapped(() => this.#inner.acquireConnection());
    const outer: DatabaseConnection = {
      executeQuery: <R>(query: Parameters<DatabaseConnection['executeQuery']>[0]) =>
        mapped<QueryResult<R>>(() => inner.executeQuery<R>(query)),
      streamQuery: <R>(
        query: Parameters<DatabaseConnection['streamQuery']>[0],
        chunkSize?: number,
      ): AsyncIterableIterator<QueryResult<R>> =>
        mappedStream(inner.streamQuery<R>(query, chunkSize)),
    };
    this.#innerOf.set(outer, inner);
    return outer;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return mapped(() => this.#inner.beginTransaction(this.#unwrap(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return mapped(() => this.#inner.commitTransaction(this.#unwrap(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return mapped(() => this.#inner.rollbackTransaction(this.#unwrap(connection)));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(this.#unwrap(connection));
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }

  #unwrap(connection: DatabaseConnection): DatabaseConnection {
    return this.#innerOf.get(connection) ?? connection;
  }
}

async function* mappedStream<R>(
  stream: AsyncIterableIterator<QueryResult<R>>,
): AsyncIterableIterator<QueryResult<R>> {
  try {
    yield* stream;
  } catch (err) {
    throw asStoreError(err);
  }
}

/** What {@link waitingPool} wraps: node-postgres's `Pool` as Kysely uses it. */
export interface ConnectablePool<C> {
  connect(): Promise<C>;
  end(): Promise<void>;
}

/**
 * A pool whose `connect` keeps trying, for up to `waitMs`, while the server is down or
 * restarting: the PostgreSQL counterpart of SQLite's `busy_timeout`. A statement waits for a
 * short restart or failover instead of failing; nothing has run yet, so trying again is safe.
 */
export function waitingPool<C>(
  pool: ConnectablePool<C>,
  options: { readonly waitMs: number; readonly sleep?: (ms: number) => Promise<void> },
): ConnectablePool<C> {
  const sleep =
    options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return {
    connect: async () => {
      const deadline = Date.now() + options.waitMs;
      for (let delayMs = 50; ; delayMs = Math.min(1_000, delayMs * 2)) {
        try {
          return await pool.connect();
        } catch (err) {
          if (!isStoreUnavailable(err) || Date.now() + delayMs > deadline) throw err;
          await sleep(delayMs);
        }
      }
    },
    end: () => pool.end(),
  };
}
