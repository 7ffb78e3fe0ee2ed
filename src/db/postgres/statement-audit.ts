import type { QueryAuditor } from '../query-audit.js';
import type { PortalInfo, StatementInfo } from './prepared-statements.js';

/** A simple Query in flight: its commands and rows add up until ReadyForQuery. */
export interface QueryRun {
  readonly sql: string | undefined;
  readonly isSqlCut: boolean;
  readonly start: number;
  readonly commands: string[];
  rows: number | null;
  dataRows: number;
  sqlstate?: string;
  error?: string;
}

/** A FunctionCall in flight, until ReadyForQuery. */
export interface FunctionRun {
  readonly oid: number;
  readonly start: number;
  sqlstate?: string;
  error?: string;
}

/** An Execute in flight: the portal it runs and the DataRows counted so far. */
export interface ExecuteRun {
  readonly portal: string;
  readonly info: PortalInfo | undefined;
  readonly start: number;
  dataRows: number;
}

/** How an Execute ended: its command tag, an error, or suspended at its row limit. */
export interface ExecuteOutcome {
  readonly tag?: string;
  readonly sqlstate?: string;
  readonly error?: string;
  readonly isSuspended?: boolean;
}

/** A Parse or Bind the target refused, with what is known of its statement. */
export interface ExtendedFailure {
  readonly statement: string;
  readonly portal?: string;
  readonly params?: PortalInfo;
  readonly start: number;
  readonly sqlstate: string;
  readonly error: string;
}

/** Turns finished statements of the PostgreSQL conversation into the auditor's records. */
export class StatementAudit {
  readonly #auditor: QueryAuditor;
  readonly #clock: () => number;

  constructor(auditor: QueryAuditor, clock: () => number) {
    this.#auditor = auditor;
    this.#clock = clock;
  }

  /** A simple Query answered by ReadyForQuery. */
  query(run: QueryRun): void {
    this.#auditor.recordStatement({
      mode: 'simple',
      sql: run.sql,
      isSqlCut: run.isSqlCut,
      durationMs: this.#clock() - run.start,
      rows: run.rows,
      commands: run.commands,
      ...(run.sqlstate === undefined ? {} : { sqlstate: run.sqlstate, error: run.error ?? '' }),
    });
  }

  /** A FunctionCall answered by ReadyForQuery. */
  functionCall(run: FunctionRun): void {
    this.#auditor.recordStatement({
      mode: 'function',
      sql: undefined,
      durationMs: this.#clock() - run.start,
      rows: null,
      commands: [`FUNCTION CALL ${run.oid}`],
      ...(run.sqlstate === undefined ? {} : { sqlstate: run.sqlstate, error: run.error ?? '' }),
    });
  }

  /** An Execute that ended (completed, empty, suspended or failed). */
  execute(run: ExecuteRun, outcome: ExecuteOutcome): void {
    const rows =
      outcome.tag !== undefined
        ? (rowsOfTag(outcome.tag) ?? (run.dataRows > 0 ? run.dataRows : null))
        : run.dataRows > 0
          ? run.dataRows
          : null;
    this.#auditor.recordStatement({
      mode: 'extended',
      sql: run.info?.sql,
      isSqlCut: run.info?.isSqlCut ?? false,
      ...(run.info === undefined
        ? {}
        : {
            params: run.info.params,
            isParamsCut: run.info.isParamsCut,
            statement: run.info.statement,
          }),
      portal: run.portal,
      durationMs: this.#clock() - run.start,
      rows,
      ...(outcome.tag === undefined ? {} : { commands: [outcome.tag] }),
      ...(outcome.sqlstate === undefined
        ? {}
        : { sqlstate: outcome.sqlstate, error: outcome.error ?? '' }),
      ...(outcome.isSuspended === true ? { isSuspended: true } : {}),
    });
  }

  /** A Parse or Bind the target refused: the statement failed before it ran. */
  failure(info: StatementInfo, o: ExtendedFailure): void {
    this.#auditor.recordStatement({
      mode: 'extended',
      sql: info.sql,
      isSqlCut: info.isSqlCut,
      statement: o.statement,
      ...(o.portal === undefined ? {} : { portal: o.portal }),
      ...(o.params === undefined
        ? {}
        : { params: o.params.params, isParamsCut: o.params.isParamsCut }),
      durationMs: this.#clock() - o.start,
      rows: null,
      sqlstate: o.sqlstate,
      error: o.error,
    });
  }
}

/** Rows a command tag reports (`SELECT 5`, `INSERT 0 3`, `COPY 100000`); null when none. */
export function rowsOfTag(tag: string): number | null {
  const parts = tag.split(' ');
  const count = parts.at(-1) ?? '';
  if (parts.length < 2 || !ROW_COMMANDS.has(parts[0] ?? '') || !/^\d+$/.test(count)) return null;
  return Number(count);
}

const ROW_COMMANDS = new Set([
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'MERGE',
  'FETCH',
  'MOVE',
  'COPY',
]);
