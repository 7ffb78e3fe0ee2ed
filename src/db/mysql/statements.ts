import { LAST_PREPARED_STMT_ID } from './protocol/index.js';

/** What the gateway remembers of a prepared statement, to audit its executions. */
export interface PreparedStatement {
  readonly id: number;
  /** Statement text as prepared (the head of it when long). */
  readonly sql: string;
  readonly isSqlCut: boolean;
  readonly numParams: number;
  /** Parameter types bound by the last execute that sent them. */
  types: Buffer | undefined;
  /** COM_STMT_SEND_LONG_DATA bytes per parameter since the last execute or reset. */
  readonly longData: Map<number, number>;
}

/** Most statements remembered per connection (the server's own default limit is 16382 overall). */
export const MAX_TRACKED_STATEMENTS = 16_384;
/** Statement text kept per connection, in UTF-16 code units, before texts are cut harder. */
const TEXT_BUDGET = 8 * 1024 * 1024;
/** Text kept of one statement when the budget is spent. */
const TEXT_WHEN_OVER_BUDGET = 1024;

/**
 * The prepared statements of one connection (COM_STMT_PREPARE → id), for the audit trail only:
 * relaying never depends on it. Bounded in count and text.
 */
export class StatementRegistry {
  readonly #byId = new Map<number, PreparedStatement>();
  #lastId: number | undefined;
  #textChars = 0;

  /** Records a statement the target prepared. */
  add(id: number, sql: string, options: { isSqlCut: boolean; numParams: number }): void {
    this.delete(id);
    if (this.#byId.size >= MAX_TRACKED_STATEMENTS) {
      const oldest = this.#byId.keys().next();
      if (oldest.done !== true) this.delete(oldest.value);
    }
    const isOver = this.#textChars + sql.length > TEXT_BUDGET;
    const kept = isOver ? sql.slice(0, TEXT_WHEN_OVER_BUDGET) : sql;
    this.#textChars += kept.length;
    this.#byId.set(id, {
      id,
      sql: kept,
      isSqlCut: options.isSqlCut || kept.length < sql.length,
      numParams: options.numParams,
      types: undefined,
      longData: new Map(),
    });
    this.#lastId = id;
  }

  /** A statement by id; 0xFFFFFFFF names the last one prepared (MariaDB). */
  get(id: number): PreparedStatement | undefined {
    return this.#byId.get(
      id === LAST_PREPARED_STMT_ID && this.#lastId !== undefined ? this.#lastId : id,
    );
  }

  /** Forgets a statement (COM_STMT_CLOSE). */
  delete(id: number): void {
    const found = this.#byId.get(id);
    if (found === undefined) return;
    this.#textChars -= found.sql.length;
    this.#byId.delete(id);
  }

  /** Notes long data sent for a parameter. */
  addLongData(id: number, paramId: number, bytes: number): void {
    const stmt = this.get(id);
    if (stmt === undefined || paramId >= stmt.numParams) return;
    stmt.longData.set(paramId, (stmt.longData.get(paramId) ?? 0) + Math.max(0, bytes));
  }

  /** Forgets every statement (COM_RESET_CONNECTION). */
  clear(): void {
    this.#byId.clear();
    this.#textChars = 0;
    this.#lastId = undefined;
  }

  /** Statements remembered. */
  get size(): number {
    return this.#byId.size;
  }
}
