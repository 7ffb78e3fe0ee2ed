import type { QueryAuditor } from '../query-audit.js';
import { PreparedStatements, type PortalInfo, type StatementInfo } from './prepared-statements.js';
import {
  BACKEND,
  ERROR_FIELD,
  FRONTEND,
  parseCommandComplete,
  parseErrorFields,
  parseExecute,
  parseReadyForQuery,
  serializeReadyForQuery,
  type TransactionStatus,
} from './protocol/index.js';
import { refuseFunctionCall, refuseUnlessReadOnly } from './read-only-refusal.js';
import { ResponseQueue } from './response-queue.js';
import {
  rowsOfTag,
  StatementAudit,
  type ExecuteRun,
  type FunctionRun,
  type QueryRun,
} from './statement-audit.js';
import { cstringPrefix, parseParseLenient, safe, type TrackedMessage } from './tracked-message.js';

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

/** A client message waiting for its answer, in the order the target answers. */
type Entry =
  | ({ readonly kind: 'query' } & QueryRun)
  | ({ readonly kind: 'function' } & FunctionRun)
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
  | ({ readonly kind: 'execute' } & ExecuteRun)
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
  readonly #queue = new ResponseQueue<Entry>();
  readonly #audit: StatementAudit;
  readonly #prepared = new PreparedStatements();
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
    this.#audit = new StatementAudit(options.auditor, this.#clock);
  }

  /** Responses the client still waits for. */
  get pendingResponses(): number {
    return this.#queue.length;
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
          ? refuseUnlessReadOnly({ mode: 'simple', sql: text, isCut }, this.#o)
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
          ? refuseUnlessReadOnly(
              { mode: 'extended', sql: parsed.sql, isCut: parsed.isCut },
              this.#o,
            )
          : undefined;
        if (refusal !== undefined) {
          this.#push({ kind: 'injected', messages: [refusal], endsQuery: false });
          this.#isGroupFailedByGateway = true;
          return false;
        }
        const info = { sql: parsed.sql, isSqlCut: parsed.isCut };
        this.#prepared.parse(parsed.name, info);
        this.#push({ kind: 'parse', name: parsed.name, info, start: now });
        return true;
      }
      case FRONTEND.bind: {
        const { portal, info } = this.#prepared.bind(m);
        this.#push({ kind: 'bind', portal, info, start: now });
        return true;
      }
      case FRONTEND.execute: {
        const portal = safe(() => parseExecute(m.body ?? Buffer.alloc(0)).portal) ?? '';
        this.#push({
          kind: 'execute',
          portal,
          info: this.#prepared.portal(portal),
          start: now,
          dataRows: 0,
        });
        return true;
      }
      case FRONTEND.describe:
        this.#push({ kind: 'describe' });
        return true;
      case FRONTEND.close:
        this.#prepared.close(m);
        this.#push({ kind: 'close' });
        return true;
      case FRONTEND.functionCall: {
        if (this.#o.isReadOnly) {
          this.#push({
            kind: 'injected',
            messages: [refuseFunctionCall(this.#o)],
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
    const head = this.#queue.peek();
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
          return this.#complete(() => this.#audit.execute(head, { tag }));
        }
        return undefined;
      }
      case BACKEND.emptyQuery:
        return head?.kind === 'execute'
          ? this.#complete(() => this.#audit.execute(head, {}))
          : undefined;
      case BACKEND.portalSuspended:
        return head?.kind === 'execute'
          ? this.#complete(() => this.#audit.execute(head, { isSuspended: true }))
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
          this.#queue.dropAfterHead((e) => e.kind === 'sync');
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
      if (head.kind === 'execute') this.#audit.execute(head, { sqlstate, error });
      else if (head.kind === 'parse')
        this.#audit.failure(head.info, {
          statement: head.name,
          start: head.start,
          sqlstate,
          error,
        });
      else if (head.kind === 'bind')
        this.#audit.failure(head.info, {
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
    let head = this.#queue.peek();
    while (
      head !== undefined &&
      head.kind !== 'query' &&
      head.kind !== 'sync' &&
      head.kind !== 'function'
    ) {
      this.#queue.shift();
      head = this.#queue.peek();
    }
    if (head === undefined) return undefined;
    let newStatus: TransactionStatus | undefined;
    if (head.kind === 'sync' && head.isFailedByGateway && status === 'T') newStatus = 'E';
    if (newStatus !== undefined) this.#lastStatus = newStatus;
    const effect = this.#complete(() => {
      if (head.kind === 'query') this.#audit.query(head);
      else if (head.kind === 'function') this.#audit.functionCall(head);
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
    if (this.#queue.peek() === this.#copyIn) this.#copyIn = undefined;
    this.#queue.shift();
    if (options.isSkippingGroup === true) {
      let next = this.#queue.peek();
      while (next !== undefined && next.kind !== 'sync') {
        this.#queue.shift();
        next = this.#queue.peek();
      }
      if (next === undefined) this.#isTargetSkipping = true;
    }
    const after = this.#takeInjected();
    return after.length === 0 ? undefined : { after };
  }

  #takeInjected(): Buffer[] {
    const out: Buffer[] = [];
    let head = this.#queue.peek();
    while (head?.kind === 'injected') {
      out.push(...head.messages);
      if (head.endsQuery) {
        const status: TransactionStatus = this.#lastStatus === 'T' ? 'E' : this.#lastStatus;
        this.#lastStatus = status;
        out.push(serializeReadyForQuery(status));
      }
      this.#queue.shift();
      head = this.#queue.peek();
    }
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
}

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
