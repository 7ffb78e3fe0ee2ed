import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { GATEHOUSE_BIN, gatehouseOk, runGatehouse, type CliRun } from './cli.js';
import { freePort } from './sshd.js';

/** A running `gatehouse serve` in a throwaway data dir, driven through its real CLI. */
export interface RunningGatehouse extends AsyncDisposable {
  readonly dir: string;
  readonly configPath: string;
  readonly sshPort: number;
  /** Port of the web console and API (HTTPS with the init certificate). */
  readonly webPort: number;
  /** Port of the MySQL front end (TLS with the init certificate). */
  readonly mysqlPort: number;
  /** Port of the PostgreSQL front end (TLS with the init certificate; CA in `tls/ca.crt`). */
  readonly pgPort: number;
  /** What `gatehouse init` printed (it shows the admin password once). */
  readonly initOutput: string;
  /** Everything the server logged so far (JSON lines). */
  logs(): string;
  /** Runs a CLI command against this setup; throws on a non-zero exit. */
  cli(args: readonly string[], options?: { stdin?: string }): Promise<CliRun>;
  /** Runs a CLI command and returns whatever happened. */
  tryCli(args: readonly string[], options?: { stdin?: string }): Promise<CliRun>;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Kills the server at once (crash). */
  kill(): Promise<void>;
  /** Starts the server again on the same setup (after stop or kill). */
  restart(): Promise<void>;
  /** Process id of the running server. */
  readonly pid: number;
}

/** Options of {@link startGatehouse}. */
export interface GatehouseOptions {
  /** Extra environment variables for `gatehouse serve` (not for CLI commands). */
  readonly serveEnv?: Readonly<Record<string, string>>;
  /** Node options placed before the script, e.g. `--cpu-prof` (benchmarks). */
  readonly nodeArgs?: readonly string[];
  /**
   * `bin/gatehouse.js` of another build to run `serve` from (benchmarks: the build before a
   * change, in the same run); CLI commands still use this checkout's.
   */
  readonly serveBin?: string;
  /** Extra `gatehouse init` arguments, e.g. `['--store-url', url]`. */
  readonly initArgs?: readonly string[];
  /** Runs after `init`, before the first `serve` (e.g. to mount a small disk on `recordings`). */
  readonly beforeServe?: (dir: string) => Promise<void> | void;
  /** Top-level config sections set in the init config before `serve` starts, e.g. `{ limits: {…} }`. */
  readonly config?: Readonly<Record<string, unknown>>;
}

/** How long `serve` may take to open every listener. */
/** How much of a server's output is shown when it exits by itself. */
const UNEXPECTED_EXIT_TAIL = 8_192;
const START_TIMEOUT_MS = Number(process.env['GH_SERVE_START_TIMEOUT_MS']) || 90_000;

/** Initializes a setup and starts `gatehouse serve` on free loopback ports. */
export async function startGatehouse(options: GatehouseOptions = {}): Promise<RunningGatehouse> {
  // Free ports are picked before `serve` binds them; another test process may take one in
  // between. Such a start is retried on new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGatehouseOnce(options);
    } catch (err) {
      if (attempt >= 3 || !String(err).includes('EADDRINUSE')) throw err;
    }
  }
}

async function startGatehouseOnce(options: GatehouseOptions): Promise<RunningGatehouse> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-e2e-'));
  const sshPort = await freePort();
  const webPort = await freePort();
  const mysqlPort = await freePort();
  const pgPort = await freePort();
  // `init` generates keys and a CA, slow on a loaded machine: runGatehouse's default timeout
  // (made for such runs) covers it.
  const init = await gatehouseOk([
    'init',
    '--data-dir',
    dir,
    '--listen-host',
    '127.0.0.1',
    '--ssh-port',
    String(sshPort),
    '--web-port',
    String(webPort),
    '--mysql-port',
    String(mysqlPort),
    '--pg-port',
    String(pgPort),
    ...(options.initArgs ?? []),
  ]);
  await options.beforeServe?.(dir);
  const configPath = join(dir, 'gatehouse.yaml');
  if (options.config !== undefined) {
    const config = parseYaml(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(configPath, stringifyYaml({ ...config, ...options.config }));
  }
  const env = { GATEHOUSE_CONFIG: configPath };
  let logs = '';
  let child: ChildProcess;
  let isStopping = false;
  const launch = async (): Promise<void> => {
    isStopping = false;
    const started = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), options.serveBin ?? GATEHOUSE_BIN, 'serve'],
      {
        env: { ...process.env, ...env, ...options.serveEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = started;
    const mark = logs.length;
    started.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
    started.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
    // A server that dies on its own fails the tests after it with "connection refused": say
    // why where the test run's output shows it (CI keeps nothing else).
    started.once('exit', (code, signal) => {
      if (isStopping) return;
      process.stderr.write(
        `gatehouse serve (pid ${started.pid}) exited by itself (${signal ?? `code ${code}`}); its last output:\n${logs.slice(-UNEXPECTED_EXIT_TAIL)}\n`,
      );
    });
    try {
      await waitFor(
        () =>
          logs.slice(mark).includes('ssh listening') &&
          logs.slice(mark).includes('web listening') &&
          logs.slice(mark).includes('mysql listening') &&
          logs.slice(mark).includes('postgres listening'),
        started,
        () => logs,
      );
    } catch (err) {
      isStopping = true;
      started.kill('SIGKILL');
      throw err;
    }
  };
  await launch();
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    isStopping = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const stop = async (): Promise<void> => {
    await stopWith('SIGTERM');
  };
  return {
    dir,
    configPath,
    sshPort,
    webPort,
    mysqlPort,
    pgPort,
    initOutput: init.stdout,
    get pid() {
      return child.pid ?? -1;
    },
    restart: launch,
    logs: () => logs,
    cli: (args, options = {}) =>
      gatehouseOk(args, { env, ...(options.stdin === undefined ? {} : { stdin: options.stdin }) }),
    tryCli: (args, options = {}) =>
      runGatehouse(args, { env, ...(options.stdin === undefined ? {} : { stdin: options.stdin }) }),
    stop,
    kill: () => stopWith('SIGKILL'),
    [Symbol.asyncDispose]: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitFor(
  condition: () => boolean,
  child: ChildProcess,
  output: () => string,
): Promise<void> {
  // Generous: on a loaded machine a start (or a restart after a crash) can take half a minute.
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!condition()) {
    if (child.exitCode !== null)
      throw new Error(`gatehouse serve exited ${child.exitCode}:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`gatehouse serve did not start:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
