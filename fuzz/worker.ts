/**
 * One fuzz worker (started by fuzz/run.ts through bench/launch.mjs): runs iterations of one
 * target and reports findings and progress to the main thread, which watches it for hangs
 * and crashes (a synchronous endless loop or an out-of-memory cannot be caught in here).
 */
import { inspect } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { generateInput, loadCorpus, runCase } from './lib/engine.js';
import { FuzzFinding, installAllocationGuard } from './lib/oracle.js';
import { targetNamed } from './targets/index.js';

/** What fuzz/run.ts hands a worker. */
export interface WorkerJob {
  readonly target: string;
  readonly seed: number;
  readonly from: number;
  readonly to: number;
  /** Epoch ms after which the worker stops. */
  readonly deadline: number;
  readonly timeoutMs: number;
  /** [current iteration, finished flag], shared with the watchdog. */
  readonly shared: SharedArrayBuffer;
}

/** Messages a worker posts. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly execs: number; readonly iteration: number }
  | {
      readonly type: 'finding';
      readonly iteration: number;
      readonly kind: string;
      readonly message: string;
      readonly stack: string;
      readonly signature: string;
    }
  | { readonly type: 'done'; readonly execs: number; readonly next: number };

const job = workerData as WorkerJob;
const port = parentPort;
if (port === null) throw new Error('fuzz/worker.ts runs as a worker thread');
const post = (m: WorkerMessage): void => port.postMessage(m);
const state = new Int32Array(job.shared);
const target = targetNamed(job.target);
await target.setup?.();
const corpus = loadCorpus(target);
installAllocationGuard();
let rejection: unknown;
process.on('unhandledRejection', (reason) => {
  rejection ??= reason;
});
// Keeps the event loop alive while a case awaits a promise nothing else will settle.
const keepAlive = setInterval(() => undefined, 60_000);
post({ type: 'ready' });
let execs = 0;
let lastReport = Date.now();
let i = job.from;
for (; i < job.to && Date.now() < job.deadline; i++) {
  Atomics.store(state, 0, i);
  const generated = generateInput(target, corpus, job.seed, i);
  let finding = await runCase(target, generated.input, { timeoutMs: job.timeoutMs });
  if (finding === undefined && rejection !== undefined) {
    finding = new FuzzFinding('unhandled-rejection', `unhandled rejection: ${inspect(rejection)}`, {
      cause: rejection,
    });
  }
  rejection = undefined;
  execs += 1;
  if (finding !== undefined) {
    const cause = finding.cause instanceof Error ? finding.cause : undefined;
    post({
      type: 'finding',
      iteration: i,
      kind: finding.kind,
      message: finding.message,
      stack: cause?.stack ?? finding.stack ?? '',
      signature: finding.signature,
    });
  }
  if (Date.now() - lastReport >= 1000) {
    lastReport = Date.now();
    post({ type: 'progress', execs, iteration: i });
  }
}
clearInterval(keepAlive);
Atomics.store(state, 1, 1);
post({ type: 'done', execs, next: i });
