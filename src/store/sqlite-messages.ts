import type { AuditEventsTable } from './schema.js';

/** What the SQLite worker thread is started with. */
export interface SqliteThreadOptions {
  readonly path: string;
  /** `journal_mode = WAL`, … applied in order when the connection opens. */
  readonly pragmas: readonly string[];
}

/** One statement to run; a request without `sql` (or `append`) closes the connection. */
export interface SqliteRequest {
  readonly id: number;
  readonly sql?: string;
  readonly params: readonly unknown[];
  /**
   * Instead of `sql`: append these audit events to the chain, in one transaction (or, inside
   * the caller's open transaction, in a savepoint of it).
   */
  readonly append?: ChainAppendMessage;
  /**
   * Run `begin` first: a transaction's `begin` rides with its first statement instead of
   * costing a round trip of its own. When `begin` fails, the statement does not run.
   */
  readonly begin?: true;
}

/** An audit event as it is chained: the stored columns but seq, time and the hashes. */
export type UnchainedEvent = Omit<AuditEventsTable, 'seq' | 'time' | 'prev_hash' | 'hash'>;

/** Audit events to append as consecutive seqs, all with time `time`. */
export interface ChainAppend {
  readonly events: readonly UnchainedEvent[];
  readonly time: number;
}

/**
 * A {@link ChainAppend} as sent to the SQLite thread: the events' columns in one flat array
 * (`unchainedColumns` in src/audit/chain.ts: type, user_name, sid, target, gateway,
 * client_addr, data of each in turn).
 */
export interface ChainAppendMessage {
  readonly columns: readonly (string | null)[];
  readonly time: number;
}

/** Where appended events landed: seqs from `firstSeq` on, after the hash `prevHash`. */
export interface ChainedEvents {
  readonly firstSeq: number;
  readonly time: number;
  readonly prevHash: string;
  /** Their hashes, in order. */
  readonly hashes: string[];
}

/** The answer to request `id`: rows (or the counts of a write), or the error it raised. */
export type SqliteResponse =
  | {
      readonly id: number;
      readonly rows: Record<string, unknown>[];
      readonly changes?: number;
      readonly lastInsertRowid?: number;
      /** The answer to an `append`. */
      readonly chained?: ChainedEvents;
      readonly error?: undefined;
    }
  | {
      readonly id: number;
      readonly error: { readonly message: string; readonly code?: string; readonly name?: string };
    };
