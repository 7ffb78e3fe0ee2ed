import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';

/** How a timed client run went. Times are milliseconds from the spawn. */
export interface TimedRun {
  readonly code: number | null;
  readonly stderr: string;
  /** Spawn to exit. */
  readonly wallMs: number;
  /** Spawn to the first byte on stdout (NaN when nothing came). */
  readonly firstByteMs: number;
  /** Bytes seen on stdout. */
  readonly stdoutBytes: number;
  /** The first 4 KiB of stdout, for errors and small answers. */
  readonly stdoutHead: string;
}

/** Options of {@link runTimed}. */
export interface RunTimedOptions {
  /** A file fed to stdin (opened here); stdin is /dev/null otherwise. */
  readonly stdinPath?: string;
  readonly timeoutMs?: number;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Called once, when the first stdout byte arrives. */
  readonly onFirstByte?: () => void;
}

const STDOUT_HEAD_BYTES = 4096;

/**
 * Runs `file ARGS`, counting stdout bytes without keeping them, and times the whole run and
 * the first stdout byte with the monotonic clock. Rejects on a non-zero exit.
 */
export function runTimed(
  file: string,
  args: readonly string[],
  options: RunTimedOptions = {},
): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const stdin = options.stdinPath === undefined ? 'ignore' : openSync(options.stdinPath, 'r');
    const started = performance.now();
    const proc = spawn(file, [...args], {
      stdio: [stdin, 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    if (typeof stdin === 'number') closeSync(stdin);
    let firstByteMs = Number.NaN;
    let stdoutBytes = 0;
    let head = '';
    let stderr = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      if (stdoutBytes === 0) {
        firstByteMs = performance.now() - started;
        options.onFirstByte?.();
      }
      if (head.length < STDOUT_HEAD_BYTES)
        head += chunk.subarray(0, STDOUT_HEAD_BYTES - head.length).toString('latin1');
      stdoutBytes += chunk.length;
    });
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.once('close', (code) => {
      clearTimeout(timer);
      const run = {
        code,
        stderr,
        wallMs: performance.now() - started,
        firstByteMs,
        stdoutBytes,
        stdoutHead: head,
      };
      if (code === 0) resolve(run);
      else
        reject(
          new Error(
            `${file} ${args.slice(-2).join(' ')} exited ${code}: ${stderr.trim() || head.trim()}`,
          ),
        );
    });
  });
}

/** Resident set size of a process in KiB (VmRSS), or NaN when it is gone. */
export function rssKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match?.[1] === undefined ? Number.NaN : Number(match[1]);
  } catch {
    return Number.NaN;
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Writes a progress line to stderr (stdout carries only the report). */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** CPU time (user + system) a process used so far, in milliseconds; NaN when it is gone. */
export function cpuTimeMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": fields 14 and 15 (utime, stime) counted after the last ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU time all threads of a process used so far, in microseconds, from the scheduler's
 * nanosecond counters (`/proc/PID/task/TID/schedstat`): fine enough for the cost of one
 * keystroke, where `cpuTimeMs`'s 10 ms ticks are not. NaN when the process is gone.
 */
export function cpuTimeUs(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended meanwhile
      }
    }
    return ns / 1000;
  } catch {
    return Number.NaN;
  }
}

/** USER_HZ: 100 on every Linux this runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS_PER_SECOND = 100;

/** Read- and write-type system calls a process made so far (`syscr`, `syscw` of /proc/PID/io); NaN when unknown. */
export function ioSyscalls(pid: number): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const count = (field: string): number => {
      const match = new RegExp(`^${field}: (\\d+)`, 'm').exec(io);
      return match?.[1] === undefined ? Number.NaN : Number(match[1]);
    };
    return { reads: count('syscr'), writes: count('syscw') };
  } catch {
    return { reads: Number.NaN, writes: Number.NaN };
  }
}

/** Waits (at most `maxMs`) until a process used less than 5 ms of CPU in 100 ms. */
export async function quiesce(pid: number, maxMs = 10_000): Promise<void> {
  const deadline = performance.now() + maxMs;
  let last = cpuTimeMs(pid);
  while (performance.now() < deadline) {
    await sleep(100);
    const now = cpuTimeMs(pid);
    if (!(now - last >= 5)) return;
    last = now;
  }
}
