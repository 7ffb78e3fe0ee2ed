/**
 * `npm run fuzz -- [--target pg,mysql,...] [--seed N] [--iterations M] [--time SECONDS]
 *  [--timeout-ms MS] [--replay FILE] [--list]`
 *
 * Seeded mutation fuzzing of the parsers over the recorded corpus (fuzz/corpus). Iteration i
 * of a run depends only on (target, seed, i), so `--seed N` reproduces a run and a crash file
 * names the iteration that made it. Each target runs in a worker thread watched for hangs
 * (no progress within the time limit) and memory blow-ups (heap limit; Buffer allocations
 * over 64 MiB); an input that breaks the oracle is saved to fuzz/crashes/.
 */
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import {
  CASE_TIMEOUT_MS,
  CRASHES_DIR,
  FUZZ_DIR,
  generateInput,
  loadCorpus,
  runCase,
} from './lib/engine.js';
import { inputFromJson, writeInput } from './lib/input.js';
import { installAllocationGuard } from './lib/oracle.js';
import { TARGETS, targetNamed } from './targets/index.js';
import type { WorkerJob, WorkerMessage } from './worker.js';

interface Options {
  targets: string[];
  seed: number;
  iterations: number;
  timeSeconds: number;
  timeoutMs: number;
  replay: string | undefined;
  isList: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    targets: [],
    seed: Date.now() % 1_000_000_007,
    iterations: Number.POSITIVE_INFINITY,
    timeSeconds: Number.POSITIVE_INFINITY,
    timeoutMs: CASE_TIMEOUT_MS,
    replay: undefined,
    isList: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--target') o.targets.push(...value().split(','));
    else if (arg === '--seed') o.seed = Number(value());
    else if (arg === '--iterations') o.iterations = Number(value());
    else if (arg === '--time') o.timeSeconds = Number(value());
    else if (arg === '--timeout-ms') o.timeoutMs = Number(value());
    else if (arg === '--replay') o.replay = value();
    else if (arg === '--list') o.isList = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isSafeInteger(o.seed)) throw new Error('--seed must be an integer');
  if (o.iterations === Number.POSITIVE_INFINITY && o.timeSeconds === Number.POSITIVE_INFINITY)
    o.iterations = 10_000;
  if (o.targets.length === 0) o.targets = TARGETS.map((t) => t.name);
  return o;
}

/** Result of fuzzing one target. */
interface TargetReport {
  readonly target: string;
  readonly execs: number;
  readonly ms: number;
  readonly findings: number;
  readonly signatures: Map<string, number>;
}

