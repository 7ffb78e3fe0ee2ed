import { readFileSync, mkdirSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { verifyAuditChain, type AuditLog, type AuditRecord } from './index.js';
import { GENESIS_HASH } from '../store/index.js';
import { isGatehouseError } from '../core/errors.js';
import { appendEvents, openAuditFixture } from '../../test/support/audit-fixtures.js';
import { AUDIT_STORE_DRIVERS } from '../../test/support/audit-stores.js';

async function expectRefused(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toSatisfy((err: unknown) =>
    isGatehouseError(err, 'GH_AUDIT_WRITE_FAILED'),
  );
}

function sinkSeqs(path: string): number[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { seq: number }).seq);
}

describe.each(AUDIT_STORE_DRIVERS)('audit log on %s', (driver) => {
  it('appended-events-form-a-chain-that-verifies', async () => {
    await using fx = await openAuditFixture(driver, { clock: () => 1_800_000_000_000 });
    const first = await fx.log.append({ type: 'admin.init', user: 'root', data: { by: 'cli' } });
    const second = await fx.log.append({
      type: 'grant.create',
      user: 'alice',
      target: 'web-1',
      data: { grantId: 'g1', expiresAt: null },
    });
    expect(first).toMatchObject({
      seq: 1,
      prevHash: GENESIS_HASH,
      time: 1_800_000_000_000,
      type: 'admin.init',
      user: 'root',
      sid: null,
    });
    expect(second).toMatchObject({
      seq: 2,
      prevHash: first.hash,
      data: { grantId: 'g1', expiresAt: null },
    });
    expect(second.hash).toMatch(/^[0-9a-f]{64}$/);
    await appendEvents(fx.log, 8);
    await fx.log.close();
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report).toMatchObject({
      ok: true,
      eventCount: 10,
      lastSeq: 10,
      checkpointCount: 1,
      sinkCheckpointCount: 1,
      coveredUpToSeq: 10,
      problems: [],
    });
    const head = await fx.store.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
    expect(head.seq).toBe(10);
  });

  it('close-writes-a-final-checkpoint-so-the-sink-ends-at-the-head', async () => {
    await using fx = await openAuditFixture(driver);
    await fx.log.append({ type: 'admin.user.add', user: 'bob', data: { by: 'root' } });
    await fx.log.close();
    expect(sinkSeqs(fx.sinkPath)).toEqual([1]);
    const rows = await fx.store.db.selectFrom('audit_checkpoints').selectAll().execute();
    expect(rows.map((r) => r.seq)).toEqual([1]);
    await fx.log.close(); // idempotent
    expect(sinkSeqs(fx.sinkPath)).toEqual([1]);
  });

  it('checkpoints-every-n-events-and-only-when-the-head-moved', async () => {
    await using fx = await openAuditFixture(driver, { checkpointEvery: 3 });
    await appendEvents(fx.log, 7);
    // Commits do not wait for their checkpoint: the first covers at least 3 events, the next
    // at least 3 more.
    await vi.waitFor(() => expect(sinkSeqs(fx.sinkPath).length).toBeGreaterThanOrEqual(2));
    const automatic = sinkSeqs(fx.sinkPath);
    expect(automatic[0]).toBeGreaterThanOrEqual(3);
    expect(automatic[1]).toBeGreaterThanOrEqual((automatic[0] ?? 0) + 3);
    const last = await fx.log.checkpoint();
    if (automatic.at(-1) === 7) expect(last).toBeUndefined();
    else expect(last).toMatchObject({ seq: 7, keyId: fx.signer.keyId });
    expect(await fx.log.checkpoint()).toBeUndefined();
    await fx.log.close();
    const seqs = sinkSeqs(fx.sinkPath);
    expect(seqs.at(-1)).toBe(7);
    expect(seqs.filter((seq) => seq === 7)).toHaveLength(1);
    expect((await verifyAuditChain(fx.verifyOptions)).ok).toBe(true);
  });

  it('the-timer-checkpoints-new-events-within-the-interval', async () => {
    await using fx = await openAuditFixture(driver, { checkpointIntervalMs: 20 });
    fx.log.start();
    await appendEvents(fx.log, 2);
    // On a loaded machine the timer may also fire between the two appends (a checkpoint at 1):
    // what counts is that the head gets checkpointed, and that an unmoved head is not again.
    await vi.waitFor(() => expect(sinkSeqs(fx.sinkPath).at(-1)).toBe(2), {
      timeout: 5_000,
      interval: 20,
    });
    const written = sinkSeqs(fx.sinkPath);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sinkSeqs(fx.sinkPath)).toEqual(written);
    expect(written.filter((seq) => seq === 2)).toHaveLength(1);
  });

  it('concurrent-appends-produce-a-gap-free-chain', async () => {
    await using fx = await openAuditFixture(driver, { checkpointEvery: 7 });
    const records = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        fx.log.append({ type: 'db.query', user: `u${i % 4}`, data: { query: `select ${i}` } }),
      ),
    );
    expect(records.map((r) => r.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    await fx.log.close();
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report.problems).toEqual([]);
    expect(report.lastSeq).toBe(60);
  });

  it('awaited-appends-made-together-share-one-commit-and-each-gets-its-own-record', async () => {
    // The clock is read once per transaction: one reading for 40 appends means one commit
    // (on a busy store 40 transactions would each wait their turn for the connection).
    let readings = 0;
    await using fx = await openAuditFixture(driver, {
      checkpointEvery: 1000,
      clock: () => 1_800_000_000_000 + readings++,
    });
    const records = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fx.log.append({
          type: 'ssh.exec',
          user: 'alice',
          sid: `s${i}`,
          data: { command: `c${i}` },
        }),
      ),
    );
    expect(readings).toBe(1);
    const rows = await fx.store.db.selectFrom('audit_events').selectAll().orderBy('seq').execute();
    expect(records.map((r) => [r.seq, r.sid, r.prevHash, r.hash, r.time, r.data])).toEqual(
      rows.map((row) => [
        row.seq,
        row.sid,
        row.prev_hash,
        row.hash,
        row.time,
        JSON.parse(row.data) as unknown,
      ]),
    );
    expect(records.map((r) => r.sid)).toEqual(Array.from({ length: 40 }, (_, i) => `s${i}`));
    // The next append, once they are committed, is a transaction of its own.
    const later = await fx.log.append({ type: 'session.end', user: 'alice', sid: 's0' });
    expect(later).toMatchObject({ seq: 41, prevHash: records[39]?.hash, time: 1_800_000_000_001 });
    await fx.log.close();
    expect((await verifyAuditChain(fx.verifyOptions)).ok).toBe(true);
  });

  it('an-event-joined-to-a-caller-transaction-commits-and-rolls-back-with-it', async () => {
    await using fx = await openAuditFixture(driver);
    await fx.store.db.transaction().execute(async (trx) => {
      await trx.insertInto('kv').values({ key: 'change', value: '1' }).execute();
      await fx.log.append(
        { type: 'admin.target.add', target: 'web-1', data: { by: 'root' } },
        { trx },
      );
    });
    const failing = fx.store.db.transaction().execute(async (trx) => {
      await trx.insertInto('kv').values({ key: 'change-2', value: '1' }).execute();
      await fx.log.append(
        { type: 'admin.target.remove', target: 'web-1', data: { by: 'root' } },
        { trx },
      );
      throw new Error('the change failed after its event was written');
    });
    await expect(failing).rejects.toThrow('the change failed');
    const after = await fx.log.append({
      type: 'admin.target.add',
      target: 'web-2',
      data: { by: 'root' },
    });
    expect(after.seq).toBe(2);
    const kv = await fx.store.db.selectFrom('kv').select('key').execute();
    expect(kv.map((r) => r.key)).toEqual(['change']);
    await fx.log.close();
    expect((await verifyAuditChain(fx.verifyOptions)).ok).toBe(true);
  });

  it('a-store-failure-makes-append-throw-audit-write-failed', async () => {
    await using fx = await openAuditFixture(driver);
    await fx.log.append({ type: 'session.start', user: 'alice', sid: 's1' });
    await fx.store.db.destroy(); // the store goes away under the log
    await expectRefused(fx.log.append({ type: 'session.end', user: 'alice', sid: 's1' }));
  });

  it('a-row-squatting-the-next-seq-fails-the-append-and-leaves-the-head-alone', async () => {
    await using fx = await openAuditFixture(driver);
    await appendEvents(fx.log, 2);
    await fx.store.db
      .insertInto('audit_events')
      .values({
        seq: 3,
        time: 0,
        type: 'session.start',
        user_name: null,
        sid: null,
        target: null,
        gateway: null,
        client_addr: null,
        data: '{}',
        prev_hash: 'x',
        hash: 'y',
      })
      .execute();
    await expectRefused(fx.log.append({ type: 'session.start', user: 'alice' }));
    const head = await fx.store.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
    expect(head.seq).toBe(2);
  });

  it('a-missing-head-row-fails-the-append', async () => {
    await using fx = await openAuditFixture(driver);
    await fx.store.db.deleteFrom('audit_head').execute();
    await expectRefused(fx.log.append({ type: 'session.start', user: 'alice' }));
  });

  it('an-unknown-event-type-is-refused', async () => {
    await using fx = await openAuditFixture(driver);
    const event = { type: 'session.teleport' } as unknown as Parameters<AuditLog['append']>[0];
    await expectRefused(fx.log.append(event));
    expect(await fx.store.db.selectFrom('audit_events').selectAll().execute()).toEqual([]);
  });

  it('a-secret-looking-field-is-refused-and-nothing-is-written', async () => {
    await using fx = await openAuditFixture(driver);
    const refused: Array<Record<string, unknown>> = [
      { password: 'hunter2' },
      { newPassword: 'hunter2' },
      { options: { db_password: 'x' } },
      { totp_secret: 'JBSWY3DP' },
      { items: [{ token: 'gh_abc' }] },
      { sshPrivateKey: 'AAAA' },
      { credential: 'pw' },
      { apiKey: 'k' },
      { note: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----' },
      { when: new Date(0) },
      { size: Number.NaN },
    ];
    for (const data of refused) {
      await expectRefused(fx.log.append({ type: 'admin.credential.set', target: 'db-1', data }));
    }
    expect(await fx.store.db.selectFrom('audit_events').selectAll().execute()).toEqual([]);
    const allowed = await fx.log.append({
      type: 'credential.unlock',
      data: {
        credentialId: 'c1',
        tokenId: 't1',
        hasPassword: true,
        password: null,
        kind: 'password',
        omitted: undefined,
      },
    });
    expect(allowed.data).toEqual({
      credentialId: 'c1',
      tokenId: 't1',
      hasPassword: true,
      password: null,
      kind: 'password',
    });
  });

  it('a-closed-log-refuses-appends', async () => {
    await using fx = await openAuditFixture(driver);
    await fx.log.close();
    await expectRefused(fx.log.append({ type: 'session.end', sid: 's1' }));
  });

  it('a-failing-sink-does-not-reject-durable-events-but-is-reported-and-fails-close', async () => {
    await using fx = await openAuditFixture(driver, {
      checkpointEvery: 1,
      onCheckpointError: (err) => errors.push(err.code),
    });
    const errors: string[] = [];
    mkdirSync(fx.sinkPath, { recursive: true }); // a directory where the file should be
    const record: AuditRecord = await fx.log.append({
      type: 'session.start',
      user: 'alice',
      sid: 's1',
    });
    expect(record.seq).toBe(1);
    // The checkpoint runs once the append is durable (and before the next commit).
    await vi.waitFor(() => expect(errors).toEqual(['GH_AUDIT_WRITE_FAILED']));
    await expectRefused(fx.log.close());
    expect(await fx.store.db.selectFrom('audit_checkpoints').selectAll().execute()).toEqual([]);
  });
  it('batches-from-several-callers-share-one-commit-in-order-and-verify', async () => {
    await using fx = await openAuditFixture(driver, { groupCommitMs: 20, checkpointEvery: 1000 });
    await fx.log.append({ type: 'admin.init', user: 'root', data: { by: 'cli' } });
    const query = (sid: string, n: number) => ({
      type: 'db.query' as const,
      user: 'alice',
      sid,
      data: { sql: `SELECT ${n}` },
    });
    // Two sessions hand in batches within one window, a third after it was committed.
    await Promise.all([
      fx.log.appendBatch([query('s1', 1), query('s1', 2)]),
      fx.log.appendBatch([query('s2', 1)]),
    ]);
    await fx.log.appendBatch([query('s1', 3)]);
    await expectRefused(fx.log.appendBatch([{ type: 'db.query', data: { password: 'x' } }]));
    await fx.log.close();
    const rows = await fx.store.db
      .selectFrom('audit_events')
      .select(['seq', 'sid', 'data'])
      .orderBy('seq')
      .execute();
    expect(rows.map((r) => [r.seq, r.sid, (JSON.parse(r.data) as { sql?: string }).sql])).toEqual([
      [1, null, undefined],
      [2, 's1', 'SELECT 1'],
      [3, 's1', 'SELECT 2'],
      [4, 's2', 'SELECT 1'],
      [5, 's1', 'SELECT 3'],
    ]);
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report).toMatchObject({ ok: true, eventCount: 5, coveredUpToSeq: 5, problems: [] });
  });

  it('a-large-batch-goes-in-by-chunks-with-every-column-in-its-place', async () => {
    await using fx = await openAuditFixture(driver, {
      groupCommitMs: 5,
      checkpointEvery: 10_000,
      clock: () => 1_800_000_000_000,
    });
    // 300 = 256 + 32 + 8 + 4 rows: four INSERTs of different sizes.
    const events = Array.from({ length: 300 }, (_, i) => ({
      type: 'db.query' as const,
      user: `u${i}`,
      sid: `s${i}`,
      target: `t${i}`,
      gateway: `g${i}`,
      clientAddr: `10.0.${i >> 8}.${i & 255}`,
      data: { sql: `SELECT ${i}` },
    }));
    await fx.log.appendBatch(events);
    await fx.log.appendBatch(events.slice(0, 3));
    await fx.log.close();
    const rows = await fx.store.db.selectFrom('audit_events').selectAll().orderBy('seq').execute();
    expect(rows).toHaveLength(303);
    const expected = [...events, ...events.slice(0, 3)];
    rows.forEach((row, i) => {
      const e = expected[i];
      expect([
        row.seq,
        Number(row.time),
        row.type,
        row.user_name,
        row.sid,
        row.target,
        row.gateway,
        row.client_addr,
        row.data,
      ]).toEqual([
        i + 1,
        1_800_000_000_000,
        'db.query',
        e?.user,
        e?.sid,
        e?.target,
        e?.gateway,
        e?.clientAddr,
        JSON.stringify(e?.data),
      ]);
      expect(row.prev_hash).toBe(i === 0 ? GENESIS_HASH : rows[i - 1]?.hash);
    });
    const report = await verifyAuditChain(fx.verifyOptions);
    expect(report).toMatchObject({ ok: true, eventCount: 303, coveredUpToSeq: 303, problems: [] });
  });
});
