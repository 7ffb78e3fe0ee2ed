import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { Database } from '../store/schema.js';
import {
  describeMissing,
  ProblemList,
  type AuditProblem,
  type AuditProblemKind,
} from './problems.js';
import { scanSink, scanStoreCheckpoints, type WitnessContext } from './verify-checkpoints.js';
import { walkChain } from './verify-events.js';

// Findings that say an event is wrong or gone (the others are about the witnesses).
const EVENT_PROBLEMS: ReadonlySet<AuditProblemKind> = new Set<AuditProblemKind>([
  'hash-mismatch',
  'gap',
  'order',
  'head-mismatch',
  'store-truncated',
  'checkpoint-mismatch',
]);

/** Inputs of {@link verifyAuditChain}. */
export interface VerifyAuditOptions {
  readonly db: Kysely<Database>;
  /** The control-plane public key that signs checkpoints. */
  readonly publicKey: KeyObject;
  /** The external sink file the checkpoints were appended to. */
  readonly sinkPath: string;
}

/** The outcome of {@link verifyAuditChain}. */
export interface AuditVerifyReport {
  /** True when no problem was found. */
  readonly ok: boolean;
  readonly eventCount: number;
  /** Seq of the last event in the store (0 when none). */
  readonly lastSeq: number;
  /** Checkpoints in the store. */
  readonly checkpointCount: number;
  /** Checkpoint lines in the sink. */
  readonly sinkCheckpointCount: number;
  /** Highest seq vouched for by a signed checkpoint that matches the chain (0 when none). */
  readonly coveredUpToSeq: number;
  /** Findings, ordered by seq; at most `MAX_REPORTED_PROBLEMS`. */
  readonly problems: readonly AuditProblem[];
  /** Findings past that bound, counted only. */
  readonly omittedProblemCount: number;
  /** The first event that is altered, missing or unvouched for, when one can be named. */
  readonly firstBadSeq?: number;
}

/**
 * Verifies the audit chain (DESIGN.md §5): recomputes every hash, checks that seqs have no
 * gaps and the head matches the last event, checks each checkpoint's signature in the store
 * and the sink against the chain, and that the sink holds every store checkpoint. Events
 * and checkpoints are read in pages. Throws GH_STORE_UNAVAILABLE only if the store cannot
 * be read; damage is reported, not thrown.
 */
export async function verifyAuditChain(options: VerifyAuditOptions): Promise<AuditVerifyReport> {
  try {
    return await verify(options);
  } catch (err) {
    if (isGatehouseError(err)) throw err;
    throw new GatehouseError('GH_STORE_UNAVAILABLE', {
      detail: `audit verify: ${err instanceof Error ? err.message : String(err)}`,
      cause: err,
    });
  }
}

async function verify(options: VerifyAuditOptions): Promise<AuditVerifyReport> {
  const { db } = options;
  const problems = new ProblemList();
  const snapshot = await readHead(db);
  const head = snapshot.head ?? { seq: snapshot.maxSeq, hash: '' };
  if (snapshot.head === undefined) {
    problems.add('head-mismatch', undefined, 'the chain head row (audit_head id 1) is missing');
  } else if (snapshot.maxSeq > head.seq) {
    problems.add(
      'head-mismatch',
      head.seq + 1,
      `event ${head.seq + 1} and later were not written through the chain head (at ${head.seq})`,
    );
  }
  // Events past the head snapshot are appends made during the walk; later runs cover them.
  const walk = await walkChain(db, head.seq, problems);
  if (snapshot.head !== undefined && walk.lastSeq === head.seq && walk.lastHash !== head.hash) {
    problems.add(
      'head-mismatch',
      head.seq,
      `the chain head's hash is not event ${head.seq}'s hash`,
    );
  }
  const ctx: WitnessContext = {
    db,
    publicKey: options.publicKey,
    problems,
    walk,
    missingUpTo: head.seq,
    coveredUpTo: 0,
  };
  const sink = await scanSink(ctx, options.sinkPath);
  if (!sink.exists && (walk.eventCount > 0 || sink.readError !== undefined)) {
    problems.add(
      'sink-missing',
      undefined,
      sink.readError === undefined
        ? `the sink ${options.sinkPath} does not exist`
        : `the sink ${options.sinkPath} cannot be read: ${sink.readError}`,
    );
  }
  // A store checkpoint's sink line is written before its row, so every row in the snapshot
  // has its line in the sink read after it; newer rows are not held against the sink.
  const checkpointCount = await scanStoreCheckpoints(ctx, sink, snapshot.maxCheckpointSeq);
  if (ctx.missingUpTo > walk.lastSeq) {
    problems.add(
      'store-truncated',
      walk.lastSeq + 1,
      `${describeMissing(walk.lastSeq + 1, ctx.missingUpTo)}: the store ends at event ${walk.lastSeq}`,
    );
  }
  const found = problems.sorted();
  const firstBadSeq = found.find((p) => p.seq !== undefined && EVENT_PROBLEMS.has(p.kind))?.seq;
  return {
    ok: found.length === 0,
    eventCount: walk.eventCount,
    lastSeq: walk.lastSeq,
    checkpointCount,
    sinkCheckpointCount: sink.checkpointCount,
    coveredUpToSeq: ctx.coveredUpTo,
    problems: found,
    omittedProblemCount: problems.omitted,
    ...(firstBadSeq === undefined ? {} : { firstBadSeq }),
  };
}

interface HeadSnapshot {
  readonly head: { readonly seq: number; readonly hash: string } | undefined;
  readonly maxSeq: number;
  readonly maxCheckpointSeq: number;
}

/** The head and the highest seqs, read in one snapshot so appends cannot race them. */
async function readHead(db: Kysely<Database>): Promise<HeadSnapshot> {
  // SQLite ignores the level: its read transaction is a snapshot already.
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const head = await trx
        .selectFrom('audit_head')
        .select(['seq', 'hash'])
        .where('id', '=', 1)
        .executeTakeFirst();
      const max = await trx
        .selectFrom('audit_events')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .executeTakeFirst();
      const cp = await trx
        .selectFrom('audit_checkpoints')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .executeTakeFirst();
      return { head, maxSeq: max?.seq ?? 0, maxCheckpointSeq: cp?.seq ?? 0 };
    });
}
