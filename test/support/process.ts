import { spawn } from 'node:child_process';

/** How a client process ended and what it printed. */
export interface ProcessRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runProcess}. */
export interface ProcessOptions {
  /** Written to stdin, which is then closed (empty by default). */
  readonly input?: string | undefined;
  /** Added to this process's environment (secrets go here or in `input`, never in argv). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** SIGKILL after this long; default 30 s. */
  readonly timeoutMs?: number;
}

/** Runs `file ARGS` (no shell), feeding `input`, and collects its output; kills it after `timeoutMs`. */
export function runProcess(
  file: string,
  args: readonly string[],
  options: ProcessOptions = {},
): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const proc = spawn(file, [...args], {
      env: { ...process.env, ...options.env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A client that exits without reading its input (git, a refused ssh) must not fail with EPIPE.
    proc.stdin.on('error', () => undefined);
    proc.stdin.end(options.input ?? '');
  });
}
