import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of the `gatehouse` bin (runs the compiled CLI; `npm test` builds first). */
export const GATEHOUSE_BIN = fileURLToPath(new URL('../../bin/gatehouse.js', import.meta.url));

/** The result of one CLI run. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `gatehouse ARGS` as a real process, feeding `stdin`. */
export function runGatehouse(
  args: readonly string[],
  options: {
    readonly stdin?: string;
    readonly env?: Record<string, string>;
    readonly timeoutMs?: number;
  } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GATEHOUSE_BIN, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Generous: a CLI run is a Node start plus a store open, slow on a loaded machine
    // (GH_CLI_TIMEOUT_MS for one loaded far beyond its cores, e.g. during benchmarks).
    const timer = setTimeout(
      () => child.kill('SIGKILL'),
      options.timeoutMs ?? (Number(process.env['GH_CLI_TIMEOUT_MS']) || 120_000),
    );
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

/** Like {@link runGatehouse} but throws with the output when the exit code is not 0. */
export async function gatehouseOk(
  args: readonly string[],
  options: Parameters<typeof runGatehouse>[1] = {},
): Promise<CliRun> {
  const run = await runGatehouse(args, options);
  if (run.code !== 0)
    throw new Error(`gatehouse ${args.join(' ')} exited ${run.code}\n${run.stdout}\n${run.stderr}`);
  return run;
}
