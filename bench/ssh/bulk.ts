import { randomFillSync } from 'node:crypto';
import { chmodSync, closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchSizes } from '../lib/options.js';
import { cpuTimeUs, ioSyscalls, quiesce, runTimed } from '../lib/processes.js';
import { median, pairedRatios, spread } from '../lib/stats.js';
import { pathOf } from './commands.js';
import { alternate, type Workload } from '../lib/results.js';
import { dropRecordings, type SshBench } from './world.js';

const MiB = 1024 * 1024;

/** Which bulk transfers to run, and what they carry. */
export interface BulkSelection {
  readonly up: boolean;
  readonly down: boolean;
  /** `cat` of a text file on a channel with a pty (`ssh -tt`): recorded in full. */
  readonly pty: boolean;
  readonly data: 'random' | 'text';
}

/** Recorded paths and the unrecorded path of the same Gatehouse, for the recording's cost. */
const RECORDED_VS_UNRECORDED: readonly (readonly [string, string])[] = [
  ['gatehouse', 'gatehouse-norec'],
  ['gatehouse-stock', 'gatehouse-stock-norec'],
  ['gatehouse-base', 'gatehouse-base-norec'],
];

/**
 * Bulk throughput through `ssh … cat`, both ways, with incompressible data (or text), and
 * `cat` of a text file through a pty. Only the data phase is timed (first byte from the
 * remote command to the client's exit), so connection setup, which the connect workload
 * measures, does not dilute it: uploads run `printf x; exec cat`, and the `x` marks when the
 * remote command started reading.
 */
export async function measureBulk(
  bench: SshBench,
  sizes: BenchSizes,
  pathIds: readonly string[],
  which: BulkSelection,
): Promise<Workload[]> {
  const file = join(bench.scratch, 'bulk.bin');
  if (which.up || which.down) writeBulkFile(file, sizes.bulkBytes, which.data);
  const textFile = join(bench.scratch, 'bulk.txt');
  if (which.pty) writeBulkFile(textFile, sizes.bulkBytes, 'text');
  const ids = pathIds.filter((id) => bench.paths.has(id));
  const mib = sizes.bulkBytes / MiB;
  const out: Workload[] = [];
  const ofText = which.data === 'text' ? ' of text' : '';
  const directions = [
    {
      id: 'ssh.upload',
      isOn: which.up,
      title: `upload ${mib} MiB${ofText} (ssh … cat)`,
      command: 'printf x; exec cat > /dev/null',
      stdinPath: file,
      tty: false,
    },
    {
      id: 'ssh.download',
      isOn: which.down,
      title: `download ${mib} MiB${ofText} (ssh … cat)`,
      command: `exec cat ${file}`,
      tty: false,
    },
    {
      // A terminal channel that prints a lot (`cat big.log` in a shell): recorded in full.
      id: 'ssh.pty-download',
      isOn: which.pty,
      title: `download ${mib} MiB of text through a pty (ssh -tt … cat)`,
      command: `exec cat ${textFile}`,
      tty: true,
    },
  ];
  for (const direction of directions) {
    if (!direction.isOn) continue;
    // CPU time, read and write syscalls of the process in the middle: what the relay itself
    // costs, less swayed by other load than wall time (though batching still varies with
    // scheduling).
    const cpu: Record<string, number[]> = {};
    const reads: Record<string, number[]> = {};
    const writes: Record<string, number[]> = {};
    const samples = await alternate(
      ids,
      sizes.bulkRounds,
      async (id) => {
        const path = pathOf(bench, id);
        const pid = path.pid?.() ?? -1;
        // From the first byte on, as the throughput: the login's CPU is not the relay's.
        let cpuBefore = Number.NaN;
        let ioBefore = { reads: Number.NaN, writes: Number.NaN };
        const onFirstByte = (): void => {
          cpuBefore = cpuTimeUs(pid);
          ioBefore = ioSyscalls(pid);
        };
        const tty = direction.tty ? ['-tt', '-q'] : [];
        const run = await runTimed('ssh', [...tty, ...bench.sshArgs(path), direction.command], {
          onFirstByte,
          ...(direction.stdinPath === undefined ? {} : { stdinPath: direction.stdinPath }),
        });
        if (path.pid !== undefined) {
          // A recording may still be encoding and writing its last batches after the client
          // is gone: that is the transfer's CPU too, and must end before the next path runs.
          await quiesce(pid);
          (cpu[id] ??= []).push((cpuTimeUs(pid) - cpuBefore) / mib);
          const io = ioSyscalls(pid);
          (reads[id] ??= []).push((io.reads - ioBefore.reads) / mib);
          (writes[id] ??= []).push((io.writes - ioBefore.writes) / mib);
        }
        dropRecordings(path);
        // Through a pty every `\n` arrives as `\r\n`: more bytes than the file.
        const isShort = direction.tty
          ? run.stdoutBytes < sizes.bulkBytes
          : run.stdoutBytes !== sizes.bulkBytes;
        if (direction.stdinPath === undefined && isShort)
          throw new Error(`${id}: downloaded ${run.stdoutBytes} of ${sizes.bulkBytes} bytes`);
        return mib / ((run.wallMs - run.firstByteMs) / 1000);
      },
      direction.id,
    );
    const title = `SSH ${direction.title}`;
    out.push({
      id: direction.id,
      title,
      unit: 'MiB/s',
      better: 'higher',
      compare: 'ratio',
      samples,
      ...recordingNote(samples),
    });
    out.push({
      id: `${direction.id}-cpu`,
      title: `${title}: CPU of the middle process`,
      unit: 'µs/MiB',
      better: 'lower',
      compare: 'ratio',
      samples: cpu,
      ...recordingNote(cpu),
    });
    for (const [kind, samples] of [
      ['read', reads],
      ['write', writes],
    ] as const)
      out.push({
        id: `${direction.id}-${kind}s`,
        title: `${title}: ${kind} syscalls of the middle process`,
        unit: '/MiB',
        better: 'lower',
        compare: 'ratio',
        samples,
      });
  }
  return out;
}

/** What recording costs: each recorded path paired round by round with its unrecorded twin. */
function recordingNote(samples: Record<string, number[]>): { note?: string } {
  const parts: string[] = [];
  for (const [recorded, unrecorded] of RECORDED_VS_UNRECORDED) {
    const a = samples[recorded];
    const b = samples[unrecorded];
    if (a === undefined || b === undefined) continue;
    const ratios = pairedRatios(a, b);
    if (ratios.length === 0) continue;
    const range = spread(ratios);
    parts.push(
      `${recorded} ÷ ${unrecorded} ${median(ratios).toFixed(3)}× (${range.min.toFixed(3)}–${range.max.toFixed(3)})`,
    );
  }
  return parts.length === 0 ? {} : { note: `recorded ÷ unrecorded, paired: ${parts.join('; ')}` };
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
