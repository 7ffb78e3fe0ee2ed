import type { CpuSplit } from '../lib/cpu-split.js';
import { isSelected, selectPaths, type BenchOptions } from '../lib/options.js';
import { progress } from '../lib/processes.js';
import type { Workload } from '../lib/results.js';
import { measureBulk } from './bulk.js';
import { measureConnect, measureSmall } from './commands.js';
import { measureEcho } from './echo.js';
import { measureIdle } from './idle.js';
import { startSshBench } from './world.js';

/** Ids of the SSH workloads (idle ones carry their session count). */
export const SSH_WORKLOADS = [
  'ssh.upload',
  'ssh.download',
  'ssh.pty-download',
  'ssh.connect',
  'ssh.echo',
  'ssh.small-commands',
  'ssh.small-copies',
  'ssh.idle',
] as const;

/** Runs the selected SSH workloads against one sshd, the bare relay and Gatehouse. */
export async function runSshBench(options: BenchOptions, split: CpuSplit): Promise<Workload[]> {
  const wants = (id: string): boolean => isSelected(options, id);
  if (!SSH_WORKLOADS.some(wants)) return [];
  progress('ssh: starting sshd, bare relay and Gatehouse');
  const bench = await startSshBench({
    withStock: options.withStock,
    cpuProfDir: options.cpuProfDir,
    baseDir: options.baseDir,
    split,
  });
  try {
    const { sizes } = options;
    const stock = options.withStock ? ['gatehouse-stock'] : [];
    // The build before a change (`--base`), recorded and not: a before/after in the same run.
    const base = options.baseDir === undefined ? [] : ['gatehouse-base', 'gatehouse-base-norec'];
    const bulkPaths = selectPaths(options, [
      'direct',
      'bare-relay',
      'gatehouse',
      'gatehouse-norec',
      ...stock,
      ...stock.map((s) => `${s}-norec`),
      ...base,
    ]);
    const hopPaths = selectPaths(options, [
      'direct',
      'bare-relay',
      'gatehouse',
      ...base.filter((id) => !id.endsWith('-norec')),
    ]);
    const results: Workload[] = [];
    if (wants('ssh.upload') || wants('ssh.download') || wants('ssh.pty-download')) {
      results.push(
        ...(await measureBulk(bench, sizes, bulkPaths, {
          up: wants('ssh.upload'),
          down: wants('ssh.download'),
          pty: wants('ssh.pty-download'),
          data: options.bulkData,
        })),
      );
    }
    if (wants('ssh.connect')) results.push(await measureConnect(bench, sizes, hopPaths));
    if (wants('ssh.echo'))
      results.push(
        ...(await measureEcho(
          bench,
          sizes,
          selectPaths(options, [
            'direct',
            'bare-relay',
            'gatehouse',
            'gatehouse-norec',
            ...stock,
            ...base,
          ]),
        )),
      );
    if (wants('ssh.small-commands') || wants('ssh.small-copies')) {
      results.push(
        ...(await measureSmall(bench, sizes, hopPaths, {
          commands: wants('ssh.small-commands'),
          copies: wants('ssh.small-copies'),
        })),
      );
    }
    if (wants('ssh.idle')) results.push(...(await measureIdle(bench, sizes, hopPaths)));
    return results;
  } finally {
    await bench[Symbol.asyncDispose]();
  }
}
