import type { AuditEventInput, AuditEventType } from '../audit/types.js';
import { GatehouseError } from '../core/errors.js';
import type { DbTranscriptWriter } from '../recording/db-transcript.js';
import { scanPlainSql } from './plain-sql.js';
import { cutUtf8, mentionsSecret, redactSql, type SqlDialect } from './redact.js';

/** Events waiting for the audit chain before the relay stops reading the client. */
export const MAX_PENDING_AUDIT_EVENTS = 10_000;
/** Longest time an event waits to be committed with the next ones. */
export const AUDIT_BATCH_INTERVAL_MS = 100;
/** Events committed together at most. */
export const MAX_AUDIT_BATCH = 500;
/** Bytes of one parameter value kept in an event. */
export const MAX_PARAM_BYTES = 1024;
/** Parameters kept per statement. */
export const MAX_PARAMS = 100;
/** Longest error message kept. */
const MAX_ERROR_CHARS = 1000;
/** Command tags kept per simple-query message. */
const MAX_COMMANDS = 20;
/** Statement texts whose redaction and fingerprint are remembered (prepared statements repeat). */
const TEXT_CACHE_ENTRIES = 512;
/** Longer texts are not remembered. */
const TEXT_CACHE_MAX_CHARS = 2048;
/** Statement shapes whose fingerprint is remembered. */
const SHAPE_CACHE_ENTRIES = 512;

/** One statement as the relay saw it run, before redaction. */
export interface DbStatement {
  /** `simple` (Query), `extended` (Parse/Bind/Execute), `function` (FunctionCall). */
  readonly mode: 'simple' | 'extended' | 'function';
  /** SQL text as sent (undefined when unknown, e.g. a statement prepared before tracking). */
  readonly sql: string | undefined;
  /** The relay kept only the start of the text. */
  readonly isSqlCut?: boolean;
  /** Bound parameter values as text (binary as `\x…` hex); null is SQL NULL. */
  readonly params?: readonly (string | null)[];
  readonly isParamsCut?: boolean;
  /** Prepared statement and portal names (extended protocol; '' is the unnamed one). */
  readonly statement?: string;
  readonly portal?: string;
  readonly durationMs: number;
  /** Rows from the command tags (or counted data rows), null when the statement has none. */
  readonly rows: number | null;
  /** Command tags (`SELECT 5`, `INSERT 0 1`); several for a multi-statement query. */
  readonly commands?: readonly string[];
  /** SQLSTATE when it failed. */
  readonly sqlstate?: string;
  /** The server's error message when it failed. */
  readonly error?: string;
  /** Execute stopped at its row limit (PortalSuspended). */
  readonly isSuspended?: boolean;
}

/** A statement the gateway refused before it reached the target. */
export interface DbDenial {
  readonly mode: DbStatement['mode'];
  readonly sql: string | undefined;
  readonly isSqlCut?: boolean;
  /** Why: `read-only`. */
  readonly reason: string;
  /** What was refused, e.g. `INSERT`. */
  readonly what: string;
}

/** Counters for `session.end`. */
export interface DbAuditStats {
  readonly statements: number;
  readonly errors: number;
  readonly denied: number;
  readonly cancels: number;
}

/** Options of {@link QueryAuditor}. */
export interface QueryAuditorOptions {
  /** Appends events to the audit chain in one commit (the gateway control's `auditBatch`). */
  readonly auditBatch: (events: readonly AuditEventInput[]) => Promise<void>;
  readonly sid: string;
  readonly user: string;
  readonly target: string;
  readonly clientAddr: string;
  readonly protocol: string;
  readonly dialect: SqlDialect;
  /** Statement fingerprint (PostgreSQL: libpg-query); null when the text does not parse. */
  readonly fingerprint?: (sql: string) => string | null;
  readonly transcript?: DbTranscriptWriter | undefined;
  /** Told once when an event cannot be written: the session must end (fail closed). */
  readonly onFailure: (err: GatehouseError) => void;
  readonly maxPending?: number;
  readonly batchIntervalMs?: number;
}

