// `npm run soak [-- --ssh N --db N --duration S]`: the load soak of issue #8 through one
// `gatehouse serve`. Prints a summary on stdout (progress on stderr), writes the JSON result,
// and exits 1 when a check failed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseSoakOptions, USAGE } from './options.js';
import { progress } from './progress.js';
import { summarizeSoak } from './report.js';
import { runSoak } from './soak.js';

if (process.argv.includes('--help')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
// Ctrl-C: exit normally, so the fixtures' exit hooks stop sshd and the PostgreSQL cluster.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
const options = parseSoakOptions(process.argv.slice(3));
const result = await runSoak(options);
if (options.outPath !== undefined) {
  mkdirSync(dirname(options.outPath), { recursive: true });
  writeFileSync(options.outPath, `${JSON.stringify(result, null, 2)}\n`);
  progress(`wrote ${options.outPath}`);
}
process.stdout.write(summarizeSoak(result));
process.exitCode = result.problems.length === 0 ? 0 : 1;
