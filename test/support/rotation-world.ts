import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as connectTcp, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Targets } from '../../src/policy/targets.js';
import type { Store } from '../../src/store/index.js';
import {
  Credentials,
  decryptCredential,
  findCredentialForUnlock,
} from '../../src/lease/credentials.js';
import { createLocalKeyFile, openLocalKms } from '../../src/lease/kms-local.js';
import type { KmsProvider } from '../../src/lease/kms.js';
import type { PasswordAppliers } from '../../src/lease/rotation-appliers.js';
import type { RotationDeps } from '../../src/lease/rotation.js';
import { MemoryAudit } from './memory-audit.js';

/** What the credential-rotation tests work with: a scratch store, a local KMS, a fake audit. */
export interface RotationWorld extends AsyncDisposable {
  readonly store: Store;
  readonly kms: KmsProvider;
  readonly audit: MemoryAudit;
  readonly targets: Targets;
  readonly credentials: Credentials;
  /** The clock every part reads; tests move it forward. */
  readonly clock: { now: number };
  /** Rotation dependencies with these password appliers. */
  deps(appliers: PasswordAppliers): RotationDeps;
  /** The password of the target's active credential version, decrypted. */
  activePassword(target: string): Promise<string>;
}

/** Opens a {@link RotationWorld} on `store` (closed with the world) with the clock at `startMs`. */
export async function openRotationWorld(
  store: Store,
  startMs: number = Date.now(),
): Promise<RotationWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-rot-'));
  const keyFile = join(dir, 'master.key');
  createLocalKeyFile(keyFile);
  const kms = await openLocalKms(keyFile);
  const audit = new MemoryAudit();
  const clock = { now: startMs };
  const now = (): number => clock.now;
  const targets = new Targets({ db: store.db, audit, clock: now });
  return {
    store,
    kms,
    audit,
    targets,
    credentials: new Credentials({ db: store.db, kms, audit, clock: now }),
    clock,
    deps(appliers) {
      return { db: store.db, kms, audit, targets, appliers, clock: now };
    },
    async activePassword(target) {
      const stored = await findCredentialForUnlock(store.db, (await targets.get(target)).id);
      if (stored === undefined) throw new Error('no active version');
      const plaintext = await decryptCredential(kms, stored);
      try {
        return plaintext.toString('utf8');
      } finally {
        plaintext.fill(0);
      }
    },
    async [Symbol.asyncDispose]() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP relay to `host:port` that keeps every byte its clients sent. */
export interface RecordingTcpProxy {
  readonly port: number;
  readonly server: Server;
  /** Everything clients sent so far. */
  sent(): Buffer;
}

/** Starts a {@link RecordingTcpProxy} on a free loopback port. */
export async function startRecordingTcpProxy(
  host: string,
  port: number,
): Promise<RecordingTcpProxy> {
  const chunks: Buffer[] = [];
  const server = createServer((client) => {
    const upstream = connectTcp(port, host);
    client.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : 0;
  return { port: bound, server, sent: () => Buffer.concat(chunks) };
}
