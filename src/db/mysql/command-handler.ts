import type { DbStatement, QueryAuditor } from '../query-audit.js';
import { gatehouseErr } from './errors.js';
import {
  Command,
  ErrorCode,
  commandName,
  decodeCommand,
  decodeExecuteParams,
  encodeQuery,
  type ClientCommand,
  type ErrPacket,
  type ParamValue,
} from './protocol/index.js';
import {
  RELAYED_COMMANDS,
  type CommandAction,
  type CommandHead,
  type CommandOutcome,
  type RelayHandler,
} from './relay-handler.js';
import type { StatementRegistry } from './statements.js';
import { checkQuery, parseKill, type QueryVerdict } from './statement-policy.js';

/** What the handler remembers about a command until it is done. */
export type CommandContext =
  | { readonly kind: 'query'; readonly sql: string; readonly isSqlCut: boolean }
  | { readonly kind: 'prepare'; readonly sql: string; readonly isSqlCut: boolean }
  | {
      readonly kind: 'execute';
      readonly statementId: number;
      readonly sql: string;
      readonly isSqlCut: boolean;
      readonly params: readonly ParamValue[];
      readonly areParamsTruncated: boolean;
    }
  | { readonly kind: 'long-data'; readonly statementId: number; readonly paramId: number }
  | { readonly kind: 'stmt-close'; readonly statementId: number }
  | { readonly kind: 'stmt-reset'; readonly statementId: number }
  | { readonly kind: 'init-db'; readonly schema: string }
  | { readonly kind: 'reset-connection' }
  | {
      readonly kind: 'denied';
      readonly mode: 'simple' | 'extended';
      /** What was refused: the statement's verb (`DELETE`) or the command (`COM_CHANGE_USER`). */
      readonly what: string;
      readonly reason: string;
      readonly sql?: string;
      readonly isSqlCut?: boolean;
    }
  | { readonly kind: 'other'; readonly code: number };

/** Options of {@link MysqlCommandHandler}. */
export interface CommandHandlerOptions {
  readonly targetName: string;
  readonly isReadOnly: boolean;
  readonly statements: StatementRegistry;
  /** The shared flow's auditor: `db.query` / `db.denied` events and transcript lines. */
  readonly auditor: QueryAuditor;
  /** Told after each record, so the relay can pause the client while the audit trail is behind. */
  readonly onRecorded?: () => void;
  /** The target's thread id behind a gateway connection id this user may KILL, if any. */
  readonly resolveKill: (gatewayConnectionId: number) => number | undefined;
}

/** Puts a read-only target session in read-only transaction mode (again after a reset). */
export const READ_ONLY_SQL = 'SET SESSION TRANSACTION READ ONLY';

/** Byte length of COM_STMT_SEND_LONG_DATA's header: command, statement id, parameter id. */
const LONG_DATA_HEADER_BYTES = 7;

/**
 * The MySQL front end's decisions on each client command, and what it records about it: which
 * commands pass (an allow list), LOAD DATA LOCAL and read-only refusals, KILL ids mapped to the
 * target's, prepared statements followed for the audit of their executions.
 */
export class MysqlCommandHandler implements RelayHandler<CommandContext> {
  readonly #o: CommandHandlerOptions;

  constructor(options: CommandHandlerOptions) {
    this.#o = options;
  }

