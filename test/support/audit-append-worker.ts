import { spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AuditLog } from '../../src/audit/index.js';
import { makeSigner } from '../../src/crypto/key-files.js';
import { openStore, type StoreConfig } from '../../src/store/index.js';

/** What one appending child process does. */
export interface AppendWorkerSpec {
  readonly store: StoreConfig;
  /** Control-plane private key, PKCS#8 PEM (a throwaway test key). */
  readonly privateKeyPem: string;
  readonly sinkPath: string;
  /** Names this worker's events (their `user`). */
  readonly label: string;
  /** Events per lane. */
  readonly count: number;
  /** Lanes appending concurrently within the process. */
  readonly lanes: number;
  readonly checkpointEvery: number;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKER_MODULE = fileURLToPath(import.meta.url);

/**
 * Child side: opens the store, says `ready`, waits for `go` on stdin, appends, closes.
 * The handshake lets the parent start every worker's appends at the same moment.
 */
export async function runAuditAppendWorker(spec: AppendWorkerSpec): Promise<void> {
  const store = await openStore(spec.store);
  const signer = makeSigner(createPrivateKey(spec.privateKeyPem));
  const log = new AuditLog({
    db: store.db,
    signer,
    sinkPath: spec.sinkPath,
    checkpointEvery: spec.checkpointEvery,
  });
  process.stdout.write('ready\n');
  const input = createInterface({ input: process.stdin });
  for await (const line of input) if (line === 'go') break;
  input.close();
  await Promise.all(
    Array.from({ length: spec.lanes }, async (_, lane) => {
      for (let i = 0; i < spec.count; i += 1) {
        await log.append({ type: 'db.query', user: spec.label, data: { lane, i } });
      }
    }),
  );
  await log.close();
  await store.close();
}

/** A spawned worker: resolves `ready` once it can append; `go()` starts it; `done` at exit. */
export interface SpawnedWorker {
  readonly ready: Promise<void>;
  go(): void;
  readonly done: Promise<void>;
}

/**
 * Parent side: runs {@link runAuditAppendWorker} in a separate Node process. The TypeScript
 * sources are loaded with Vite's module runner (a dev dependency), as vitest does.
 */
export function spawnAuditAppendWorker(spec: AppendWorkerSpec): SpawnedWorker {
  const script = [
    "import { runnerImport } from 'vite';",
    `const { module } = await runnerImport(${JSON.stringify(WORKER_MODULE)}, { configFile: false, logLevel: 'silent' });`,
    'await module.runAuditAppendWorker(JSON.parse(process.env.GH_AUDIT_WORKER));',
    'process.exit(0);',
  ].join('\n');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    env: { ...process.env, GH_AUDIT_WORKER: JSON.stringify(spec) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      if (text.includes('ready')) resolve();
    });
    child.once('exit', () =>
      reject(new Error(`worker ${spec.label} exited before ready: ${stderr}`)),
    );
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`worker ${spec.label} failed (${code}): ${stderr}`)),
    );
  });
  ready.catch(() => undefined);
  return { ready, done, go: () => child.stdin.end('go\n') };
}