/**
 * Turns what a relay saw into `db.query` / `db.denied` / `db.cancel` events and transcript
 * lines, with SQL redacted and cut (src/db/redact.ts). Events are committed in order, in
 * batches: within {@link AUDIT_BATCH_INTERVAL_MS}, one commit for all that came meanwhile
 * (one commit per statement would cost a disk sync each and hold up the relay). The queue is
 * bounded: past `maxPending`, `isBackedUp` tells the relay to stop reading the client until
 * `whenDrained()`.
 */
export class QueryAuditor {
  readonly #o: QueryAuditorOptions;
  readonly #maxPending: number;
  readonly #texts: TextCache;
  #tail: Promise<void> = Promise.resolve();
  #queued: AuditEventInput[] = [];
  #timer: NodeJS.Timeout | undefined;
  #pending = 0;
  #failure: GatehouseError | undefined;
  #drainWaiters: (() => void)[] = [];
  #stats = { statements: 0, errors: 0, denied: 0, cancels: 0 };

  constructor(options: QueryAuditorOptions) {
    this.#o = options;
    this.#maxPending = options.maxPending ?? MAX_PENDING_AUDIT_EVENTS;
    this.#texts = textCacheFor(options.fingerprint, options.dialect);
  }

  /** Counters so far. */
  get stats(): DbAuditStats {
    return { ...this.#stats };
  }

  /** True while too many events wait: the relay should pause the client. */
  get isBackedUp(): boolean {
    return this.#pending >= this.#maxPending || this.#o.transcript?.needsDrain === true;
  }

  /** Resolves once the queue is below its limit again (at once when it is). */
  whenDrained(): Promise<void> {
    const transcript = this.#o.transcript;
    const transcriptDrained =
      transcript?.needsDrain === true
        ? transcript.drain().catch(() => undefined)
        : Promise.resolve();
    if (this.#pending < this.#maxPending || this.#failure !== undefined) return transcriptDrained;
    return Promise.all([
      transcriptDrained,
      new Promise<void>((resolve) => this.#drainWaiters.push(resolve)),
    ]).then(() => undefined);
  }

  /** Records a statement that ran (or failed) on the target. */
  recordStatement(statement: DbStatement): void {
    this.#stats.statements += 1;
    if (statement.sqlstate !== undefined) this.#stats.errors += 1;
    const text = this.#text(statement.sql, statement.isSqlCut);
    const hidesParams = text.isRedacted || text.mentionsSecret;
    // Built field by field (in this order) rather than from spreads: this runs per statement.
    const data: Record<string, unknown> = {
      protocol: this.#o.protocol,
      mode: statement.mode,
      sql: text.sql,
      fingerprint: text.fingerprint,
    };
    if (statement.statement !== undefined) data['statement'] = statement.statement;
    if (statement.portal !== undefined) data['portal'] = statement.portal;
    if (statement.params !== undefined)
      data['params'] = hidesParams
        ? statement.params.map(redactedParam)
        : formatParams(statement.params);
    if (statement.isParamsCut === true || (statement.params?.length ?? 0) > MAX_PARAMS)
      data['paramsTruncated'] = true;
    data['durationMs'] = Math.round(statement.durationMs * 1000) / 1000;
    data['rows'] = statement.rows;
    if (statement.commands !== undefined)
      data['commands'] = statement.commands.slice(0, MAX_COMMANDS);
    data['status'] = statement.sqlstate === undefined ? 'ok' : 'error';
    if (statement.sqlstate !== undefined) data['sqlstate'] = statement.sqlstate;
    // A server message can quote the statement (syntax errors): not when it was redacted.
    if (statement.error !== undefined && !hidesParams)
      data['error'] = statement.error.slice(0, MAX_ERROR_CHARS);
    if (statement.isSuspended === true) data['suspended'] = true;
    if (hidesParams) data['redacted'] = true;
    if (text.isTruncated) data['truncated'] = true;
    this.#emit('db.query', 'query', data);
  }

  /** Records a statement refused by policy before it reached the target. */
  recordDenied(denial: DbDenial): void {
    this.#stats.denied += 1;
    const text = this.#text(denial.sql, denial.isSqlCut);
    this.#emit('db.denied', 'denied', {
      protocol: this.#o.protocol,
      mode: denial.mode,
      reason: denial.reason,
      what: denial.what,
      sql: text.sql,
      fingerprint: text.fingerprint,
      ...(text.isRedacted ? { redacted: true } : {}),
      ...(text.isTruncated ? { truncated: true } : {}),
    });
  }

  /** Records a cancel request the gateway passed to the target for this session. */
  recordCancel(data: { readonly fromAddr: string }): void {
    this.#stats.cancels += 1;
    this.#emit('db.cancel', 'cancel', { protocol: this.#o.protocol, fromAddr: data.fromAddr });
  }

  /** Commits what is queued now and waits until every event so far is in the chain (or the first failure). */
  async flush(): Promise<void> {
    this.#commitQueued();
    await this.#tail;
  }

  #text(sql: string | undefined, isCut: boolean | undefined): AuditedText {
    if (sql === undefined) return NO_TEXT;
    // The same text gives the same result: prepared statements (and ORMs) repeat theirs.
    const isCached = isCut !== true && sql.length <= TEXT_CACHE_MAX_CHARS;
    const texts = this.#texts;
    const cache = texts.entries;
    const cached = isCached ? cache.get(sql) : undefined;
    if (cached !== undefined) {
      // Least recently used goes first: move this one to the end (unless it is there already:
      // sessions running one prepared statement hit the same text again and again).
      if (texts.newest !== sql) {
        cache.delete(sql);
        cache.set(sql, cached);
        texts.newest = sql;
      }
      return cached;
    }
    if (isCached) {
      // Plain texts need no redaction, and a plain DML text's fingerprint is that of its shape:
      // neither is remembered per text (a new literal each time would only churn the cache).
      const plain = scanPlainSql(sql, this.#o.dialect);
      if (plain.isPlain)
        return {
          sql,
          fingerprint: this.#shapeFingerprint(sql, plain.shape),
          isRedacted: false,
          isTruncated: false,
          mentionsSecret: false,
        };
    }
    const redacted = redactSql(sql, {
      dialect: this.#o.dialect,
      ...(isCut === true ? { isCut } : {}),
    });
    // A fingerprint of a cut text would name another statement; libpg-query ignores literals.
    const fingerprint = redacted.isTruncated ? null : safeFingerprint(this.#o.fingerprint, sql);
    const text: AuditedText = {
      sql: redacted.text,
      fingerprint,
      isRedacted: redacted.isRedacted,
      isTruncated: redacted.isTruncated,
      mentionsSecret: !redacted.isRedacted && mentionsSecret(sql, this.#o.dialect),
    };
    if (isCached) {
      if (cache.size >= TEXT_CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
      cache.set(sql, text);
      texts.newest = sql;
    }
    return text;
  }

  #shapeFingerprint(sql: string, shape: string | undefined): string | null {
    const fingerprint = this.#o.fingerprint;
    if (fingerprint === undefined) return null;
    if (shape === undefined) return safeFingerprint(fingerprint, sql);
    const shapes = shapeCacheFor(fingerprint);
    const known = shapes.get(shape);
    if (known !== undefined) return known.fingerprint;
    const computed = safeFingerprint(fingerprint, sql);
    if (shapes.size >= SHAPE_CACHE_ENTRIES) shapes.delete(shapes.keys().next().value as string);
    shapes.set(shape, { fingerprint: computed });
    return computed;
  }

  #emit(type: AuditEventType, transcriptType: string, data: Record<string, unknown>): void {
    if (this.#failure !== undefined) return;
    this.#o.transcript?.append(transcriptType, data);
    const event: AuditEventInput = {
      type,
      user: this.#o.user,
      sid: this.#o.sid,
      target: this.#o.target,
      clientAddr: this.#o.clientAddr,
      data,
    };
    this.#pending += 1;
    this.#queued.push(event);
    if (this.#queued.length >= MAX_AUDIT_BATCH) this.#commitQueued();
    else
      this.#timer ??= setTimeout(
        () => this.#commitQueued(),
        this.#o.batchIntervalMs ?? AUDIT_BATCH_INTERVAL_MS,
      ).unref();
  }

  // Chains one commit of everything queued after the commits before it.
  #commitQueued(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#queued.length === 0) return;
    const batch = this.#queued;
    this.#queued = [];
    this.#tail = this.#tail.then(async () => {
      try {
        if (this.#failure === undefined) await this.#o.auditBatch(batch);
      } catch (err) {
        this.#failure =
          err instanceof GatehouseError
            ? err
            : new GatehouseError('GH_AUDIT_WRITE_FAILED', {
                detail: `${batch.length} database events`,
                cause: err,
              });
        this.#o.onFailure(this.#failure);
      } finally {
        this.#pending -= batch.length;
        if (this.#pending < this.#maxPending) {
          const waiters = this.#drainWaiters;
          this.#drainWaiters = [];
          for (const wake of waiters) wake();
        }
      }
    });
  }
}

/** A statement's text as audited, and what it tells about secrets. */
interface AuditedText {
  readonly sql: string | null;
  readonly fingerprint: string | null;
  readonly isRedacted: boolean;
  readonly isTruncated: boolean;
  /** The text names a password (its parameters are hidden) though no literal was replaced. */
  readonly mentionsSecret: boolean;
}

const NO_TEXT: AuditedText = {
  sql: null,
  fingerprint: null,
  isRedacted: false,
  isTruncated: false,
  mentionsSecret: false,
};
/** Audited texts by statement text, least recently used first; `newest` is the last one used. */
interface TextCache {
  readonly entries: Map<string, AuditedText>;
  newest: string | undefined;
}

// Process-wide and bounded, one per fingerprint function and dialect (the result depends on both).
const textCaches = new WeakMap<object, Map<SqlDialect, TextCache>>();
const WITHOUT_FINGERPRINT = {};

function textCacheFor(
  fingerprint: ((sql: string) => string | null) | undefined,
  dialect: SqlDialect,
): TextCache {
  const owner = fingerprint ?? WITHOUT_FINGERPRINT;
  let byDialect = textCaches.get(owner);
  if (byDialect === undefined) {
    byDialect = new Map();
    textCaches.set(owner, byDialect);
  }
  let cache = byDialect.get(dialect);
  if (cache === undefined) {
    cache = { entries: new Map(), newest: undefined };
    byDialect.set(dialect, cache);
  }
  return cache;
}

// Fingerprints by shape (src/db/plain-sql.ts), process-wide and bounded like the texts.
const shapeCaches = new WeakMap<object, Map<string, { readonly fingerprint: string | null }>>();

function shapeCacheFor(
  fingerprint: (sql: string) => string | null,
): Map<string, { readonly fingerprint: string | null }> {
  let cache = shapeCaches.get(fingerprint);
  if (cache === undefined) {
    cache = new Map();
    shapeCaches.set(fingerprint, cache);
  }
  return cache;
}

function formatParams(params: readonly (string | null)[]): (string | null)[] {
  const n = Math.min(params.length, MAX_PARAMS);
  const out = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const p = params[i] ?? null;
    out[i] = p === null ? null : cutUtf8(p, MAX_PARAM_BYTES);
  }
  return out;
}

function redactedParam(): string {
  return '[redacted]';
}

function safeFingerprint(
  fingerprint: ((sql: string) => string | null) | undefined,
  sql: string,
): string | null {
  if (fingerprint === undefined) return null;
  try {
    return fingerprint(sql);
  } catch {
    return null;
  }
}