async function fuzzTarget(name: string, o: Options): Promise<TargetReport> {
  const target = targetNamed(name);
  const corpus = loadCorpus(target);
  const start = Date.now();
  const deadline =
    o.timeSeconds === Number.POSITIVE_INFINITY
      ? Number.MAX_SAFE_INTEGER
      : start + o.timeSeconds * 1000;
  const to = o.iterations === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : o.iterations;
  const signatures = new Map<string, number>();
  let execs = 0;
  let findings = 0;
  const record = (
    iteration: number,
    kind: string,
    message: string,
    stack: string,
    signature: string,
  ): void => {
    findings += 1;
    const seen = signatures.get(signature) ?? 0;
    signatures.set(signature, seen + 1);
    if (seen >= 3) return; // a few inputs per distinct bug are enough
    const generated = generateInput(target, corpus, o.seed, iteration);
    const path = join(CRASHES_DIR, `${name}-seed${o.seed}-it${iteration}.json`);
    writeInput(path, generated.input, {
      target: name,
      seed: o.seed,
      iteration,
      kind,
      error: message,
      stack: stack.split('\n').slice(0, 12),
      base: generated.base,
      mutators: generated.applied,
    });
    process.stdout.write(
      `  ${name}: ${kind} at iteration ${iteration}: ${message.slice(0, 200)}\n    saved ${path}\n`,
    );
  };
  let from = 0;
  while (from < to && Date.now() < deadline) {
    const shared = new SharedArrayBuffer(8);
    const state = new Int32Array(shared);
    Atomics.store(state, 0, from);
    const job: WorkerJob = {
      target: name,
      seed: o.seed,
      from,
      to,
      deadline,
      timeoutMs: o.timeoutMs,
      shared,
    };
    const worker = new Worker(join(FUZZ_DIR, '..', 'bench', 'launch.mjs'), {
      argv: [join(FUZZ_DIR, 'worker.ts')],
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: 1024 },
    });
    let isReady = false;
    let workerExecs = 0;
    let next = -1;
    const ended = new Promise<{ error?: Error }>((resolveEnd) => {
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') isReady = true;
        else if (m.type === 'progress') workerExecs = m.execs;
        else if (m.type === 'finding') record(m.iteration, m.kind, m.message, m.stack, m.signature);
        else {
          workerExecs = m.execs;
          next = m.next;
        }
      });
      worker.on('error', (error) => resolveEnd({ error }));
      worker.on('exit', () => resolveEnd({}));
    });
    // Watchdog: an iteration that does not end within twice the case limit is a hang.
    let lastIteration = -1;
    let lastChange = Date.now();
    let hung = -1;
    const watchdog = setInterval(() => {
      const current = Atomics.load(state, 0);
      if (!isReady || current !== lastIteration) {
        lastIteration = current;
        lastChange = Date.now();
        return;
      }
      if (Date.now() - lastChange > 2 * o.timeoutMs + 1000) {
        hung = current;
        void worker.terminate();
      }
    }, 250);
    const end = await ended;
    clearInterval(watchdog);
    execs += workerExecs;
    if (next >= 0) break; // finished its range or its time
    const failed = Atomics.load(state, 0);
    if (hung >= 0)
      record(
        hung,
        'hang',
        `no progress for ${2 * o.timeoutMs + 1000} ms (synchronous loop?)`,
        '',
        'hang:watchdog',
      );
    else
      record(
        failed,
        end.error?.message.includes('memory') === true ? 'memory' : 'worker-crash',
        `worker died: ${end.error?.message ?? 'exit'}`,
        end.error?.stack ?? '',
        `worker:${end.error?.name ?? 'exit'}`,
      );
    execs += 1;
    from = failed + 1;
  }
  return { target: name, execs, ms: Date.now() - start, findings, signatures };
}

async function replay(file: string, o: Options): Promise<void> {
  const text = readFileSync(resolve(file), 'utf8');
  const name = (JSON.parse(text) as { target?: string }).target ?? o.targets[0] ?? '';
  const target = targetNamed(name);
  await target.setup?.();
  installAllocationGuard();
  const finding = await runCase(target, inputFromJson(text), { timeoutMs: o.timeoutMs });
  if (finding === undefined) {
    process.stdout.write(`${file}: ${name} handled it (no finding)\n`);
    return;
  }
  process.stdout.write(
    `${file}: ${finding.kind}: ${finding.message}\n${finding.cause instanceof Error ? (finding.cause.stack ?? '') : ''}\n`,
  );
  process.exitCode = 1;
}

const options = parseArgs(process.argv.slice(3));
if (options.isList) {
  for (const t of TARGETS)
    process.stdout.write(
      `${t.name.padEnd(10)} ${loadCorpus(t).length} corpus inputs  ${t.summary}\n`,
    );
} else if (options.replay !== undefined) {
  await replay(options.replay, options);
} else {
  process.stdout.write(`fuzz seed ${options.seed} (reproduce with --seed ${options.seed})\n`);
  const reports: TargetReport[] = [];
  for (const name of options.targets) {
    targetNamed(name);
    process.stdout.write(`${name}: fuzzing…\n`);
    const report = await fuzzTarget(name, options);
    reports.push(report);
    const rate = report.execs / Math.max(0.001, report.ms / 1000);
    process.stdout.write(
      `${name}: ${report.execs} execs in ${(report.ms / 1000).toFixed(1)} s (${rate.toFixed(0)} execs/s), ${report.findings} findings, ${report.signatures.size} distinct\n`,
    );
  }
  process.stdout.write(`\nseed ${options.seed}\n`);
  for (const r of reports)
    process.stdout.write(
      `  ${r.target.padEnd(10)} ${String(r.execs).padStart(9)} execs  ${(r.execs / Math.max(0.001, r.ms / 1000)).toFixed(0).padStart(6)} execs/s  ${r.signatures.size} distinct findings\n`,
    );
  if (reports.some((r) => r.findings > 0)) process.exitCode = 1;
}
