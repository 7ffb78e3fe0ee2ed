/**
 * The worker thread behind {@link WorkerSqliteDriver} (src/store/sqlite-worker.ts): it owns the
 * SQLite connection and runs each statement it is sent, so that a commit's disk sync blocks
 * this thread and not the gateway's event loop. Statements run one at a time, in the order
 * they arrive; the driver's mutex keeps a transaction's statements together. An `append`
 * request is a whole transaction (audit events chained), sent as one message; inside a
 * transaction already open, better-sqlite3 runs it as a savepoint of that one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import { appendChainSync } from '../audit/chain-sync.js';
import type { SqliteRequest, SqliteResponse, SqliteThreadOptions } from './sqlite-messages.js';

/** Prepared statements kept per connection (the store's SQL is a small fixed set). */
const MAX_CACHED_STATEMENTS = 256;

const options = workerData as SqliteThreadOptions;
const port = parentPort;
if (port === null) throw new Error('sqlite-thread.js runs as a worker thread only');

let db: SqliteDatabase.Database;
try {
  db = new SqliteDatabase(options.path);
  for (const pragma of options.pragmas) db.pragma(pragma);
  port.postMessage({ id: 0, rows: [] } satisfies SqliteResponse);
} catch (err) {
  port.postMessage({ id: 0, error: describe(err) } satisfies SqliteResponse);
  throw err;
}

const statements = new Map<string, SqliteDatabase.Statement>();

port.on('message', (request: SqliteRequest) => {
  if (request.begin === true) {
    try {
      prepare('begin').run();
    } catch (err) {
      port.postMessage({ id: request.id, error: describe(err) } satisfies SqliteResponse);
      return;
    }
  }
  if (request.append !== undefined) {
    let response: SqliteResponse;
    try {
      response = {
        id: request.id,
        rows: [],
        chained: appendChainSync(db, prepare, request.append),
      };
    } catch (err) {
      response = { id: request.id, error: describe(err) };
    }
    port.postMessage(response);
    return;
  }
  if (request.sql === undefined) {
    db.close();
    port.close();
    return;
  }
  let response: SqliteResponse;
  try {
    const stmt = prepare(request.sql);
    // Buffers arrive as Uint8Arrays (structured clone); better-sqlite3 binds Buffers.
    const params = request.params.some(isPlainBytes)
      ? request.params.map((p) =>
          isPlainBytes(p) ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p,
        )
      : request.params;
    if (stmt.reader)
      response = { id: request.id, rows: stmt.all(...params) as Record<string, unknown>[] };
    else {
      const { changes, lastInsertRowid } = stmt.run(...params);
      response = { id: request.id, rows: [], changes, lastInsertRowid: Number(lastInsertRowid) };
    }
  } catch (err) {
    response = { id: request.id, error: describe(err) };
  }
  port.postMessage(response);
});

function isPlainBytes(p: unknown): p is Uint8Array {
  return p instanceof Uint8Array && !Buffer.isBuffer(p);
}

function prepare(sql: string): SqliteDatabase.Statement {
  let stmt = statements.get(sql);
  if (stmt === undefined) {
    stmt = db.prepare(sql);
    if (statements.size >= MAX_CACHED_STATEMENTS)
      statements.delete(statements.keys().next().value as string);
    statements.set(sql, stmt);
  }
  return stmt;
}

function describe(err: unknown): { message: string; code?: string; name?: string } {
  if (!(err instanceof Error)) return { message: String(err) };
  const code = (err as { code?: unknown }).code;
  return { message: err.message, name: err.name, ...(typeof code === 'string' ? { code } : {}) };
}
