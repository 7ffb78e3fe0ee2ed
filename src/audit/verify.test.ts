import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, rmSync, truncateSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makeSigner } from '../crypto/key-files.js';
import {
  checkpointPayload,
  verifyAuditChain,
  writeCheckpoint,
  type AuditVerifyReport,
} from './index.js';
import {
  appendEvents,
  openAuditFixture,
  type AuditFixture,
} from '../../test/support/audit-fixtures.js';
import {
  deleteEvents,
  readSinkLines,
  rehashFrom,
  seedChain,
  setEventColumn,
  swapEventSeqs,
  writeSinkLines,
} from '../../test/support/audit-tamper.js';
import { STORE_DRIVERS } from '../../test/support/stores.js';

/** 50 events with checkpoints at 10, 20, 30, 40, 50 in the store and the sink. */
async function openChain(driver: (typeof STORE_DRIVERS)[number]): Promise<AuditFixture> {
  // Checkpoints at 10, 20, … 50 exactly (automatic ones trail their commits by a moment).
  const fx = await openAuditFixture(driver, { checkpointEvery: 1_000 });
  for (let i = 0; i < 5; i++) {
    await appendEvents(fx.log, 10, { together: true });
    await fx.log.checkpoint();
  }
  await fx.log.close();
  return fx;
}

function kinds(report: AuditVerifyReport): string[] {
  return report.problems.map((p) => `${p.kind}@${p.seq ?? '-'}`);
}

