import type SqliteDatabase from 'better-sqlite3';
import type { ChainAppendMessage, ChainedEvents } from '../store/sqlite-messages.js';
import {
  AUDIT_COLUMNS,
  chainRows,
  chunkSizes,
  insertSql,
  lastHash,
  UNCHAINED_COLUMNS,
} from './chain.js';

const MOVE_HEAD =
  'update "audit_head" set "seq" = "seq" + ? where "id" = 1 returning "seq", "hash"';
const SET_HEAD_HASH = 'update "audit_head" set "hash" = ? where "id" = 1';
const ONE_ROW_INSERT = `insert into "audit_events" (${AUDIT_COLUMNS.map((c) => `"${c}"`).join(', ')}) values (${AUDIT_COLUMNS.map(() => '?').join(', ')})`;

/**
 * {@link appendManyToChain} for the SQLite thread (src/store/sqlite-thread.ts): the same rows,
 * hashes and head, in one `BEGIN IMMEDIATE` transaction run synchronously on the connection, so
 * the gateway's event loop sends one message per group of events instead of a round trip per
 * statement (on a busy event loop each round trip waits a whole turn, holding the store).
 */
export function appendChainSync(
  db: SqliteDatabase.Database,
  prepare: (sql: string) => SqliteDatabase.Statement,
  append: ChainAppendMessage,
): ChainedEvents {
  const { columns, time } = append;
  const count = columns.length / UNCHAINED_COLUMNS.length;
  if (count === 0) throw new Error('no events to append');
  const run = db.transaction((): ChainedEvents => {
    const head = prepare(MOVE_HEAD).get(count) as
      { readonly seq: number; readonly hash: string } | undefined;
    if (head === undefined) throw new Error('audit_head row is missing');
    const { params, chained } = chainRows(columns, head.seq - count + 1, head.hash, time);
    let done = 0;
    for (const rows of chunkSizes(count)) {
      const values = params.slice(
        done * AUDIT_COLUMNS.length,
        (done + rows) * AUDIT_COLUMNS.length,
      );
      prepare(insertSql(ONE_ROW_INSERT, rows)).run(...values);
      done += rows;
    }
    prepare(SET_HEAD_HASH).run(lastHash(chained));
    return chained;
  });
  return run.immediate();
}
