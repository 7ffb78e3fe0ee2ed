import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, type AuditEventInput, type AuditLogDeps } from '../../src/audit/index.js';
import { makeSigner, type Signer } from '../../src/crypto/key-files.js';
import type { Store } from '../../src/store/index.js';
import { openAuditScratchStore, type AuditStoreDriver } from './audit-stores.js';

/** A throwaway control-plane key pair. */
export function makeControlPlaneKey(): { privateKey: KeyObject; signer: Signer } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { privateKey, signer: makeSigner(privateKey) };
}

/** A scratch store, a control-plane key, a sink path in a temp dir and an audit log. */
export interface AuditFixture extends AsyncDisposable {
  readonly store: Store;
  readonly signer: Signer;
  readonly sinkPath: string;
  readonly dir: string;
  readonly log: AuditLog;
  /** Verify options for this fixture. */
  readonly verifyOptions: { db: Store['db']; publicKey: KeyObject; sinkPath: string };
}

/** Opens an {@link AuditFixture}; dispose it to close the log and remove everything. */
export async function openAuditFixture(
  driver: AuditStoreDriver,
  options: Partial<Omit<AuditLogDeps, 'db' | 'signer' | 'sinkPath'>> = {},
): Promise<AuditFixture> {
  const store = await openAuditScratchStore(driver);
  const dir = mkdtempSync(join(tmpdir(), 'gh-audit-'));
  const sinkPath = join(dir, 'audit', 'sink.jsonl');
  const { signer } = makeControlPlaneKey();
  const log = new AuditLog({
    db: store.db,
    appendChain: store.appendChain,
    signer,
    sinkPath,
    ...options,
  });
  return {
    store,
    signer,
    sinkPath,
    dir,
    log,
    verifyOptions: { db: store.db, publicKey: signer.publicKey, sinkPath },
    [Symbol.asyncDispose]: async () => {
      await log.close().catch(() => undefined);
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Appends `count` simple events, one after another; `together` appends them at once, so
 * that they share a commit (the same chain, a tenth of the commits: for fixtures).
 */
export async function appendEvents(
  log: AuditLog,
  count: number,
  options: { readonly together?: boolean } = {},
): Promise<void> {
  const event = (i: number): AuditEventInput => ({
    type: 'ssh.command',
    user: 'alice',
    sid: `s-${i % 3}`,
    target: 'web-1',
    gateway: 'gw-1',
    clientAddr: '10.0.0.9',
    data: { command: `echo ${i}`, n: i },
  });
  if (options.together === true) {
    await Promise.all(Array.from({ length: count }, (_, i) => log.append(event(i + 1))));
    return;
  }
  for (let i = 1; i <= count; i += 1) await log.append(event(i));
}
