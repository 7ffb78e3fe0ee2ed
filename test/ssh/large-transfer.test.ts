import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import {
  chownSync,
  closeSync,
  createReadStream,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshWorld, type SshWorld } from './fixture.js';
import { loginFor, makeTargetDir, removeTree, sha256File, sshArgs } from './transfer-clients.js';

// Large transfers through the bastion, both ways, and backpressure: a client that reads slowly
// must not make Gatehouse buffer what the target keeps sending (ssh2 does not push back on
// sockets; the relay has to pause the other side, FINDINGS "no socket backpressure").

const MiB = 1024 * 1024;
const LARGE_BYTES = 256 * MiB;
const SLOW_READ_BYTES = 1024 * MiB;
/** How much the server's resident memory may grow while a slow reader downloads SLOW_READ_BYTES. */
const MAX_RSS_GROWTH_MIB = 150;

describe('large transfers through gatehouse', () => {
  let world: SshWorld;
  let local: string;
  let remote: string;
  let sourcePath: string;
  let sourceSha256: string;

  beforeAll(async () => {
    world = await startSshWorld();
    local = mkdtempSync(join(tmpdir(), 'gh-large-local-'));
    remote = makeTargetDir(world, 'gh-large-');
    sourcePath = join(local, 'source.bin');
    sourceSha256 = writeRandomFile(sourcePath, LARGE_BYTES);
  }, 60_000);
  afterAll(async () => {
    await world[Symbol.asyncDispose]();
    removeTree(local);
    removeTree(remote);
  });

  /** `ssh alice+web-1@127.0.0.1 COMMAND` with stdin from `stdinPath` (or nothing), stdout to `onStdout`. */
  const ssh = (
    command: string,
    options: { stdinPath?: string; onStdout?: (chunk: Buffer) => void } = {},
  ): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve, reject) => {
      const stdin = options.stdinPath === undefined ? 'ignore' : openSync(options.stdinPath, 'r');
      const proc = spawn(
        'ssh',
        [...sshArgs(world), '-p', String(world.gatehouse.sshPort), loginFor('web-1'), command],
        { stdio: [stdin, 'pipe', 'pipe'] },
      );
      if (typeof stdin === 'number') closeSync(stdin); // ssh has its own copy: it reads the file itself
      // A file descriptor in `stdio` makes TypeScript pick the overload whose pipes may be null.
      if (proc.stdout === null || proc.stderr === null)
        throw new Error('ssh was spawned without pipes');
      let stderr = '';
      proc.stdout.on('data', (chunk: Buffer) => options.onStdout?.(chunk));
      proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
      proc.once('error', reject);
      proc.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });

  /**
   * `ssh alice+web-1@127.0.0.1 COMMAND` whose stdout is not read for 2 s: the pipe fills, ssh
   * stops reading and the client's window closes. Then everything is read and hashed.
   */
  const sshWithStalledReader = (
    command: string,
  ): Promise<{ code: number | null; stderr: string; bytes: number; sha256: string }> =>
    new Promise((resolve, reject) => {
      const proc = spawn(
        'ssh',
        [...sshArgs(world), '-p', String(world.gatehouse.sshPort), loginFor('web-1'), command],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const hash = createHash('sha256');
      let count = 0;
      let stderr = '';
      proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      // No 'data' listener yet: stdout stays paused.
      setTimeout(() => {
        proc.stdout.on('data', (chunk: Buffer) => {
          count += chunk.length;
          hash.update(chunk);
        });
      }, 2_000);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
      proc.once('error', reject);
      proc.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr, bytes: count, sha256: hash.digest('hex') });
      });
    });

  it('a-256-mib-upload-through-cat-arrives-intact', async () => {
    const remotePath = join(remote, 'up.bin');
    const run = await ssh(`cat > ${remotePath}`, { stdinPath: sourcePath });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(statSync(remotePath).size).toBe(LARGE_BYTES);
    expect(await sha256File(remotePath)).toBe(sourceSha256);
  }, 60_000);

  it('a-256-mib-download-through-cat-arrives-intact', async () => {
    const remotePath = join(remote, 'up.bin');
    const hash = createHash('sha256');
    let bytes = 0;
    const run = await ssh(`cat ${remotePath}`, {
      onStdout: (chunk) => {
        bytes += chunk.length;
        hash.update(chunk);
      },
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(bytes).toBe(LARGE_BYTES);
    expect(hash.digest('hex')).toBe(sourceSha256);
  }, 60_000);

  it('a-reader-that-stalls-until-the-command-has-exited-still-gets-every-byte', async () => {
    // The target's command finishes while its last megabytes still wait in Gatehouse for the
    // client's window: closing the channel then must not drop them.
    const bytes = 4 * MiB;
    const received = await sshWithStalledReader(
      `head -c ${bytes} /dev/urandom | tee ${join(remote, 'stalled.bin')}`,
    );
    expect(received.stderr).toBe('');
    expect(received.code).toBe(0);
    expect(received.bytes).toBe(bytes);
    expect(received.sha256).toBe(await sha256File(join(remote, 'stalled.bin')));
  }, 30_000);

  it('stderr-written-while-the-client-window-is-full-arrives-and-stdout-is-not-repeated', async () => {
    // stdout fills the client's window (the reader stalls), then the command writes to stderr,
    // then more stdout: every stream must arrive whole and once. ssh2 1.17.0 resumed only
    // stdout on a window adjust and kept a stale stdout chunk that it sent again later, so the
    // stderr line never came and the channel never closed (patches/ssh2+1.17.0.patch).
    const bytes = 4 * MiB;
    const file = join(remote, 'interleaved.bin');
    const command = [
      `head -c ${bytes} /dev/urandom | tee ${file}`,
      'echo first-stderr-line >&2',
      `head -c 65536 /dev/urandom | tee -a ${file}`,
      'echo second-stderr-line >&2',
    ].join('; ');
    const received = await sshWithStalledReader(command);
    expect(received.stderr).toBe('first-stderr-line\nsecond-stderr-line\n');
    expect(received.code).toBe(0);
    expect(received.bytes).toBe(bytes + 65_536);
    expect(received.sha256).toBe(await sha256File(file));
  }, 90_000);

  it('a-slow-reader-keeps-gatehouse-memory-bounded-while-1-gib-streams-down', async () => {
    // A 1 GiB sparse file on the target, fetched with legacy scp (a plain exec channel, no
    // recording) into a FIFO that this test reads with long stalls: while it does not read,
    // the whole chain has to stop (scp → ssh client window → Gatehouse → target window → scp -f).
    const remotePath = join(remote, 'sparse-1g.bin');
    const fd = openSync(remotePath, 'w');
    ftruncateSync(fd, SLOW_READ_BYTES);
    closeSync(fd);
    const { uid, gid } = statSync(remote);
    chownSync(remotePath, uid, gid);
    const fifo = join(local, 'slow.fifo');
    execFileSync('mkfifo', [fifo]);

    const memory = watchMemory(world.gatehouse.pid);
    const scp = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const proc = spawn(
        'scp',
        [
          ...sshArgs(world),
          '-O',
          '-P',
          String(world.gatehouse.sshPort),
          `${loginFor('web-1')}:${remotePath}`,
          fifo,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      proc.once('error', reject);
      proc.once('close', (code) => resolve({ code, stderr }));
    });
    let read, run, usage;
    try {
      read = await readSlowly(fifo, { stallEveryBytes: 300 * MiB, stallMs: 1_500 });
      run = await scp;
    } finally {
      usage = memory.stop();
    }

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(read.bytes).toBe(SLOW_READ_BYTES);
    expect(read.isAllZero).toBe(true);
    expect(read.stalls).toBeGreaterThanOrEqual(3);
    expect(
      usage.growthMiB,
      `RSS ${usage.baselineMiB.toFixed(0)} → peak ${usage.peakMiB.toFixed(0)} MiB`,
    ).toBeLessThan(MAX_RSS_GROWTH_MIB);
    // 1 GiB with three 1.5 s stalls: seconds on a quiet machine, minutes on a loaded one.
  }, 240_000);
});

