import type { Kysely } from 'kysely';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { Signer } from '../crypto/key-files.js';
import type { ChainAppender } from '../store/open.js';
import type { Database } from '../store/schema.js';
import { appendManyToChain, appendToChain, chainedRecord, type ChainedEvents } from './chain.js';
import { GroupCommit } from './group-commit.js';
import { writeCheckpoint } from './checkpoint.js';
import type {
  AuditAppendOptions,
  AuditCheckpoint,
  AuditEventInput,
  AuditRecord,
  AuditWriter,
} from './types.js';
import { validateAuditEvent, type ValidAuditEvent } from './validate.js';

/** Default number of events between automatic checkpoints. */
export const CHECKPOINT_EVERY_EVENTS = 100;
/** Default period of the checkpoint timer started by {@link AuditLog.start}. */
export const CHECKPOINT_INTERVAL_MS = 5_000;
/** Longest time events given to {@link AuditLog.appendBatch} wait to share a commit. */
export const GROUP_COMMIT_MS = 50;
/**
 * How long {@link AuditLog.appendBatch} keeps trying while the store is unavailable
 * (GH_STORE_UNAVAILABLE: a PostgreSQL restart or failover, a SQLite file locked by another
 * process). Its events record what already happened (statements, commands): dropping them
 * would leave a gap. `append` does not retry: its events gate an action (a login, an unlock),
 * which is refused at once instead (fail closed).
 */
export const AUDIT_RETRY_MS = 30_000;

/** What an {@link AuditLog} needs. */
export interface AuditLogDeps {
  readonly db: Kysely<Database>;
  /** The control-plane key; it signs checkpoints. */
  readonly signer: Signer;
  /** The external append-only file that receives every checkpoint. */
  readonly sinkPath: string;
  readonly clock?: Clock;
  /** Checkpoint after this many events appended by this instance (default 100). */
  readonly checkpointEvery?: number;
  /** Period of the timer started by `start()` (default 5 s). */
  readonly checkpointIntervalMs?: number;
  /**
   * Told when an automatic checkpoint fails. The events themselves are durable by then, so
   * `append` does not reject for it; the next checkpoint covers them. Default: a process
   * warning.
   */
  readonly onCheckpointError?: (err: GatehouseError) => void;
  /** Window of the group commit of {@link AuditLog.appendBatch} (default 50 ms). */
  readonly groupCommitMs?: number;
  /** How long appends keep trying while the store is unavailable (default {@link AUDIT_RETRY_MS}). */
  readonly retryWithinMs?: number;
  /**
   * The store's one-message append (`Store.appendChain`), used instead of a transaction on
   * `db`, and inside a caller's transaction instead of its three statements.
   */
  readonly appendChain?: ChainAppender | undefined;
}

/**
 * The audit chain writer (DESIGN.md §5): appends hash-chained events to the store and
 * writes signed checkpoints to the store and the external sink. Call `close()` (or dispose
 * it) on shutdown so the sink ends at the head.
 */
export class AuditLog implements AuditWriter, AsyncDisposable {
  readonly #deps: AuditLogDeps;
  readonly #clock: Clock;
  readonly #checkpointEvery: number;
  readonly #intervalMs: number;
  readonly #inflight = new Set<Promise<unknown>>();
  #checkpointTail: Promise<unknown> = Promise.resolve();
  #sinceCheckpoint = 0;
  /** The checkpoint started by {@link #counted}, while it runs. */
  #autoCheckpoint: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #isClosed = false;
  /** Events that gate an action (`append` outside a transaction): committed at once, no retry. */
  readonly #awaited: GroupCommit;
  /** Events of what already happened (`appendBatch`): a window to gather more, retried. */
  readonly #deferred: GroupCommit;

