import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeSigner } from '../crypto/key-files.js';
import { openStore } from '../store/index.js';
import { verifyAuditChain } from './index.js';
import { makeAuditScratchStore } from '../../test/support/audit-stores.js';
import { spawnAuditAppendWorker } from '../../test/support/audit-append-worker.js';
import { STORE_DRIVERS } from '../../test/support/stores.js';

const WORKERS = ['proc-a', 'proc-b'];
const LANES = 3;
const PER_LANE = 15;

describe.each(STORE_DRIVERS)('audit chain shared by processes on %s', (driver) => {
  it(
    'appends-from-two-processes-at-once-form-one-gap-free-chain',
    { timeout: 60_000 },
    async () => {
      const scratch = await makeAuditScratchStore(driver);
      const dir = mkdtempSync(join(tmpdir(), 'gh-audit-procs-'));
      const store = await openStore(scratch.config); // migrates before the workers start
      try {
        const { privateKey } = generateKeyPairSync('ed25519');
        const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
        const sinkPath = join(dir, 'sink.jsonl');
        const workers = WORKERS.map((label) =>
          spawnAuditAppendWorker({
            store: scratch.config,
            privateKeyPem,
            sinkPath,
            label,
            count: PER_LANE,
            lanes: LANES,
            checkpointEvery: 4,
          }),
        );
        await Promise.all(workers.map((w) => w.ready));
        for (const w of workers) w.go();
        await Promise.all(workers.map((w) => w.done));

        const total = WORKERS.length * LANES * PER_LANE;
        const rows = await store.db
          .selectFrom('audit_events')
          .select(['seq', 'user_name'])
          .orderBy('seq')
          .execute();
        expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        for (const label of WORKERS) {
          expect(rows.filter((r) => r.user_name === label)).toHaveLength(LANES * PER_LANE);
        }
        const report = await verifyAuditChain({
          db: store.db,
          publicKey: makeSigner(privateKey).publicKey,
          sinkPath,
        });
        expect(report.problems).toEqual([]);
        expect(report).toMatchObject({ ok: true, eventCount: total, coveredUpToSeq: total });
      } finally {
        await store.close();
        await scratch.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
