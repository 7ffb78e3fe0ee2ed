import { execFile, execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where the PostgreSQL server binaries live: `GATEHOUSE_TEST_PG_BIN`, else the newest /usr/lib/postgresql/<n>/bin. */
export function findPgBinDir(): string {
  const override = process.env['GATEHOUSE_TEST_PG_BIN'];
  if (override !== undefined && override !== '') return override;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined)
    throw new Error(`no PostgreSQL server binaries under ${root} (set GATEHOUSE_TEST_PG_BIN)`);
  return join(root, newest, 'bin');
}

/** Options of {@link startPgCluster}. */
export interface PgClusterOptions {
  /** Password of the `postgres` superuser; every login uses SCRAM-SHA-256. */
  readonly superPassword: string;
  /** Extra `postgresql.conf` settings, e.g. `{ log_statement: 'all' }`. */
  readonly settings?: Readonly<Record<string, string>>;
}

/** A running throwaway PostgreSQL cluster; dispose it (or call `stop`) to kill and delete it. */
export interface PgCluster extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  readonly superuser: string;
  readonly superPassword: string;
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  /** The server's log file (stderr of the postmaster). */
  readonly logPath: string;
  /** The server log so far. */
  readLog(): string;
  /**
   * Stops the server, keeping its files and port (`pg_ctl stop`; `fast` ends sessions with
   * 57P01, `immediate` drops them as a crash would). `resume` starts it again.
   */
  pause(options?: { readonly mode?: 'fast' | 'immediate' }): Promise<void>;
  /** Starts a paused server again on the same port. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';
const START_TIMEOUT_S = 30;
const START_ATTEMPTS = 3;

/**
 * Creates a cluster in a temp dir with `initdb -A scram-sha-256`, so password logins are
 * really checked (the machine's own server trusts everyone), and starts it on a free
 * loopback port. initdb refuses root: as root, the cluster belongs to the `postgres` user.
 * The password reaches initdb through a 0600 file, never through process arguments.
 */
export async function startPgCluster(options: PgClusterOptions): Promise<PgCluster> {
  const bin = findPgBinDir();
  const owner = clusterOwner();
  const dir = mkdtempSync(join(tmpdir(), 'gh-pgc-'));
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  const logPath = join(dir, 'server.log');
  const pwFile = join(dir, 'pwfile');
  const asOwner = (file: string, args: readonly string[]): Promise<unknown> =>
    owner === undefined ? run(file, args) : run('runuser', ['-u', owner.name, '--', file, ...args]);
  let isStarted = false;
  const stopNow = (): void => {
    if (isStarted) {
      isStarted = false;
      try {
        const args = ['-D', dataDir, '-m', 'immediate', 'stop'];
        if (owner === undefined) execFileSync(join(bin, 'pg_ctl'), args, { stdio: 'ignore' });
        else
          execFileSync('runuser', ['-u', owner.name, '--', join(bin, 'pg_ctl'), ...args], {
            stdio: 'ignore',
          });
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A test worker that dies without stopping the cluster must not leave a postmaster behind.
  process.once('exit', stopNow);
  try {
    writeFileSync(pwFile, `${options.superPassword}\n`, { mode: 0o600 });
    writeFileSync(logPath, '', { mode: 0o600 });
    if (owner !== undefined) {
      for (const path of [dir, pwFile, logPath]) chownSync(path, owner.uid, owner.gid);
    }
    chmodSync(dir, 0o700);
    await asOwner(join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      SUPERUSER,
      '-A',
      'scram-sha-256',
      `--pwfile=${pwFile}`,
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]);
    rmSync(pwFile, { force: true });
    mkdirSync(socketDir, { mode: 0o700 });
    if (owner !== undefined) chownSync(socketDir, owner.uid, owner.gid);
    const settings: Record<string, string> = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${socketDir}'`,
      fsync: 'off',
      ...quoteSettings(options.settings ?? {}),
    };
    appendSettings(dataDir, settings);
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      // The port was free a moment ago; another process may take it first, so try again.
      port = await freePort();
      appendSettings(dataDir, { port: String(port) });
      isStarted = true;
      try {
        await asOwner(join(bin, 'pg_ctl'), [
          '-D',
          dataDir,
          '-l',
          logPath,
          '-w',
          '-t',
          String(START_TIMEOUT_S),
          'start',
        ]);
        break;
      } catch (err) {
        if (attempt >= START_ATTEMPTS || !readFileSync(logPath, 'utf8').includes('could not bind'))
          throw err;
      }
    }
    const host = '127.0.0.1';
    const url = `postgres://${SUPERUSER}:${encodeURIComponent(options.superPassword)}@${host}:${port}/postgres`;
    const pgCtl = async (args: readonly string[]): Promise<void> => {
      await asOwner(join(bin, 'pg_ctl'), ['-D', dataDir, ...args]);
    };
    const pause = async (o: { readonly mode?: 'fast' | 'immediate' } = {}): Promise<void> => {
      await pgCtl(['-m', o.mode ?? 'fast', '-w', 'stop']);
      isStarted = false;
    };
    const resume = async (): Promise<void> => {
      isStarted = true;
      await pgCtl(['-l', logPath, '-w', '-t', String(START_TIMEOUT_S), 'start']);
    };
    const stop = (): Promise<void> => {
      process.removeListener('exit', stopNow);
      stopNow();
      return Promise.resolve();
    };
    return {
      host,
      port,
      superuser: SUPERUSER,
      superPassword: options.superPassword,
      url,
      logPath,
      readLog: () => readFileSync(logPath, 'utf8'),
      pause,
      resume,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    process.removeListener('exit', stopNow);
    const log = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
    stopNow();
    throw new Error(
      `cannot start a throwaway PostgreSQL cluster: ${describe(err)}${log === '' ? '' : `\n${log}`}`,
      { cause: err },
    );
  }
}

interface Owner {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** The `postgres` account when running as root (initdb refuses root); else none. */
function clusterOwner(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const name = SUPERUSER;
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { name, uid, gid };
}

/** Appends to postgresql.conf (keeping its owner); the server reads the last value of a setting. */
function appendSettings(dataDir: string, settings: Readonly<Record<string, string>>): void {
  const lines = Object.entries(settings).map(([key, value]) => `${key} = ${value}\n`);
  appendFileSync(join(dataDir, 'postgresql.conf'), lines.join(''));
}

/** Quotes setting values that are not plain numbers or words. */
function quoteSettings(settings: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (!/^[a-z_]+$/.test(key)) throw new Error(`bad setting name ${key}`);
    out[key] = /^[A-Za-z0-9_.-]+$/.test(value) ? value : `'${value.replaceAll("'", "''")}'`;
  }
  return out;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

function describe(err: unknown): string {
  if (
    err !== null &&
    typeof err === 'object' &&
    'stderr' in err &&
    typeof err.stderr === 'string' &&
    err.stderr !== ''
  ) {
    return err.stderr.trim();
  }
  return err instanceof Error ? err.message : String(err);
}
