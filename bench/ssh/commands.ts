import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchSizes } from '../lib/options.js';
import { runTimed } from '../lib/processes.js';
import { alternate, type Workload } from '../lib/results.js';
import type { SshBench, SshPath } from './world.js';

const SMALL_FILE_BYTES = 4096;

/** Connect + exec latency: one `ssh … true` per path and round, timed from spawn to exit. */
export async function measureConnect(
  bench: SshBench,
  sizes: BenchSizes,
  pathIds: readonly string[],
): Promise<Workload> {
  const samples = await alternate(
    pathIds,
    sizes.connectRuns,
    async (id) => (await runTimed('ssh', [...bench.sshArgs(pathOf(bench, id)), 'true'])).wallMs,
    'ssh.connect',
  );
  return {
    id: 'ssh.connect',
    title: 'SSH connect + exec (ssh … true)',
    unit: 'ms',
    better: 'lower',
    compare: 'ratio',
    samples,
    note: "the client's default settings: against sshd it negotiates sntrup761x25519, against Gatehouse (ssh2) curve25519",
  };
}

/** Ansible-like: `count` sequential `ssh … true`, then `count` sequential scp copies of a 4 KiB file. */
export async function measureSmall(
  bench: SshBench,
  sizes: BenchSizes,
  pathIds: readonly string[],
  which: { commands: boolean; copies: boolean },
): Promise<Workload[]> {
  const out: Workload[] = [];
  const n = sizes.smallCount;
  if (which.commands) {
    const samples = await alternate(
      pathIds,
      sizes.smallRounds,
      async (id) => {
        const args = [...bench.sshArgs(pathOf(bench, id)), 'true'];
        const started = performance.now();
        for (let i = 0; i < n; i++) await runTimed('ssh', args);
        return (performance.now() - started) / 1000;
      },
      'ssh.small-commands',
    );
    out.push({
      id: 'ssh.small-commands',
      title: `SSH ${n} sequential ssh … true`,
      unit: 's',
      better: 'lower',
      compare: 'ratio',
      samples,
    });
  }
  if (which.copies) {
    const source = join(bench.scratch, 'small.bin');
    writeFileSync(source, Buffer.alloc(SMALL_FILE_BYTES, 'x'), { mode: 0o644 });
    const samples = await alternate(
      pathIds,
      sizes.smallRounds,
      async (id, round) => {
        const path = pathOf(bench, id);
        const started = performance.now();
        for (let i = 0; i < n; i++) {
          await runTimed('scp', [
            ...bench.scpArgs(path),
            source,
            `${path.login}@127.0.0.1:${join(bench.scratch, 'in', `${id}-${round}-${i}.bin`)}`,
          ]);
        }
        return (performance.now() - started) / 1000;
      },
      'ssh.small-copies',
    );
    out.push({
      id: 'ssh.small-copies',
      title: `SSH ${n} sequential scp of 4 KiB`,
      unit: 's',
      better: 'lower',
      compare: 'ratio',
      samples,
      note: 'scp in its default (SFTP) mode, one connection per copy',
    });
  }
  return out;
}

/** The path `id`, which the bench must have. */
export function pathOf(bench: SshBench, id: string): SshPath {
  const path = bench.paths.get(id);
  if (path === undefined) throw new Error(`no ssh path ${id}`);
  return path;
}