  onCommand(command: CommandHead): CommandAction<CommandContext> {
    if (!RELAYED_COMMANDS.has(command.code)) return this.#refuseCommand(command.code);
    let decoded: ClientCommand;
    try {
      decoded = decodeCommand(command.head);
    } catch {
      return refuse(
        { kind: 'denied', mode: 'simple', what: commandName(command.code), reason: 'malformed' },
        gatehouseErr(ErrorCode.UNKNOWN_COM, 'malformed command'),
      );
    }
    switch (decoded.kind) {
      case 'query':
        return this.#query(decoded.text, command.isComplete);
      case 'prepare': {
        const sql = decoded.text.toString('utf8');
        const refused = this.#check(sql, decoded.text, command.isComplete, 'prepare');
        return (
          refused ?? {
            kind: 'forward',
            context: { kind: 'prepare', sql, isSqlCut: !command.isComplete },
          }
        );
      }
      case 'execute':
        return { kind: 'forward', context: this.#execute(decoded.stmtId, command.head) };
      case 'long-data':
        return {
          kind: 'forward',
          context: { kind: 'long-data', statementId: decoded.stmtId, paramId: decoded.paramId },
        };
      case 'stmt-close':
        return { kind: 'forward', context: { kind: 'stmt-close', statementId: decoded.stmtId } };
      case 'stmt-reset':
        return { kind: 'forward', context: { kind: 'stmt-reset', statementId: decoded.stmtId } };
      case 'init-db':
        return {
          kind: 'forward',
          context: { kind: 'init-db', schema: decoded.schema.slice(0, 256) },
        };
      case 'process-kill': {
        const mapped = this.#o.resolveKill(decoded.connectionId);
        if (mapped === undefined)
          return { kind: 'forward', context: { kind: 'other', code: decoded.code } };
        const payload = Buffer.alloc(5);
        payload.writeUInt8(Command.PROCESS_KILL, 0);
        payload.writeUInt32LE(mapped, 1);
        return { kind: 'rewrite', context: { kind: 'other', code: decoded.code }, payload };
      }
      default:
        if (decoded.code === Command.RESET_CONNECTION) {
          return {
            kind: 'forward',
            context: { kind: 'reset-connection' },
            ...(this.#o.isReadOnly ? { followUps: [encodeQuery(READ_ONLY_SQL)] } : {}),
          };
        }
        return { kind: 'forward', context: { kind: 'other', code: decoded.code } };
    }
  }

  onDone(context: CommandContext, outcome: CommandOutcome): void {
    const { auditor, statements } = this.#o;
    const summary = outcome.summary;
    switch (context.kind) {
      case 'query':
      case 'execute': {
        // Built field by field rather than from spreads: this runs per statement.
        const statement: Mutable<DbStatement> = {
          mode: context.kind === 'query' ? 'simple' : 'extended',
          sql: context.sql,
          isSqlCut: context.isSqlCut,
          durationMs: outcome.durationMs,
          // Rows returned by result sets plus rows changed by statements.
          rows: summary === undefined ? null : summary.rows + summary.affectedRows,
        };
        if (context.kind === 'execute') {
          statement.statement = String(context.statementId);
          statement.params = paramsAsText(context.params);
          statement.isParamsCut = context.areParamsTruncated;
        }
        if (summary !== undefined && summary.resultTags.length > 0)
          statement.commands = summary.resultTags;
        const error = summary?.error;
        if (error !== undefined) {
          statement.sqlstate = error.sqlState === '' ? 'HY000' : error.sqlState;
          statement.error = `ERROR ${error.code} (${error.sqlState}): ${error.message}`;
        }
        auditor.recordStatement(statement);
        if (context.kind === 'execute') statements.get(context.statementId)?.longData.clear();
        this.#o.onRecorded?.();
        return;
      }
      case 'prepare': {
        const ok = summary?.prepareOk;
        if (ok !== undefined)
          statements.add(ok.stmtId, context.sql, {
            isSqlCut: context.isSqlCut,
            numParams: ok.numParams,
          });
        return;
      }
      case 'long-data':
        statements.addLongData(
          context.statementId,
          context.paramId,
          outcome.commandBytes - LONG_DATA_HEADER_BYTES,
        );
        return;
      case 'stmt-close':
        statements.delete(context.statementId);
        return;
      case 'stmt-reset':
        statements.get(context.statementId)?.longData.clear();
        return;
      case 'reset-connection':
        if (summary?.error === undefined) statements.clear();
        return;
      case 'denied':
        auditor.recordDenied({
          mode: context.mode,
          sql: context.sql,
          isSqlCut: context.isSqlCut === true,
          reason: context.reason,
          what: context.what,
        });
        this.#o.onRecorded?.();
        return;
      case 'init-db': {
        // COM_INIT_DB (the client's `use`): audited as the statement it stands for, since it
        // decides which tables later statements name.
        const error = summary?.error;
        auditor.recordStatement({
          mode: 'simple',
          sql: `USE \`${context.schema.replaceAll('`', '``')}\``,
          durationMs: outcome.durationMs,
          rows: null,
          commands: ['init-db'],
          ...(error === undefined
            ? {}
            : {
                sqlstate: error.sqlState === '' ? 'HY000' : error.sqlState,
                error: `ERROR ${error.code} (${error.sqlState}): ${error.message}`,
              }),
        });
        this.#o.onRecorded?.();
        return;
      }
      case 'other':
        return;
    }
  }

  #query(text: Buffer, isComplete: boolean): CommandAction<CommandContext> {
    const sql = text.toString('utf8');
    const refused = this.#check(sql, text, isComplete, 'query');
    if (refused !== undefined) return refused;
    const context: CommandContext = { kind: 'query', sql, isSqlCut: !isComplete };
    const kill = isComplete ? parseKill(sql) : undefined;
    const mapped = kill === undefined ? undefined : this.#o.resolveKill(kill.id);
    if (kill !== undefined && mapped !== undefined)
      return { kind: 'rewrite', context, payload: encodeQuery(`${kill.prefix} ${mapped}`) };
    return { kind: 'forward', context };
  }

  #execute(statementId: number, head: Buffer): CommandContext {
    const stmt = this.#o.statements.get(statementId);
    if (stmt === undefined) {
      return {
        kind: 'execute',
        statementId,
        sql: '<unknown statement>',
        isSqlCut: false,
        params: [],
        areParamsTruncated: true,
      };
    }
    const decoded = decodeExecuteParams(head, {
      numParams: stmt.numParams,
      previousTypes: stmt.types,
      longData: stmt.longData,
    });
    if (decoded.types !== undefined) stmt.types = decoded.types;
    return {
      kind: 'execute',
      statementId: stmt.id,
      sql: stmt.sql,
      isSqlCut: stmt.isSqlCut,
      params: decoded.values,
      areParamsTruncated: decoded.isTruncated,
    };
  }