  constructor(deps: AuditLogDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#checkpointEvery = positiveInteger(
      deps.checkpointEvery ?? CHECKPOINT_EVERY_EVENTS,
      'checkpointEvery',
    );
    this.#intervalMs = positiveInteger(
      deps.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS,
      'checkpointIntervalMs',
    );
    const onCommitted = (count: number): void => this.#counted(count);
    this.#awaited = new GroupCommit({
      windowMs: 0,
      commit: (events) => this.#commitEvents(events, false),
      onCommitted,
    });
    this.#deferred = new GroupCommit({
      windowMs: deps.groupCommitMs ?? GROUP_COMMIT_MS,
      commit: (events) => this.#commitEvents(events, true),
      onCommitted,
    });
  }

  /**
   * Appends an event; resolves once it is committed (or, with `trx`, written in the
   * caller's transaction). Rejects with GH_AUDIT_WRITE_FAILED, and the audited action
   * must then not happen.
   */
  append(event: AuditEventInput, options: AuditAppendOptions = {}): Promise<AuditRecord> {
    const appending = this.#append(event, options);
    this.#inflight.add(appending);
    const forget = (): void => {
      this.#inflight.delete(appending);
    };
    appending.then(forget, forget);
    return appending;
  }

  /**
   * Appends events that need not be durable at once (e.g. the statements of database
   * sessions), in order, with a group commit: every batch handed in within
   * `groupCommitMs`, from any caller, goes into one transaction, so one disk sync serves
   * them all instead of one per caller. While the store is unavailable the commit is tried
   * again for up to `retryWithinMs`. Resolves once committed; rejects with
   * GH_AUDIT_WRITE_FAILED (then none of the batch is in the chain).
   */
  appendBatch(events: readonly AuditEventInput[]): Promise<void> {
    if (this.#isClosed)
      return Promise.reject(
        new GatehouseError('GH_AUDIT_WRITE_FAILED', { detail: 'the audit log is closed' }),
      );
    if (events.length === 0) return Promise.resolve();
    let valid: ValidAuditEvent[];
    try {
      valid = events.map(validateAuditEvent);
    } catch (err) {
      return Promise.reject(
        err instanceof Error ? err : new GatehouseError('GH_AUDIT_WRITE_FAILED', { cause: err }),
      );
    }
    return this.#deferred.add(valid).then(() => undefined);
  }

  /** Writes a checkpoint of the current head unless the newest one already covers it. */
  checkpoint(): Promise<AuditCheckpoint | undefined> {
    // One at a time per instance; the store tolerates other processes doing the same.
    const run = this.#checkpointTail.then(() => this.#writeCheckpoint());
    this.#checkpointTail = run.catch(() => undefined);
    return run;
  }

  /** Starts the timer that checkpoints every `checkpointIntervalMs` when the head moved. */
  start(): void {
    if (this.#timer !== undefined || this.#isClosed) return;
    this.#timer = setInterval(() => {
      void this.#checkpointQuietly();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer, waits for pending appends and writes a final checkpoint. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.allSettled([...this.#inflight]);
    await Promise.all([this.#awaited.flush(), this.#deferred.flush()]);
    await this.#autoCheckpoint;
    await this.checkpoint();
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #append(event: AuditEventInput, options: AuditAppendOptions): Promise<AuditRecord> {
    if (this.#isClosed) {
      throw new GatehouseError('GH_AUDIT_WRITE_FAILED', { detail: 'the audit log is closed' });
    }
    const valid = validateAuditEvent(event);
    if (options.trx === undefined) {
      // Shares a transaction with whoever else is waiting: under load, one commit for many.
      const place = await this.#awaited.add([valid]);
      return chainedRecord(valid, place.chained, place.offset);
    }
    const { trx } = options;
    const { appendChain } = this.#deps;
    let record: AuditRecord;
    try {
      record =
        appendChain === undefined
          ? await appendToChain(trx, valid, this.#clock)
          : chainedRecord(
              valid,
              await appendChain(() => ({ events: [valid], time: this.#clock() }), trx),
              0,
            );
    } catch (err) {
      throw new GatehouseError('GH_AUDIT_WRITE_FAILED', {
        detail: `${valid.type}: ${describe(err)}`,
        cause: err,
      });
    }
    // Not committed yet (and on SQLite the connection is busy): the next commit outside a
    // transaction, the timer or close() checkpoints.
    this.#sinceCheckpoint += 1;
    return record;
  }

  /** Appends `events` in one transaction of their own (again while unavailable, if `retry`). */
  async #commitEvents(events: readonly ValidAuditEvent[], retry: boolean): Promise<ChainedEvents> {
    const { appendChain } = this.#deps;
    const write = (): Promise<ChainedEvents> =>
      appendChain === undefined
        ? this.#deps.db.transaction().execute((trx) => appendManyToChain(trx, events, this.#clock))
        : appendChain(() => ({ events, time: this.#clock() }));
    try {
      return await (retry ? this.#whileUnavailable(write) : write());
    } catch (err) {
      const what = events.length === 1 ? events[0]?.type : `${events.length} events`;
      throw new GatehouseError('GH_AUDIT_WRITE_FAILED', {
        detail: `${String(what)}: ${describe(err)}`,
        cause: err,
      });
    }
  }

  /**
   * Counts committed events; starts a checkpoint when enough have gathered and none is under
   * way (one more follows it if enough gathered meanwhile). Commits do not wait for it: its
   * sink line is an fsync on libuv's thread pool, which on a busy gateway queues behind the
   * recordings' writes for seconds.
   */
  #counted(count: number): void {
    this.#sinceCheckpoint += count;
    if (this.#sinceCheckpoint < this.#checkpointEvery || this.#autoCheckpoint !== undefined) return;
    this.#autoCheckpoint = this.#checkpointQuietly().then((ok) => {
      this.#autoCheckpoint = undefined;
      // After a failure the next commit tries again, not a loop here.
      if (ok && !this.#isClosed) this.#counted(0);
    });
  }

  /**
   * Runs a write transaction again while the store is unavailable, for up to `retryWithinMs`.
   * A failed transaction was rolled back, so trying again adds each event once; only a commit
   * cut off mid-way (its outcome unknown) can leave an event in the chain twice, never zero
   * times.
   */
  async #whileUnavailable<T>(write: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.#deps.retryWithinMs ?? AUDIT_RETRY_MS);
    for (let delayMs = 100; ; delayMs = Math.min(2_000, delayMs * 2)) {
      try {
        return await write();
      } catch (err) {
        if (!isGatehouseError(err, 'GH_STORE_UNAVAILABLE') || Date.now() + delayMs > deadline)
          throw err;
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  async #writeCheckpoint(): Promise<AuditCheckpoint | undefined> {
    const pending = this.#sinceCheckpoint;
    try {
      const checkpoint = await writeCheckpoint({ ...this.#deps, clock: this.#clock });
      this.#sinceCheckpoint = Math.max(0, this.#sinceCheckpoint - pending);
      return checkpoint;
    } catch (err) {
      throw new GatehouseError('GH_AUDIT_WRITE_FAILED', {
        detail: `checkpoint: ${describe(err)}`,
        cause: err,
      });
    }
  }

  /** Checkpoints; a failure is reported, not thrown. Resolves with whether it worked. */
  async #checkpointQuietly(): Promise<boolean> {
    try {
      await this.checkpoint();
      return true;
    } catch (err) {
      const error = isGatehouseError(err)
        ? err
        : new GatehouseError('GH_AUDIT_WRITE_FAILED', { cause: err });
      if (this.#deps.onCheckpointError === undefined) {
        process.emitWarning(
          `audit checkpoint failed: ${error.detail ?? error.message}`,
          'GatehouseAuditWarning',
        );
      } else {
        this.#deps.onCheckpointError(error);
      }
      return false;
    }
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: `audit ${name} must be a positive integer`,
    });
  }
  return value;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
