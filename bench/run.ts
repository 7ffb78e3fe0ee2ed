// `npm run bench [-- --quick | --smoke]`: every path against the direct connection, in one run.
// Prints a Markdown table on stdout (progress on stderr) and writes the JSON results.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { runDbBench } from './db/index.js';
import { cpuSplit } from './lib/cpu-split.js';
import { parseBenchOptions, USAGE } from './lib/options.js';
import { progress } from './lib/processes.js';
import { markdownTable, summarize } from './lib/report.js';
import type { SkippedWorkload, Workload } from './lib/results.js';
import { runSshBench } from './ssh/index.js';

if (process.argv.includes('--help')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const options = parseBenchOptions(process.argv.slice(3));
const startedAt = new Date();
const loadBefore = loadavg();
progress(`mode ${options.sizes.mode}; results to ${options.outPath}`);
const split = cpuSplit(options.splitCpus);
split.harness();

const workloads: Workload[] = [];
const skipped: SkippedWorkload[] = [];
if (options.sizes.mode === 'smoke') {
  // Smoke runs only prove the harness works end to end: the suites may share the machine.
  const [ssh, db] = await Promise.all([runSshBench(options, split), runDbBench(options, split)]);
  workloads.push(...ssh, ...db.workloads);
  skipped.push(...db.skipped);
} else {
  // A suite that fails (a reference server's limit, a crash) is reported as skipped: the
  // other suite's numbers of a long run are not lost with it.
  await orSkipped('ssh.', async () => {
    workloads.push(...(await runSshBench(options, split)));
  });
  await orSkipped('db', async () => {
    const db = await runDbBench(options, split);
    workloads.push(...db.workloads);
    skipped.push(...db.skipped);
  });
}

async function orSkipped(id: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    const reason = `failed: ${err instanceof Error ? err.message : String(err)}`;
    progress(`${id} ${reason}`);
    skipped.push({ id, reason });
  }
}

const summaries = workloads.map(summarize);
const table = markdownTable(summaries, skipped);
const result = {
  startedAt: startedAt.toISOString(),
  durationS: Math.round((Date.now() - startedAt.getTime()) / 1000),
  mode: options.sizes.mode,
  sizes: options.sizes,
  // The middle process ran on a CPU of its own (--split-cpus): which CPUs, or null.
  cpuSplit: split.cpus ?? null,
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    openssh: versionOf('ssh', ['-V']),
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadavg(),
  },
  workloads: summaries,
  skipped,
};
mkdirSync(dirname(options.outPath), { recursive: true });
writeFileSync(options.outPath, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(
  `\n## Gatehouse benchmarks (${options.sizes.mode}, ${startedAt.toISOString()}, ${result.machine.cpus} CPUs, load ${loadBefore.map((l) => l.toFixed(1)).join('/')}${split.cpus === undefined ? '' : `; --split-cpus: the middle on CPU ${split.cpus.middle}, clients and servers on ${split.cpus.rest}`})\n\n${table}`,
);
progress(`done in ${result.durationS} s; wrote ${options.outPath}`);

function versionOf(file: string, args: string[]): string {
  const run = spawnSync(file, args, { encoding: 'utf8' });
  return `${run.stdout ?? ''}${run.stderr ?? ''}`.trim() || 'unknown';
}