  /** The refusal of a query or prepare, or undefined when it may pass. */
  #check(
    sql: string,
    raw: Buffer,
    isComplete: boolean,
    command: 'query' | 'prepare',
  ): CommandAction<CommandContext> | undefined {
    // Keywords are ASCII: latin1 keeps every byte as one character whatever the client charset.
    const verdict: QueryVerdict = checkQuery(raw.toString('latin1'), {
      isReadOnly: this.#o.isReadOnly,
      isComplete,
    });
    if (verdict.isAllowed) return undefined;
    const context: CommandContext = {
      kind: 'denied',
      mode: command === 'query' ? 'simple' : 'extended',
      what: verdict.verb,
      reason: verdict.reason,
      sql,
      isSqlCut: !isComplete,
    };
    switch (verdict.reason) {
      case 'local-infile':
        return refuse(
          context,
          gatehouseErr(
            ErrorCode.NOT_ALLOWED_COMMAND,
            'LOAD DATA LOCAL INFILE is not allowed through Gatehouse',
          ),
        );
      case 'too-long':
        return refuse(
          context,
          gatehouseErr(
            ErrorCode.TABLEACCESS_DENIED,
            `statement too long to check on read-only target '${this.#o.targetName}'`,
          ),
        );
      case 'read-only':
        return refuse(
          context,
          gatehouseErr(
            ErrorCode.TABLEACCESS_DENIED,
            `${verdict.verb} command denied: target '${this.#o.targetName}' is read-only through Gatehouse`,
          ),
        );
    }
  }

  #refuseCommand(code: number): CommandAction<CommandContext> {
    const name = commandName(code);
    if (code === Command.CHANGE_USER) {
      return refuse(
        { kind: 'denied', mode: 'simple', what: name, reason: 'change-user' },
        gatehouseErr(
          ErrorCode.NOT_SUPPORTED_YET,
          'COM_CHANGE_USER is not supported through Gatehouse: open a new connection as USER#TARGET',
        ),
      );
    }
    return refuse(
      { kind: 'denied', mode: 'simple', what: name, reason: 'unsupported-command' },
      gatehouseErr(ErrorCode.UNKNOWN_COM, `${name} is not supported through Gatehouse`),
    );
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Parameter values as the audit trail keeps them: text, or null for SQL NULL. */
function paramsAsText(values: readonly ParamValue[]): (string | null)[] {
  const out = new Array<string | null>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i] ?? null;
    out[i] = value === null ? null : String(value);
  }
  return out;
}

function refuse(context: CommandContext, err: ErrPacket): CommandAction<CommandContext> {
  return { kind: 'refuse', context, err };
}