/** Writes `bytes` random bytes to `path`; returns their SHA-256 (hex). */
function writeRandomFile(path: string, bytes: number): string {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(16 * MiB);
  const fd = openSync(path, 'w');
  try {
    for (let left = bytes; left > 0; left -= chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, left));
      randomFillSync(part);
      hash.update(part);
      writeSync(fd, part);
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Reads `path` (a FIFO) to its end, stopping for `stallMs` after every `stallEveryBytes`. */
async function readSlowly(
  path: string,
  options: { stallEveryBytes: number; stallMs: number },
): Promise<{ bytes: number; stalls: number; isAllZero: boolean }> {
  const stream = createReadStream(path, { highWaterMark: MiB });
  let bytes = 0;
  let stalls = 0;
  let isAllZero = true;
  let nextStall = options.stallEveryBytes;
  const zeros = Buffer.alloc(MiB);
  for await (const chunk of stream) {
    const data = chunk as Buffer;
    bytes += data.length;
    if (isAllZero && !isZero(data, zeros)) isAllZero = false;
    if (bytes >= nextStall) {
      nextStall += options.stallEveryBytes;
      stalls += 1;
      // Not reading: the FIFO fills, scp blocks, and so on up to the target.
      await new Promise((resolve) => setTimeout(resolve, options.stallMs));
    }
  }
  return { bytes, stalls, isAllZero };
}

/** True when every byte of `data` is 0 (compared slice by slice with `zeros`). */
function isZero(data: Buffer, zeros: Buffer): boolean {
  for (let at = 0; at < data.length; at += zeros.length) {
    const part = data.subarray(at, at + zeros.length);
    if (!part.equals(zeros.subarray(0, part.length))) return false;
  }
  return true;
}

/**
 * Samples a process's resident memory every 50 ms and, where the kernel allows, resets and
 * reads its high-water mark (`clear_refs` 5, `VmHWM`) so a peak between samples counts too.
 */
function watchMemory(pid: number): {
  stop(): { baselineMiB: number; peakMiB: number; growthMiB: number };
} {
  const statusOf = (): string => readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (status: string, name: string): number =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  let canResetPeak = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    canResetPeak = false;
  }
  const baselineMiB = field(statusOf(), 'VmRSS');
  let peakMiB = baselineMiB;
  const timer = setInterval(() => {
    try {
      peakMiB = Math.max(peakMiB, field(statusOf(), 'VmRSS'));
    } catch {
      clearInterval(timer); // the process is gone: the test itself reports why
    }
  }, 50);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      const status = statusOf();
      peakMiB = Math.max(
        peakMiB,
        field(status, 'VmRSS'),
        canResetPeak ? field(status, 'VmHWM') : 0,
      );
      return { baselineMiB, peakMiB, growthMiB: peakMiB - baselineMiB };
    },
  };
}
