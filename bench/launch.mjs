#!/usr/bin/env node
// Runs a TypeScript file of the benchmarks with Vite's module runner, so bench/ needs no build
// step of its own and reuses test/support as it is: `node bench/launch.mjs bench/run.ts --quick`.
// The file reads its own arguments as process.argv.slice(3).
import { resolve } from 'node:path';
import { runnerImport } from 'vite';

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: node bench/launch.mjs FILE.ts [ARGS...]\n');
  process.exit(2);
}
// Node 20 has no `using` declarations (src/ uses `await using`): lower them like tsc does.
await runnerImport(resolve(file), { oxc: { target: 'es2022' } });
