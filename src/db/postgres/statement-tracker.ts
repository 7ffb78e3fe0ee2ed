import { GatehouseError } from '../../core/errors.js';
import type { QueryAuditor } from '../query-audit.js';
import { BoundedMap } from './bounded-map.js';
import { errorResponseFor } from './pg-errors.js';
import {
  BACKEND,
  ERROR_FIELD,
  FRONTEND,
  parseCommandComplete,
  parseErrorFields,
  parseExecute,
  parseReadyForQuery,
  parseTargeted,
  parseBind,
  serializeReadyForQuery,
  type TransactionStatus,
} from './protocol/index.js';
import { checkReadOnly } from './read-only.js';
import { MAX_PARSED_SQL_BYTES } from './sql-parser.js';

/** Prepared statements remembered per session (their SQL, for the audit of each Execute). */
const MAX_STATEMENTS = 10_000;
const MAX_STATEMENT_BYTES = 16 * 1024 * 1024;
/** Portals remembered per session (SQL and parameters until Execute). */
const MAX_PORTALS = 1_000;
const MAX_PORTAL_BYTES = 8 * 1024 * 1024;
/** Bytes of a Bind kept (parameters for audit). */
const BIND_KEEP_BYTES = 64 * 1024;
/** Bytes of a binary parameter shown (as hex). */
const BINARY_PARAM_SHOWN_BYTES = 512;

/** Body bytes the relay keeps for each client message type (others are only counted). */
export function clientKeepBytes(type: number): number {
  switch (type) {
    case FRONTEND.query:
    case FRONTEND.parse:
      return MAX_PARSED_SQL_BYTES + 1;
    case FRONTEND.bind:
      return BIND_KEEP_BYTES;
    case FRONTEND.execute:
    case FRONTEND.describe:
    case FRONTEND.close:
      return 4096;
    case FRONTEND.functionCall:
      return 4;
    default:
      return 0;
  }
}

/** Body bytes the relay keeps for each server message type. */
export function serverKeepBytes(type: number): number {
  switch (type) {
    case BACKEND.errorResponse:
      return 16 * 1024;
    case BACKEND.commandComplete:
      return 1024;
    case BACKEND.readyForQuery:
      return 1;
    default:
      return 0;
  }
}

/** A message as the relay hands it over: its type and the kept part of its body. */
export interface TrackedMessage {
  readonly type: number;
  readonly body: Buffer | undefined;
  readonly isTruncated: boolean;
}

/** What the relay does after a server message: write gateway messages after it, or change its status byte. */
export interface ServerEffect {
  readonly after?: readonly Buffer[];
  /** New ReadyForQuery status (a refused statement failed the client's transaction). */
  readonly status?: TransactionStatus;
}

/** Options of {@link StatementTracker}. */
export interface StatementTrackerOptions {
  readonly auditor: QueryAuditor;
  readonly isReadOnly: boolean;
  readonly targetName: string;
  /** True when the server stream is between two messages (gateway messages may be written). */
  readonly isServerAtBoundary: () => boolean;
  /** Writes gateway-made messages to the client now. */
  readonly writeToClient: (data: Buffer) => void;
  readonly clock?: () => number;
}

interface StatementInfo {
  readonly sql: string | undefined;
  readonly isSqlCut: boolean;
}

interface PortalInfo extends StatementInfo {
  readonly statement: string;
  readonly params: readonly (string | null)[];
  readonly isParamsCut: boolean;
}

type Entry =
  | {
      readonly kind: 'query';
      readonly sql: string | undefined;
      readonly isSqlCut: boolean;
      readonly start: number;
      readonly commands: string[];
      rows: number | null;
      dataRows: number;
      sqlstate?: string;
      error?: string;
    }
  | {
      readonly kind: 'function';
      readonly oid: number;
      readonly start: number;
      sqlstate?: string;
      error?: string;
    }
  | {
      readonly kind: 'parse';
      readonly name: string;
      readonly info: StatementInfo;
      readonly start: number;
    }
  | {
      readonly kind: 'bind';
      readonly portal: string;
      readonly info: PortalInfo;
      readonly start: number;
    }
  | {
      readonly kind: 'execute';
      readonly portal: string;
      readonly info: PortalInfo | undefined;
      readonly start: number;
      dataRows: number;
    }
  | { readonly kind: 'describe' }
  | { readonly kind: 'close' }
  | { readonly kind: 'sync'; readonly isFailedByGateway: boolean }
  /** Messages the gateway answers itself, in their place in the response stream. */
  | {
      readonly kind: 'injected';
      readonly messages: readonly Buffer[];
      readonly endsQuery: boolean;
    };