describe.each(STORE_DRIVERS)('verifyAuditChain on %s', (driver) => {
  it('an-intact-chain-verifies-with-every-checkpoint-matching', async () => {
    await using fx = await openChain(driver);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report).toEqual({
      ok: true,
      eventCount: 50,
      lastSeq: 50,
      checkpointCount: 5,
      sinkCheckpointCount: 5,
      coveredUpToSeq: 50,
      problems: [],
      omittedProblemCount: 0,
    });
  });

  it('an-empty-chain-without-a-sink-verifies', async () => {
    await using fx = await openAuditFixture(driver);
    expect(await verifyAuditChain(fx.verifyOptions)).toMatchObject({
      ok: true,
      eventCount: 0,
      lastSeq: 0,
    });
  });

  it.each([
    ['time', 1],
    ['type', 'ssh.exec'],
    ['user_name', 'mallory'],
    ['sid', 'other'],
    ['target', 'web-2'],
    ['gateway', null],
    ['client_addr', '10.6.6.6'],
    ['data', '{"command":"ls","n":17}'],
    ['data', '{"n":17, "command":"echo 17"}'],
    ['prev_hash', 'f'.repeat(64)],
    ['hash', 'f'.repeat(64)],
  ] as const)('an-edited-%s-column-names-that-event', async (column, value) => {
    await using fx = await openChain(driver);
    await setEventColumn(fx.store.db, 17, column, value);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(17);
    expect(kinds(report)).toEqual(['hash-mismatch@17']);
    expect(report.problems[0]?.message).toContain('event 17');
  });

  it('a-deleted-event-is-named-as-missing', async () => {
    await using fx = await openChain(driver);
    await deleteEvents(fx.store.db, 7, 7);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report.firstBadSeq).toBe(7);
    expect(report.problems).toEqual([{ kind: 'gap', seq: 7, message: 'event 7 is missing' }]);
    expect(report.eventCount).toBe(49);
  });

  it('deleted-events-in-the-middle-are-named-as-a-range', async () => {
    await using fx = await openChain(driver);
    await deleteEvents(fx.store.db, 7, 9);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report.problems).toEqual([{ kind: 'gap', seq: 7, message: 'events 7..9 are missing' }]);
  });

  it('swapped-events-are-named-as-reordered-from-the-first', async () => {
    await using fx = await openChain(driver);
    await swapEventSeqs(fx.store.db, 3, 4);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report.firstBadSeq).toBe(3);
    expect(kinds(report)).toEqual(['order@3', 'order@4']);
    expect(report.problems[0]?.message).toBe(
      'event 3 holds the event written as 4: rows were reordered',
    );
  });

  it('deleted-last-events-are-named-from-the-head', async () => {
    await using fx = await openChain(driver);
    await deleteEvents(fx.store.db, 41, 50);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report.firstBadSeq).toBe(41);
    expect(kinds(report)).toEqual(['store-truncated@41']);
    expect(report.problems[0]?.message).toContain('events 41..50 are missing');
  });

  it('deleted-last-events-with-head-and-checkpoints-rolled-back-are-named-from-the-sink', async () => {
    await using fx = await openChain(driver);
    await deleteEvents(fx.store.db, 41, 50, { coverTracks: true });
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report.firstBadSeq).toBe(41);
    expect(report.problems).toEqual([
      {
        kind: 'store-truncated',
        seq: 41,
        message: 'events 41..50 are missing: the store ends at event 40',
      },
    ]);
  });

  it('a-forged-event-with-recomputed-hashes-is-caught-by-the-checkpoints', async () => {
    await using fx = await openChain(driver);
    await setEventColumn(fx.store.db, 45, 'user_name', 'mallory');
    await rehashFrom(fx.store.db, 45);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(50);
    expect(kinds(report)).toEqual(['checkpoint-mismatch@50', 'checkpoint-mismatch@50']);
    expect(report.coveredUpToSeq).toBe(40);
  });

  it('a-forged-event-is-caught-by-the-sink-alone-when-store-checkpoints-are-gone', async () => {
    await using fx = await openChain(driver);
    await setEventColumn(fx.store.db, 12, 'data', '{"command":"true","n":12}');
    await rehashFrom(fx.store.db, 12);
    await fx.store.db.deleteFrom('audit_checkpoints').execute();
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report.firstBadSeq).toBe(20);
    expect(kinds(report)).toEqual([
      'checkpoint-mismatch@20',
      'checkpoint-mismatch@30',
      'checkpoint-mismatch@40',
      'checkpoint-mismatch@50',
    ]);
    expect(report.problems[0]?.message).toContain('sink checkpoint at event 20');
  });

  it('a-truncated-sink-lacks-the-newest-store-checkpoints', async () => {
    await using fx = await openChain(driver);
    writeSinkLines(fx.sinkPath, readSinkLines(fx.sinkPath).slice(0, 3));
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBeUndefined();
    expect(report.problems).toEqual([
      {
        kind: 'sink-truncated',
        seq: 40,
        message:
          'the sink lacks 2 checkpoint(s) the store has, from event 40: it was truncated or edited',
      },
    ]);
  });

  it('a-sink-cut-mid-line-is-reported', async () => {
    await using fx = await openChain(driver);
    truncateSync(fx.sinkPath, statSync(fx.sinkPath).size - 20);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(kinds(report)).toEqual(['sink-truncated@50', 'sink-truncated@-']);
    expect(report.problems[1]?.message).toBe('sink line 5 is cut off');
  });

  it('an-edited-sink-line-fails-its-signature', async () => {
    await using fx = await openChain(driver);
    const lines = readSinkLines(fx.sinkPath);
    lines[2] = (lines[2] ?? '').replace(/"hash":"[0-9a-f]{4}/, '"hash":"0000');
    writeSinkLines(fx.sinkPath, lines);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(kinds(report)).toEqual(['checkpoint-signature@30', 'sink-truncated@30']);
    expect(report.problems[0]?.message).toBe(
      'sink line 3 (event 30): its signature does not verify',
    );
  });

  it('a-garbage-sink-line-is-reported', async () => {
    await using fx = await openChain(driver);
    writeSinkLines(fx.sinkPath, [...readSinkLines(fx.sinkPath), '{"seq":"x"}']);
    expect(kinds(await verifyAuditChain(fx.verifyOptions))).toEqual(['sink-malformed@-']);
  });

  it('a-deleted-sink-is-reported', async () => {
    await using fx = await openChain(driver);
    rmSync(fx.sinkPath);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(kinds(report)).toEqual(['sink-missing@-']);
    expect(report.problems[0]?.message).toContain('does not exist');
  });

  it('an-unreadable-sink-is-reported', async () => {
    await using fx = await openChain(driver);
    rmSync(fx.sinkPath);
    mkdirSync(fx.sinkPath);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(kinds(report)).toEqual(['sink-missing@-']);
    expect(report.problems[0]?.message).toContain('cannot be read: EISDIR');
  });

  it('a-forged-store-checkpoint-fails-its-signature', async () => {
    await using fx = await openChain(driver);
    await fx.store.db
      .updateTable('audit_checkpoints')
      .set({ time: 1 })
      .where('seq', '=', 20)
      .execute();
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(kinds(report)).toEqual(['checkpoint-signature@20']);
    expect(report.problems[0]?.message).toBe(
      'store checkpoint at event 20: its signature does not verify',
    );
  });

  it('a-store-checkpoint-signed-by-another-key-is-refused', async () => {
    await using fx = await openChain(driver);
    const intruder = makeSigner(generateKeyPairSync('ed25519').privateKey);
    const forged = { seq: 30, hash: 'a'.repeat(64), time: 1 };
    await fx.store.db
      .updateTable('audit_checkpoints')
      .set({
        hash: forged.hash,
        time: forged.time,
        key_id: intruder.keyId,
        signature: intruder.sign(checkpointPayload(forged)),
      })
      .where('seq', '=', 30)
      .execute();
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(kinds(report)).toEqual(['checkpoint-signature@30']);
    expect(report.problems[0]?.message).toContain(`names key ${intruder.keyId}`);
  });

  it('a-head-that-disagrees-with-the-last-event-is-reported', async () => {
    await using fx = await openChain(driver);
    await fx.store.db
      .updateTable('audit_head')
      .set({ hash: 'e'.repeat(64) })
      .execute();
    expect(kinds(await verifyAuditChain(fx.verifyOptions))).toEqual(['head-mismatch@50']);
  });

  it('a-missing-head-row-is-reported-and-the-events-still-walked', async () => {
    await using fx = await openChain(driver);
    await fx.store.db.deleteFrom('audit_head').execute();
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(kinds(report)).toEqual(['head-mismatch@-']);
    expect(report).toMatchObject({ eventCount: 50, coveredUpToSeq: 50 });
  });

  it('an-event-inserted-past-the-head-is-reported', async () => {
    await using fx = await openChain(driver);
    const last = await fx.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '=', 50)
      .executeTakeFirstOrThrow();
    await fx.store.db
      .insertInto('audit_events')
      .values({ ...last, seq: 51 })
      .execute();
    expect(kinds(await verifyAuditChain(fx.verifyOptions))).toEqual(['head-mismatch@51']);
  });

  it('verification-pages-through-a-long-chain-and-names-a-late-edit', async () => {
    await using fx = await openAuditFixture(driver);
    await seedChain(fx.store.db, 2_600);
    await writeCheckpoint({
      db: fx.store.db,
      signer: fx.signer,
      sinkPath: fx.sinkPath,
      clock: () => 1,
    });
    expect(await verifyAuditChain(fx.verifyOptions)).toMatchObject({
      ok: true,
      eventCount: 2_600,
      lastSeq: 2_600,
    });
    await setEventColumn(fx.store.db, 2_345, 'user_name', 'mallory');
    await deleteEvents(fx.store.db, 1_000, 1_001);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(kinds(report)).toEqual(['gap@1000', 'hash-mismatch@2345']);
    expect(report.firstBadSeq).toBe(1_000);
  });

  it('verification-during-appends-reports-no-false-problems', async () => {
    await using fx = await openAuditFixture(driver, { checkpointEvery: 3 });
    let isWriting = true;
    const writing = (async () => {
      await appendEvents(fx.log, 60);
      isWriting = false;
    })();
    const reports: AuditVerifyReport[] = [];
    while (isWriting) reports.push(await verifyAuditChain(fx.verifyOptions));
    await writing;
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.flatMap((r) => r.problems).filter((p) => p.kind !== 'sink-missing')).toEqual([]);
  });
});
