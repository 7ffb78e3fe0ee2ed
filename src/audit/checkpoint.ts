import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import { canonicalJson } from '../core/canonical-json.js';
import { keyIdOf, verifySignature, type Signer } from '../crypto/key-files.js';
import type { Database } from '../store/schema.js';
import { appendSinkLine } from './sink.js';
import type { AuditCheckpoint } from './types.js';

/** The bytes a checkpoint signature covers: canonical JSON of `{seq, hash, time}`. */
export function checkpointPayload(
  checkpoint: Pick<AuditCheckpoint, 'seq' | 'hash' | 'time'>,
): string {
  return canonicalJson({ seq: checkpoint.seq, hash: checkpoint.hash, time: checkpoint.time });
}

/** Signs a checkpoint for event `seq` whose chain hash is `hash`. */
export function signCheckpoint(
  signer: Signer,
  head: { seq: number; hash: string; time: number },
): AuditCheckpoint {
  return { ...head, keyId: signer.keyId, signature: signer.sign(checkpointPayload(head)) };
}

/** Why a checkpoint's signature does not verify, or undefined when it does. */
export function checkpointSignatureFault(
  publicKey: KeyObject,
  checkpoint: AuditCheckpoint,
): string | undefined {
  if (verifySignature(publicKey, checkpointPayload(checkpoint), checkpoint.signature))
    return undefined;
  const expected = keyIdOf(publicKey);
  return checkpoint.keyId === expected
    ? 'its signature does not verify'
    : `it names key ${checkpoint.keyId}, not the control-plane key ${expected}, and its signature does not verify`;
}

/** What {@link writeCheckpoint} needs. */
export interface CheckpointDeps {
  readonly db: Kysely<Database>;
  readonly signer: Signer;
  readonly sinkPath: string;
  readonly clock: Clock;
}

/**
 * Signs the current chain head and records it, unless the newest checkpoint already covers
 * it. The sink line is written (and fsynced) before the store row: a crash in between leaves
 * an extra witness, never a store checkpoint that the sink lacks.
 */
export async function writeCheckpoint(deps: CheckpointDeps): Promise<AuditCheckpoint | undefined> {
  // One statement: on a busy gateway each one waits a turn of the event loop for the store.
  const head = await deps.db
    .selectFrom('audit_head')
    .select((eb) => [
      'seq',
      'hash',
      eb.selectFrom('audit_checkpoints').select(eb.fn.max('seq').as('seq')).as('newest'),
    ])
    .where('id', '=', 1)
    .executeTakeFirst();
  if (head === undefined) throw new Error('audit_head row is missing');
  if (head.seq === 0) return undefined;
  if (head.newest !== null && Number(head.newest) >= head.seq) return undefined;
  const checkpoint = signCheckpoint(deps.signer, {
    seq: head.seq,
    hash: head.hash,
    time: deps.clock(),
  });
  await appendSinkLine(deps.sinkPath, checkpoint);
  // Another process may have checkpointed the same head a moment ago; its row stands.
  await deps.db
    .insertInto('audit_checkpoints')
    .values({
      seq: checkpoint.seq,
      hash: checkpoint.hash,
      time: checkpoint.time,
      key_id: checkpoint.keyId,
      signature: checkpoint.signature,
    })
    .onConflict((oc) => oc.column('seq').doNothing())
    .execute();
  return checkpoint;
}
