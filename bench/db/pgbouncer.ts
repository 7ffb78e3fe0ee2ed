import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/support/sshd.js';
import { sleep } from '../lib/processes.js';
import { stopChild } from '../lib/relay-process.js';

/** A pgbouncer (Debian package) in session mode in front of one database. */
export interface Pgbouncer extends AsyncDisposable {
  readonly port: number;
  readonly pid: number;
}

/**
 * Starts pgbouncer in session mode (the mode that behaves like a plain connection, as
 * Gatehouse does). Clients are trusted; pgbouncer logs in upstream with the password from its
 * auth file (SCRAM). pgbouncer refuses to run as root: it runs as `postgres`.
 */
export async function startPgbouncer(upstream: {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}): Promise<Pgbouncer> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-pgbouncer-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  const users = join(dir, 'userlist.txt');
  writeFileSync(users, `"${upstream.user}" "${upstream.password}"\n`, { mode: 0o644 });
  writeFileSync(
    ini,
    [
      '[databases]',
      `${upstream.database} = host=${upstream.host} port=${upstream.port} dbname=${upstream.database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      "unix_socket_dir = ''",
      'auth_type = trust',
      `auth_file = ${users}`,
      'pool_mode = session',
      'max_client_conn = 2000',
      // Session mode holds a server connection per client: the idle workload opens 1000.
      'default_pool_size = 2000',
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const child = spawn('runuser', ['-u', 'postgres', '--', 'pgbouncer', ini], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    if ((await isListening(port)) && existsSync(join(dir, 'pgbouncer.pid'))) break;
    if (child.exitCode !== null || i > 100) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start (exit ${child.exitCode})`);
    }
    await sleep(100);
  }
  // runuser forks pgbouncer: its own pid is in its pidfile.
  const pid = Number(readFileSync(join(dir, 'pgbouncer.pid'), 'utf8').trim());
  return {
    port,
    pid,
    [Symbol.asyncDispose]: async () => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
