import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { parse as parseYaml } from 'yaml';
import type { RunningGatehouse } from './gatehouse.js';

/** One audit event, with the fields `gatehouse audit tail --json` prints. */
export interface AuditLine {
  readonly seq: number;
  readonly type: string;
  readonly user: string | null;
  readonly sid: string | null;
  readonly target: string | null;
  readonly clientAddr: string | null;
  readonly data: Record<string, unknown>;
}

/** The SQLite store of a running Gatehouse, from its config (`store.path`, relative to the data dir). */
export function gatehouseStorePath(gatehouse: RunningGatehouse): string {
  const config = parseYaml(readFileSync(gatehouse.configPath, 'utf8')) as {
    store?: { driver?: string; path?: string };
  };
  if (config.store?.driver !== 'sqlite') throw new Error('reading the store needs a SQLite store');
  return resolve(gatehouse.dir, config.store.path ?? 'gatehouse.db');
}

/**
 * Runs `read` on a read-only connection to the store. WAL mode: a reader never blocks the
 * server's writes, and reading is milliseconds where `gatehouse audit tail` takes seconds.
 */
export function readGatehouseStore<T>(
  gatehouse: RunningGatehouse,
  read: (db: SqliteDatabase.Database) => T,
): T {
  const db = new SqliteDatabase(gatehouseStorePath(gatehouse), {
    readonly: true,
    fileMustExist: true,
  });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** Audit events with `seq > afterSeq`, oldest first, straight from the store. */
export function readAuditEvents(gatehouse: RunningGatehouse, afterSeq = 0): AuditLine[] {
  return readGatehouseStore(gatehouse, (db) => {
    const rows = db
      .prepare(
        'select seq, type, user_name, sid, target, client_addr, data from audit_events where seq > ? order by seq',
      )
      .all(afterSeq) as {
      seq: number;
      type: string;
      user_name: string | null;
      sid: string | null;
      target: string | null;
      client_addr: string | null;
      data: string;
    }[];
    return rows.map((r) => ({
      seq: r.seq,
      type: r.type,
      user: r.user_name,
      sid: r.sid,
      target: r.target,
      clientAddr: r.client_addr,
      data: JSON.parse(r.data) as Record<string, unknown>,
    }));
  });
}

/** The highest audit `seq` so far (0 for an empty chain). */
export function lastAuditSeq(gatehouse: RunningGatehouse): number {
  return readGatehouseStore(gatehouse, (db) => {
    const row = db.prepare('select max(seq) as seq from audit_events').get() as {
      seq: number | null;
    };
    return row.seq ?? 0;
  });
}
