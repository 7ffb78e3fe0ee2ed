import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LAUNCH = fileURLToPath(new URL('../launch.mjs', import.meta.url));
const BARE_RELAY = fileURLToPath(new URL('../bare-relay.ts', import.meta.url));
const START_TIMEOUT_MS = 20_000;

/** A bare relay (bench/bare-relay.ts) running in its own Node process, like Gatehouse does. */
export interface RelayProcess extends AsyncDisposable {
  readonly port: number;
  readonly pid: number;
}

/** Starts the bare relay in front of `host:port` and waits until it listens. */
export async function startBareRelay(target: {
  host: string;
  port: number;
}): Promise<RelayProcess> {
  const child = spawn(
    process.execPath,
    [LAUNCH, BARE_RELAY, '--to', `${target.host}:${target.port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(
      () => reject(new Error(`bare relay did not start: ${err}`)),
      START_TIMEOUT_MS,
    );
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n')[0];
      if (out.includes('\n') && line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bare relay exited ${code}: ${err}`));
    });
  });
  return {
    port,
    pid: child.pid ?? -1,
    [Symbol.asyncDispose]: () => stopChild(child),
  };
}

/** SIGTERM, then waits for the exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}
