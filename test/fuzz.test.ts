// A short fixed-seed run of `npm run fuzz` over every target, and the replay of every input
// that once broke a parser (fuzz/regressions/<target>/*.json). No timing is asserted: the
// per-input time limit of the fuzzer is not applied here.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzRange, loadCorpus, REGRESSIONS_DIR, runCase } from '../fuzz/lib/engine.js';
import { readInputs } from '../fuzz/lib/input.js';
import { installAllocationGuard } from '../fuzz/lib/oracle.js';
import { TARGETS } from '../fuzz/targets/index.js';

/** Iterations per target: a few thousand for the cheap parsers, fewer for the relays. */
const ITERATIONS: Readonly<Record<string, number>> = {
  pg: 400,
  mysql: 400,
  'ssh-login': 5000,
  sftp: 1500,
  asciicast: 1500,
  config: 300,
};
const SEED = 20_261_130;
/** Per-input limit: only an endless input trips it on a loaded machine. */
const GENEROUS_MS = 60_000;

let uninstall: () => void = () => undefined;
beforeAll(() => {
  uninstall = installAllocationGuard();
});
afterAll(() => uninstall());

describe.each(TARGETS.map((t) => [t.name, t] as const))('fuzz target %s', (name, target) => {
  beforeAll(async () => {
    await target.setup?.();
  }, 60_000);

  it('has-a-recorded-corpus-that-passes-the-oracle-unchanged', async () => {
    const corpus = loadCorpus(target);
    expect(corpus.length).toBeGreaterThan(0);
    for (const input of corpus)
      expect(await runCase(target, input, { timeoutMs: GENEROUS_MS })).toBeUndefined();
  }, 120_000);

  it('survives-a-fixed-seed-mutation-run', async () => {
    const findings = await fuzzRange(target, {
      seed: SEED,
      to: ITERATIONS[name] ?? 500,
      timeoutMs: GENEROUS_MS,
    });
    expect(
      findings.map((f) => `iteration ${f.iteration}: ${f.finding.kind}: ${f.finding.message}`),
    ).toEqual([]);
  }, 600_000);

  it('handles-every-committed-regression-input', async () => {
    for (const { name: file, input } of readInputs(join(REGRESSIONS_DIR, name))) {
      const finding = await runCase(target, input, { timeoutMs: GENEROUS_MS });
      expect(finding === undefined ? 'ok' : `${file}: ${finding.kind}: ${finding.message}`).toBe(
        'ok',
      );
    }
  }, 120_000);
});
