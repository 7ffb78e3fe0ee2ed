import { randomFillSync } from 'node:crypto';
import { chmodSync, closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchSizes } from '../lib/options.js';
import { cpuTimeMs, quiesce, runTimed, writeSyscalls } from '../lib/processes.js';
import { pathOf } from './commands.js';
import { alternate, type Workload } from '../lib/results.js';
import { dropRecordings, type SshBench } from './world.js';

const MiB = 1024 * 1024;

/**
 * Bulk throughput through `ssh … cat`, both ways, with incompressible data. Only the data phase
 * is timed (first byte from the remote command to the client's exit), so connection setup,
 * which the connect workload measures, does not dilute it: uploads run `printf x; exec cat`,
 * and the `x` marks when the remote command started reading.
 */
export async function measureBulk(
  bench: SshBench,
  sizes: BenchSizes,
  pathIds: readonly string[],
  which: { up: boolean; down: boolean; data: 'random' | 'text' },
): Promise<Workload[]> {
  const file = join(bench.scratch, 'bulk.bin');
  writeBulkFile(file, sizes.bulkBytes, which.data);
  const ids = pathIds.filter((id) => bench.paths.has(id));
  const mib = sizes.bulkBytes / MiB;
  const out: Workload[] = [];
  const directions = [
    {
      id: 'ssh.upload',
      isOn: which.up,
      title: 'upload',
      command: 'printf x; exec cat > /dev/null',
      stdinPath: file,
    },
    { id: 'ssh.download', isOn: which.down, title: 'download', command: `exec cat ${file}` },
  ];
  for (const direction of directions) {
    if (!direction.isOn) continue;
    // CPU time and write syscalls of the process in the middle: what the relay itself costs,
    // less swayed by other load than wall time (though batching still varies with scheduling).
    const cpu: Record<string, number[]> = {};
    const writes: Record<string, number[]> = {};
    const samples = await alternate(
      ids,
      sizes.bulkRounds,
      async (id) => {
        const path = pathOf(bench, id);
        const pid = path.pid?.() ?? -1;
        // From the first byte on, as the throughput: the login's CPU is not the relay's.
        let cpuBefore = Number.NaN;
        let writesBefore = Number.NaN;
        const onFirstByte = (): void => {
          cpuBefore = cpuTimeMs(pid);
          writesBefore = writeSyscalls(pid);
        };
        const run = await runTimed('ssh', [...bench.sshArgs(path), direction.command], {
          onFirstByte,
          ...(direction.stdinPath === undefined ? {} : { stdinPath: direction.stdinPath }),
        });
        if (path.pid !== undefined) {
          (cpu[id] ??= []).push((cpuTimeMs(pid) - cpuBefore) / mib);
          (writes[id] ??= []).push((writeSyscalls(pid) - writesBefore) / mib);
        }
        dropRecordings(path);
        // A recording may still be flushing: let it finish before the next path is timed.
        if (path.pid !== undefined) await quiesce(pid);
        if (direction.stdinPath === undefined && run.stdoutBytes !== sizes.bulkBytes)
          throw new Error(`${id}: downloaded ${run.stdoutBytes} of ${sizes.bulkBytes} bytes`);
        return mib / ((run.wallMs - run.firstByteMs) / 1000);
      },
      direction.id,
    );
    const title = `SSH ${direction.title} ${mib} MiB${which.data === 'text' ? ' of text' : ''} (ssh … cat)`;
    out.push({
      id: direction.id,
      title,
      unit: 'MiB/s',
      better: 'higher',
      compare: 'ratio',
      samples,
    });
    out.push({
      id: `${direction.id}-cpu`,
      title: `${title}: CPU of the middle process`,
      unit: 'ms/MiB',
      better: 'lower',
      compare: 'ratio',
      samples: cpu,
    });
    out.push({
      id: `${direction.id}-writes`,
      title: `${title}: write syscalls of the middle process`,
      unit: '/MiB',
      better: 'lower',
      compare: 'ratio',
      samples: writes,
    });
  }
  return out;
}

/** Writes `bytes` of random bytes or of printable lines (readable by the target's account). */
function writeBulkFile(path: string, bytes: number, data: 'random' | 'text'): void {
  const fd = openSync(path, 'w', 0o644);
  try {
    const chunk = Buffer.allocUnsafe(Math.min(bytes, 16 * MiB));
    for (let written = 0; written < bytes;) {
      const n = Math.min(chunk.length, bytes - written);
      randomFillSync(chunk, 0, n);
      if (data === 'text') toTextLines(chunk, n);
      written += writeSync(fd, chunk, 0, n);
    }
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o644);
}

/** Maps random bytes to printable ASCII with a newline every 80 characters, in place. */
function toTextLines(chunk: Buffer, length: number): void {
  for (let i = 0; i < length; i++) chunk[i] = i % 81 === 80 ? 0x0a : 0x20 + ((chunk[i] ?? 0) % 95);
}
