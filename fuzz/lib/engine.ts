import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readInputs, type FuzzInput } from './input.js';
import { mutate, type MutationHints, type MutatorName } from './mutate.js';
import { FuzzFinding, takeAllocationViolation } from './oracle.js';
import { hashString, Rng } from './rng.js';

/** The fuzz/ folder. */
export const FUZZ_DIR = fileURLToPath(new URL('..', import.meta.url));
/** Recorded real traffic, one folder per target. */
export const CORPUS_DIR = join(FUZZ_DIR, 'corpus');
/** Inputs that once broke a parser (replayed by the test suite). */
export const REGRESSIONS_DIR = join(FUZZ_DIR, 'regressions');
/** Where a fuzz run saves the inputs that break the oracle. */
export const CRASHES_DIR = join(FUZZ_DIR, 'crashes');

/** Longest one input may take before it counts as a hang. */
export const CASE_TIMEOUT_MS = 5_000;

/** One parser under fuzzing. */
export interface FuzzTarget {
  readonly name: string;
  /** What is fuzzed, for `--list` and the report. */
  readonly summary: string;
  readonly hints: MutationHints;
  /** One-time preparation (WASM parsers, keys). */
  setup?(): Promise<void>;
  /** Runs one input through the parser; throws a FuzzFinding when the oracle is broken. */
  run(input: FuzzInput): Promise<void>;
}

/** The corpus of a target (recorded traffic). */
export function loadCorpus(target: FuzzTarget): FuzzInput[] {
  return readInputs(join(CORPUS_DIR, target.name)).map((e) => e.input);
}

/** What iteration `iteration` of a run with `seed` feeds the target. */
export interface GeneratedInput {
  readonly input: FuzzInput;
  /** Index of the corpus input it was made from. */
  readonly base: number;
  readonly applied: readonly MutatorName[];
}

/**
 * The input of one iteration: a pure function of (target, seed, iteration, corpus), so a run
 * is reproduced from its seed and any one input from its iteration number. The first
 * iterations replay the corpus unchanged (real traffic must pass).
 */
export function generateInput(
  target: FuzzTarget,
  corpus: readonly FuzzInput[],
  seed: number,
  iteration: number,
): GeneratedInput {
  if (corpus.length === 0)
    throw new Error(`no corpus for target ${target.name}: run npm run fuzz:capture`);
  if (iteration < corpus.length)
    return { input: corpus[iteration] as FuzzInput, base: iteration, applied: [] };
  const rng = new Rng(seed, hashString(target.name), iteration);
  const base = rng.below(corpus.length);
  const others = corpus.filter((_, i) => i !== base);
  const { input, applied } = mutate(corpus[base] as FuzzInput, others, rng, target.hints);
  return { input, base, applied };
}

/** Runs one input; returns the finding, or undefined when the oracle held. */
export async function runCase(
  target: FuzzTarget,
  input: FuzzInput,
  options: { readonly timeoutMs?: number } = {},
): Promise<FuzzFinding | undefined> {
  takeAllocationViolation();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new FuzzFinding('hang', `no result within ${options.timeoutMs ?? CASE_TIMEOUT_MS} ms`),
          ),
        options.timeoutMs ?? CASE_TIMEOUT_MS,
      );
    });
    await Promise.race([target.run(input), timeout]);
  } catch (err) {
    const memory = takeAllocationViolation();
    if (memory !== undefined) return memory;
    if (err instanceof FuzzFinding) return err;
    const name = err instanceof Error ? err.name : typeof err;
    return new FuzzFinding(
      'unexpected-error',
      `harness: ${name}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
  return takeAllocationViolation();
}

/** A finding with the iteration that produced it. */
export interface IterationFinding {
  readonly iteration: number;
  readonly finding: FuzzFinding;
  readonly generated: GeneratedInput;
}

/** Runs iterations `from`..`to` (exclusive) in this process; for the test suite's short runs. */
export async function fuzzRange(
  target: FuzzTarget,
  options: {
    readonly seed: number;
    readonly from?: number;
    readonly to: number;
    readonly corpus?: readonly FuzzInput[];
    /** Per-input limit (default {@link CASE_TIMEOUT_MS}). */
    readonly timeoutMs?: number;
  },
): Promise<IterationFinding[]> {
  const corpus = options.corpus ?? loadCorpus(target);
  const findings: IterationFinding[] = [];
  for (let i = options.from ?? 0; i < options.to; i++) {
    const generated = generateInput(target, corpus, options.seed, i);
    const finding = await runCase(
      target,
      generated.input,
      options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
    );
    if (finding !== undefined) findings.push({ iteration: i, finding, generated });
  }
  return findings;
}
