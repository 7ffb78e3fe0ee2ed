import ssh2 from 'ssh2';
import { idlePathOf, measureIdleConnections } from '../lib/idle.js';
import type { BenchSizes } from '../lib/options.js';
import type { Workload } from '../lib/results.js';
import { pathOf } from './commands.js';
import type { SshBench, SshPath } from './world.js';

/**
 * N concurrent idle interactive sessions (pty + shell, prompt seen), opened by ssh2 clients in
 * this process: the middle process's resident memory per session, and sessions opened per
 * second. Direct has no middle process: it gives the rate of sshd itself.
 */
export async function measureIdle(
  bench: SshBench,
  sizes: BenchSizes,
  pathIds: readonly string[],
): Promise<Workload[]> {
  const out: Workload[] = [];
  for (const count of sizes.idleSessions) {
    const paths = pathIds.map((id) => {
      const path = pathOf(bench, id);
      return idlePathOf(path, () => openSession(bench, path));
    });
    out.push(
      ...(await measureIdleConnections({
        prefix: 'ssh',
        what: 'SSH sessions (pty + shell)',
        count,
        paths,
        settleMs: sizes.settleMs,
      })),
    );
  }
  return out;
}

/** Logs in, opens a shell with a pty and resolves once the shell printed something. */
function openSession(bench: SshBench, path: SshPath): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    const close = (): Promise<void> =>
      new Promise<void>((done) => {
        const timer = setTimeout(done, 5_000);
        client.once('close', () => {
          clearTimeout(timer);
          done();
        });
        client.end();
      });
    const fail = (err: Error): void => {
      client.end();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error('session did not open in 60 s')), 60_000);
    client.on('error', fail);
    client.once('ready', () => {
      client.shell({ term: 'xterm', cols: 80, rows: 24 }, (err, channel) => {
        if (err !== undefined) return fail(err);
        channel.once('data', () => {
          clearTimeout(timer);
          channel.on('data', () => undefined);
          channel.stderr.resume();
          resolve(close);
        });
      });
    });
    client.connect({
      host: '127.0.0.1',
      port: path.port,
      username: path.login,
      privateKey: bench.key.privateKey,
      readyTimeout: 60_000,
    });
  });
}