/**
 * Follows the conversation between a client and its target (PG protocol: simple and extended
 * query, pipelining, COPY, function calls): each client message that expects an answer queues
 * an entry, each server message completes the entry at the head. Completed statements go to
 * the auditor with SQL, parameters, duration, rows and SQLSTATE.
 *
 * On a read-only target a refused statement never reaches the target: its ErrorResponse is
 * queued as an entry, so the client gets it exactly where PostgreSQL would have answered,
 * after everything pipelined before it; the rest of its extended-query group is dropped up
 * to Sync, as PostgreSQL would skip it.
 */
export class StatementTracker {
  readonly #o: StatementTrackerOptions;
  readonly #clock: () => number;
  readonly #queue: Entry[] = [];
  #head = 0;
  readonly #statements = new BoundedMap<string, StatementInfo>({
    maxEntries: MAX_STATEMENTS,
    maxBytes: MAX_STATEMENT_BYTES,
    sizeOf: (s) => (s.sql?.length ?? 0) + 64,
  });
  readonly #portals = new BoundedMap<string, PortalInfo>({
    maxEntries: MAX_PORTALS,
    maxBytes: MAX_PORTAL_BYTES,
    sizeOf: portalSize,
  });
  /** The target skips extended messages until Sync after an error in one (PostgreSQL's ignore_till_sync). */
  #isTargetSkipping = false;
  /** The gateway refused a message of the current group: drop the rest up to Sync. */
  #isGroupFailedByGateway = false;
  #lastStatus: TransactionStatus = 'I';
  #deferred: Buffer[] = [];
  /** The Execute running COPY FROM STDIN (extended query), until the client ends the copy. */
  #copyIn: Entry | undefined;

  constructor(options: StatementTrackerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? (() => performance.now());
  }

  /** Responses the client still waits for. */
  get pendingResponses(): number {
    return this.#queue.length - this.#head;
  }

  /** A whole client message (body kept as `clientKeepBytes` says); false: do not forward it. */
  onClientMessage(m: TrackedMessage): boolean {
    const type = m.type;
    if (this.#copyIn !== undefined) {
      // PG protocol: during COPY FROM STDIN the target ignores Flush and Sync.
      if (type === FRONTEND.copyDone || type === FRONTEND.copyFail) this.#copyIn = undefined;
      return true;
    }
    if (type === FRONTEND.sync) {
      this.#push({ kind: 'sync', isFailedByGateway: this.#isGroupFailedByGateway });
      this.#isGroupFailedByGateway = false;
      this.#isTargetSkipping = false;
      return true;
    }
    if (!expectsAnswer(type)) return true; // Flush, CopyData/CopyDone/CopyFail, Terminate
    if (this.#isGroupFailedByGateway) return false;
    if (this.#isTargetSkipping) return true; // the target discards it too, until Sync
    const now = this.#clock();
    switch (type) {
      case FRONTEND.query: {
        const { text, isCut } = cstringPrefix(m.body, m.isTruncated);
        const refusal = this.#o.isReadOnly
          ? this.#refuseUnlessReadOnly('simple', text, isCut)
          : undefined;
        if (refusal !== undefined) {
          this.#push({ kind: 'injected', messages: [refusal], endsQuery: true });
          return false;
        }
        this.#push({
          kind: 'query',
          sql: text,
          isSqlCut: isCut,
          start: now,
          commands: [],
          rows: null,
          dataRows: 0,
        });
        return true;
      }
      case FRONTEND.parse: {
        const parsed = parseParseLenient(m.body, m.isTruncated);
        const refusal = this.#o.isReadOnly
          ? this.#refuseUnlessReadOnly('extended', parsed.sql, parsed.isCut)
          : undefined;
        if (refusal !== undefined) {
          this.#push({ kind: 'injected', messages: [refusal], endsQuery: false });
          this.#isGroupFailedByGateway = true;
          return false;
        }
        const info = { sql: parsed.sql, isSqlCut: parsed.isCut };
        this.#statements.set(parsed.name, info);
        this.#push({ kind: 'parse', name: parsed.name, info, start: now });
        return true;
      }
      case FRONTEND.bind: {
        const info = this.#bindInfo(m);
        if (info !== undefined) {
          this.#portals.set(info.portal, info.info);
          this.#push({ kind: 'bind', portal: info.portal, info: info.info, start: now });
        } else
          this.#push({
            kind: 'bind',
            portal: '',
            info: {
              sql: undefined,
              isSqlCut: false,
              statement: '',
              params: [],
              isParamsCut: false,
            },
            start: now,
          });
        return true;
      }
      case FRONTEND.execute: {
        const portal = safe(() => parseExecute(m.body ?? Buffer.alloc(0)).portal) ?? '';
        this.#push({
          kind: 'execute',
          portal,
          info: this.#portals.get(portal),
          start: now,
          dataRows: 0,
        });
        return true;
      }
      case FRONTEND.describe:
        this.#push({ kind: 'describe' });
        return true;
      case FRONTEND.close: {
        const target = safe(() => parseTargeted(m.body ?? Buffer.alloc(0), 'Close'));
        if (target?.what === 'S') this.#statements.delete(target.name);
        if (target?.what === 'P') this.#portals.delete(target.name);
        this.#push({ kind: 'close' });
        return true;
      }
      case FRONTEND.functionCall: {
        if (this.#o.isReadOnly) {
          this.#o.auditor.recordDenied({
            mode: 'function',
            sql: undefined,
            reason: 'read-only',
            what: 'function call',
          });
          this.#push({
            kind: 'injected',
            messages: [this.#readOnlyError('function calls over the protocol are refused')],
            endsQuery: true,
          });
          return false;
        }
        const oid = m.body !== undefined && m.body.length >= 4 ? m.body.readUInt32BE(0) : 0;
        this.#push({ kind: 'function', oid, start: now });
        return true;
      }
      default:
        return true;
    }
  }

  /** A server message; returns what to write after it, or a new status for a ReadyForQuery. */
  onServerMessage(m: TrackedMessage): ServerEffect | undefined {
    const effect = this.#serverMessage(m);
    if (this.#deferred.length === 0) return effect;
    const after = [...this.#deferred, ...(effect?.after ?? [])];
    this.#deferred = [];
    return { ...effect, after };
  }

  #serverMessage(m: TrackedMessage): ServerEffect | undefined {
    const head = this.#peek();
    switch (m.type) {
      case BACKEND.dataRow:
        if (head?.kind === 'query' || head?.kind === 'execute') head.dataRows += 1;
        return undefined;
      case BACKEND.commandComplete: {
        const tag = safe(() => parseCommandComplete(m.body ?? Buffer.alloc(0))) ?? '';
        if (head?.kind === 'query') {
          head.commands.push(tag);
          const rows = rowsOfTag(tag);
          if (rows !== null) head.rows = (head.rows ?? 0) + rows;
          head.dataRows = 0;
        } else if (head?.kind === 'execute') {
          return this.#complete(() => this.#auditExecute(head, { tag }));
        }
        return undefined;
      }
      case BACKEND.emptyQuery:
        return head?.kind === 'execute'
          ? this.#complete(() => this.#auditExecute(head, {}))
          : undefined;
      case BACKEND.portalSuspended:
        return head?.kind === 'execute'
          ? this.#complete(() => this.#auditExecute(head, { isSuspended: true }))
          : undefined;
      case BACKEND.parseComplete:
        return head?.kind === 'parse' ? this.#complete() : undefined;
      case BACKEND.bindComplete:
        return head?.kind === 'bind' ? this.#complete() : undefined;
      case BACKEND.closeComplete:
        return head?.kind === 'close' ? this.#complete() : undefined;
      case BACKEND.rowDescription:
      case BACKEND.noData:
        return head?.kind === 'describe' ? this.#complete() : undefined;
      case BACKEND.copyInResponse:
        if (head?.kind === 'execute') {
          // Syncs already sent after this Execute are ignored by the target during the copy.
          this.#copyIn = head;
          while (this.#queue[this.#head + 1]?.kind === 'sync')
            this.#queue.splice(this.#head + 1, 1);
        }
        return undefined;
      case BACKEND.errorResponse:
        return this.#onError(head, m);
      case BACKEND.readyForQuery:
        return this.#onReady(m);
      default:
        // Notices, notifications, parameter status, COPY, ParameterDescription: no entry ends.
        return undefined;
    }
  }

  #onError(head: Entry | undefined, m: TrackedMessage): ServerEffect | undefined {
    const fields = parseErrorFields(m.body ?? Buffer.alloc(0), { isTruncated: true });
    const sqlstate = fields.get(ERROR_FIELD.code) ?? 'XX000';
    const error = fields.get(ERROR_FIELD.message) ?? '';
    if (head === undefined || head.kind === 'sync' || head.kind === 'injected') return undefined; // FATAL, or a failed implicit COMMIT at Sync
    if (head.kind === 'query' || head.kind === 'function') {
      head.sqlstate ??= sqlstate;
      head.error ??= error;
      return undefined;
    }
    // An extended-query message failed: the target skips the rest of the group up to Sync.
    const audit = (): void => {
      if (head.kind === 'execute') this.#auditExecute(head, { sqlstate, error });
      else if (head.kind === 'parse')
        this.#auditFailure(head.info, { statement: head.name, start: head.start, sqlstate, error });
      else if (head.kind === 'bind')
        this.#auditFailure(head.info, {
          statement: head.info.statement,
          portal: head.portal,
          params: head.info,
          start: head.start,
          sqlstate,
          error,
        });
    };
    const effect = this.#complete(audit, { isSkippingGroup: true });
    return effect;
  }

  #onReady(m: TrackedMessage): ServerEffect | undefined {
    const status = safe(() => parseReadyForQuery(m.body ?? Buffer.alloc(0))) ?? this.#lastStatus;
    this.#lastStatus = status;
    // Whatever is before the entry this answers was skipped by the target.
    let head = this.#peek();
    while (
      head !== undefined &&
      head.kind !== 'query' &&
      head.kind !== 'sync' &&
      head.kind !== 'function'
    ) {
      this.#head += 1;
      head = this.#peek();
    }
    if (head === undefined) return undefined;
    let newStatus: TransactionStatus | undefined;
    if (head.kind === 'sync' && head.isFailedByGateway && status === 'T') newStatus = 'E';
    if (newStatus !== undefined) this.#lastStatus = newStatus;
    const effect = this.#complete(() => {
      if (head.kind === 'query') {
        this.#o.auditor.recordStatement({
          mode: 'simple',
          sql: head.sql,
          isSqlCut: head.isSqlCut,
          durationMs: this.#clock() - head.start,
          rows: head.rows,
          commands: head.commands,
          ...(head.sqlstate === undefined
            ? {}
            : { sqlstate: head.sqlstate, error: head.error ?? '' }),
        });
      } else if (head.kind === 'function') {
        this.#o.auditor.recordStatement({
          mode: 'function',
          sql: undefined,
          durationMs: this.#clock() - head.start,
          rows: null,
          commands: [`FUNCTION CALL ${head.oid}`],
          ...(head.sqlstate === undefined
            ? {}
            : { sqlstate: head.sqlstate, error: head.error ?? '' }),
        });
      }
    });
    return newStatus === undefined ? effect : { ...effect, status: newStatus };
  }

  // Pops the head (running `audit` for it), and with `isSkippingGroup` the rest of its group
  // up to Sync; then answers gateway entries that reached the head.
  #complete(
    audit?: () => void,
    options: { readonly isSkippingGroup?: boolean } = {},
  ): ServerEffect | undefined {
    audit?.();
    if (this.#peek() === this.#copyIn) this.#copyIn = undefined;
    this.#head += 1;
    if (options.isSkippingGroup === true) {
      let next = this.#peek();
      while (next !== undefined && next.kind !== 'sync') {
        this.#head += 1;
        next = this.#peek();
      }
      if (next === undefined) this.#isTargetSkipping = true;
    }
    this.#compact();
    const after = this.#takeInjected();
    return after.length === 0 ? undefined : { after };
  }

  #takeInjected(): Buffer[] {
    const out: Buffer[] = [];
    let head = this.#peek();
    while (head?.kind === 'injected') {
      out.push(...head.messages);
      if (head.endsQuery) {
        const status: TransactionStatus = this.#lastStatus === 'T' ? 'E' : this.#lastStatus;
        this.#lastStatus = status;
        out.push(serializeReadyForQuery(status));
      }
      this.#head += 1;
      head = this.#peek();
    }
    this.#compact();
    return out;
  }

  #push(entry: Entry): void {
    this.#queue.push(entry);
    // A gateway answer with nothing before it goes out now (or after the server message in flight).
    if (entry.kind === 'injected' && this.pendingResponses === 1) {
      const messages = this.#takeInjected();
      if (this.#o.isServerAtBoundary()) this.#o.writeToClient(Buffer.concat(messages));
      else this.#deferred.push(...messages);
    }
  }

  #peek(): Entry | undefined {
    return this.#queue[this.#head];
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    } else if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
  }

  // The ErrorResponse refusing `sql` on a read-only target (audited), or undefined when it may run.
  #refuseUnlessReadOnly(
    mode: 'simple' | 'extended',
    sql: string | undefined,
    isCut: boolean,
  ): Buffer | undefined {
    const verdict =
      isCut || sql === undefined
        ? { isAllowed: false as const, what: 'statement', why: 'too long to check' }
        : checkReadOnly(sql);
    if (verdict.isAllowed) return undefined;
    this.#o.auditor.recordDenied({
      mode,
      sql,
      isSqlCut: isCut,
      reason: 'read-only',
      what: verdict.what,
    });
    return this.#readOnlyError(`${verdict.what}: ${verdict.why}`);
  }

  #readOnlyError(detail: string): Buffer {
    return errorResponseFor(
      new GatehouseError('GH_READ_ONLY_TARGET', {
        message: `target "${this.#o.targetName}" is read-only`,
      }),
      { severity: 'ERROR', detail },
    );
  }

  #bindInfo(m: TrackedMessage): { portal: string; info: PortalInfo } | undefined {
    const bind = safe(() => parseBind(m.body ?? Buffer.alloc(0), { isTruncated: m.isTruncated }));
    if (bind === undefined) return undefined;
    const statement = this.#statements.get(bind.statement);
    const params = bind.params.map((value, i) =>
      formatParam(value, formatOf(bind.paramFormats, i)),
    );
    return {
      portal: bind.portal,
      info: {
        sql: statement?.sql,
        isSqlCut: statement?.isSqlCut ?? false,
        statement: bind.statement,
        params,
        isParamsCut: bind.isTruncated || bind.params.length < bind.paramCount,
      },
    };
  }

  #auditExecute(
    e: Extract<Entry, { kind: 'execute' }>,
    outcome: { tag?: string; sqlstate?: string; error?: string; isSuspended?: boolean },
  ): void {
    const rows =
      outcome.tag !== undefined
        ? (rowsOfTag(outcome.tag) ?? (e.dataRows > 0 ? e.dataRows : null))
        : e.dataRows > 0
          ? e.dataRows
          : null;
    this.#o.auditor.recordStatement({
      mode: 'extended',
      sql: e.info?.sql,
      isSqlCut: e.info?.isSqlCut ?? false,
      ...(e.info === undefined
        ? {}
        : { params: e.info.params, isParamsCut: e.info.isParamsCut, statement: e.info.statement }),
      portal: e.portal,
      durationMs: this.#clock() - e.start,
      rows,
      ...(outcome.tag === undefined ? {} : { commands: [outcome.tag] }),
      ...(outcome.sqlstate === undefined
        ? {}
        : { sqlstate: outcome.sqlstate, error: outcome.error ?? '' }),
      ...(outcome.isSuspended === true ? { isSuspended: true } : {}),
    });
  }

  #auditFailure(
    info: StatementInfo,
    o: {
      statement: string;
      portal?: string;
      params?: PortalInfo;
      start: number;
      sqlstate: string;
      error: string;
    },
  ): void {
    this.#o.auditor.recordStatement({
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

// Messages the target answers (Sync is handled apart).
function expectsAnswer(type: number): boolean {
  return (
    type === FRONTEND.query ||
    type === FRONTEND.parse ||
    type === FRONTEND.bind ||
    type === FRONTEND.execute ||
    type === FRONTEND.describe ||
    type === FRONTEND.close ||
    type === FRONTEND.functionCall
  );
}

// The text up to the NUL, or all of it when the body was cut before the NUL.
function cstringPrefix(
  body: Buffer | undefined,
  isTruncated: boolean,
): { text: string | undefined; isCut: boolean } {
  if (body === undefined) return { text: undefined, isCut: false };
  const nul = body.indexOf(0);
  if (nul >= 0) return { text: body.toString('utf8', 0, nul), isCut: false };
  return { text: body.toString('utf8'), isCut: isTruncated };
}

function parseParseLenient(
  body: Buffer | undefined,
  isTruncated: boolean,
): { name: string; sql: string | undefined; isCut: boolean } {
  if (body === undefined) return { name: '', sql: undefined, isCut: false };
  const nameEnd = body.indexOf(0);
  if (nameEnd < 0) return { name: '', sql: undefined, isCut: isTruncated };
  const name = body.toString('utf8', 0, nameEnd);
  const rest = cstringPrefix(body.subarray(nameEnd + 1), isTruncated);
  return { name, sql: rest.text, isCut: rest.isCut };
}

function formatOf(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  if (formats.length === 1) return formats[0] ?? 0;
  return formats[i] ?? 0;
}

// Text parameters as text; binary ones as bytea-style hex (the type is not known here).
function formatParam(value: Buffer | null, format: number): string | null {
  if (value === null) return null;
  if (format === 0) return value.toString('utf8');
  const shown = value.subarray(0, BINARY_PARAM_SHOWN_BYTES).toString('hex');
  return `\\x${shown}${value.length > BINARY_PARAM_SHOWN_BYTES ? '…' : ''}`;
}

function portalSize(p: PortalInfo): number {
  let size = 64 + (p.sql?.length ?? 0);
  for (const v of p.params) size += (v?.length ?? 0) + 8;
  return size;
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
