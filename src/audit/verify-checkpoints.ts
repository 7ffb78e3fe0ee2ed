import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { checkpointSignatureFault } from './checkpoint.js';
import type { ProblemList } from './problems.js';
import { SeqSet } from './seq-set.js';
import { readSink, type SinkLine } from './sink.js';
import type { AuditCheckpoint } from './types.js';
import type { ChainWalk } from './verify-events.js';

/** Checkpoints checked per store query. */
const CHECKPOINT_BATCH = 500;

/** Shared state of the checkpoint checks. */
export interface WitnessContext {
  readonly db: Kysely<Database>;
  readonly publicKey: KeyObject;
  readonly problems: ProblemList;
  readonly walk: ChainWalk;
  /** Highest seq a valid checkpoint names that the store does not have, past the walk's end. */
  missingUpTo: number;
  /** Highest seq covered by a valid checkpoint that matches the chain. */
  coveredUpTo: number;
}

/** What the sink pass found. */
export interface SinkScan {
  /** False when the sink does not exist or cannot be read (`readError` says why). */
  readonly exists: boolean;
  readonly readError?: string;
  readonly checkpointCount: number;
  /** Seqs of the sink's correctly signed checkpoints. */
  readonly seqs: SeqSet;
}

/** Checks every line of the sink: a signed checkpoint whose hash is the chain's at its seq. */
export async function scanSink(ctx: WitnessContext, sinkPath: string): Promise<SinkScan> {
  const lines = readSink(sinkPath);
  try {
    return await scanLines(ctx, lines);
  } finally {
    await lines.return(undefined); // closes the file when a store query failed midway
  }
}

async function scanLines(ctx: WitnessContext, lines: AsyncGenerator<SinkLine>): Promise<SinkScan> {
  const seqs = new SeqSet();
  let checkpointCount = 0;
  let batch: AuditCheckpoint[] = [];
  for (;;) {
    let next: IteratorResult<SinkLine>;
    try {
      next = await lines.next();
    } catch (err) {
      // Only reading the file is guarded here; a store error below is thrown as such.
      const readError = isMissingFile(err)
        ? {}
        : { readError: err instanceof Error ? err.message : String(err) };
      return { exists: false, ...readError, checkpointCount, seqs };
    }
    if (next.done === true) break;
    const line = next.value;
    if ('fault' in line) {
      const isCut = line.fault === 'cut-off';
      ctx.problems.add(
        isCut ? 'sink-truncated' : 'sink-malformed',
        undefined,
        `sink line ${line.lineNo} is ${isCut ? 'cut off' : 'not a checkpoint'}`,
      );
      continue;
    }
    checkpointCount += 1;
    const fault = checkpointSignatureFault(ctx.publicKey, line.checkpoint);
    if (fault !== undefined) {
      ctx.problems.add(
        'checkpoint-signature',
        line.checkpoint.seq,
        `sink line ${line.lineNo} (event ${line.checkpoint.seq}): ${fault}`,
      );
      continue;
    }
    seqs.add(line.checkpoint.seq);
    batch.push(line.checkpoint);
    if (batch.length >= CHECKPOINT_BATCH) {
      await matchChain(ctx, batch, 'sink');
      batch = [];
    }
  }
  await matchChain(ctx, batch, 'sink');
  return { exists: true, checkpointCount, seqs };
}

/**
 * Checks the store's checkpoints in seq order: signed by the control-plane key, matching
 * the chain, and — up to `sinkHoldsUpTo` — present in the sink (when it exists). Returns
 * how many there are.
 */
export async function scanStoreCheckpoints(
  ctx: WitnessContext,
  sink: SinkScan,
  sinkHoldsUpTo: number,
): Promise<number> {
  let count = 0;
  let afterSeq = 0;
  let notInSink: { first: number; count: number } | undefined;
  for (;;) {
    const rows = await ctx.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(CHECKPOINT_BATCH)
      .execute();
    const valid: AuditCheckpoint[] = [];
    for (const row of rows) {
      const checkpoint = {
        seq: row.seq,
        hash: row.hash,
        time: row.time,
        keyId: row.key_id,
        signature: row.signature,
      };
      const fault = checkpointSignatureFault(ctx.publicKey, checkpoint);
      if (fault !== undefined) {
        ctx.problems.add(
          'checkpoint-signature',
          row.seq,
          `store checkpoint at event ${row.seq}: ${fault}`,
        );
      } else {
        valid.push(checkpoint);
      }
      if (sink.exists && row.seq <= sinkHoldsUpTo && !sink.seqs.has(row.seq)) {
        notInSink =
          notInSink === undefined
            ? { first: row.seq, count: 1 }
            : { ...notInSink, count: notInSink.count + 1 };
      }
    }
    await matchChain(ctx, valid, 'store');
    count += rows.length;
    const last = rows.at(-1);
    if (last === undefined || rows.length < CHECKPOINT_BATCH) break;
    afterSeq = last.seq;
  }
  if (notInSink !== undefined) {
    ctx.problems.add(
      'sink-truncated',
      notInSink.first,
      `the sink lacks ${notInSink.count} checkpoint(s) the store has, from event ${notInSink.first}: it was truncated or edited`,
    );
  }
  return count;
}

/** Compares correctly signed checkpoints with the stored hashes at their seqs. */
async function matchChain(
  ctx: WitnessContext,
  checkpoints: readonly AuditCheckpoint[],
  source: 'store' | 'sink',
): Promise<void> {
  if (checkpoints.length === 0) return;
  const stored = await storedHashes(
    ctx.db,
    checkpoints.map((c) => c.seq),
  );
  for (const checkpoint of checkpoints) {
    const hash = stored.get(checkpoint.seq);
    if (hash === undefined) {
      // Inside the walked range a missing event is already reported as a gap.
      if (checkpoint.seq > ctx.walk.lastSeq)
        ctx.missingUpTo = Math.max(ctx.missingUpTo, checkpoint.seq);
    } else if (hash !== checkpoint.hash) {
      ctx.problems.add(
        'checkpoint-mismatch',
        checkpoint.seq,
        `the ${source} checkpoint at event ${checkpoint.seq} does not match the chain: ` +
          `an event up to ${checkpoint.seq} was altered and the hashes after it recomputed`,
      );
    } else {
      ctx.coveredUpTo = Math.max(ctx.coveredUpTo, checkpoint.seq);
    }
  }
}

async function storedHashes(
  db: Kysely<Database>,
  seqs: readonly number[],
): Promise<Map<number, string>> {
  const rows = await db
    .selectFrom('audit_events')
    .select(['seq', 'hash'])
    .where('seq', 'in', [...new Set(seqs)])
    .execute();
  return new Map(rows.map((r) => [r.seq, r.hash]));
}

function isMissingFile(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ENOENT';
}
