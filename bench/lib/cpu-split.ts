import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * `--split-cpus`: the process in the middle (Gatehouse, the bare relay, pgbouncer) alone on
 * the last CPU, the clients and the servers (sshd, the databases) on the others. By default
 * all of them share every CPU, so on a small machine whatever the middle spends per
 * transaction is taken from the client and the server, and the rate follows the middle's
 * CPU. Split, the middle has a core of its own, as a bastion on its own host would: the
 * ratios then show whether that core keeps up, not how much it takes from the others.
 */
export interface CpuSplit {
  /** The CPUs of the middle and of everything else (`taskset -c` lists); undefined when off. */
  readonly cpus: { readonly middle: string; readonly rest: string } | undefined;
  /**
   * Puts the bench itself on the clients' CPUs: every client and server it starts from now on
   * (ssh, pgbench, sysbench, sshd, the PostgreSQL cluster, and the middle processes until
   * {@link middle} moves them) follows. The returned function gives it every CPU again.
   */
  harness(): () => void;
  /** Puts the middle process (every thread; threads it starts later follow) on its CPU. */
  middle(pid: number | undefined): void;
  /**
   * Puts a server the bench did not start (the machine's MariaDB), listening on `port`, on the
   * clients' CPUs: every thread, and its child processes; later ones follow. The returned
   * function gives it every CPU again (it outlives the run).
   */
  server(port: number): () => void;
}

/** A split for `isOn` (needs two CPUs at least), or one that changes nothing. */
export function cpuSplit(isOn: boolean): CpuSplit {
  const count = availableParallelism();
  if (!isOn) {
    return {
      cpus: undefined,
      harness: () => () => undefined,
      middle: () => undefined,
      server: () => () => undefined,
    };
  }
  if (count < 2) throw new Error('--split-cpus needs two CPUs at least');
  const cpus = { middle: String(count - 1), rest: count === 2 ? '0' : `0-${count - 2}` };
  const every = `0-${count - 1}`;
  return {
    cpus,
    harness: () => {
      pin(process.pid, cpus.rest);
      return () => pin(process.pid, every);
    },
    middle: (pid) => {
      if (pid !== undefined) pin(pid, cpus.middle);
    },
    server: (port) => {
      const pids = serverPids(port);
      for (const pid of pids) pin(pid, cpus.rest);
      return () => {
        for (const pid of serverPids(port)) pin(pid, every);
      };
    },
  };
}

function pin(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** The process listening on 127.0.0.1:`port` and its children. */
function serverPids(port: number): number[] {
  const listing = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  const pid = Number(/pid=(\d+)/.exec(listing)?.[1]);
  if (!Number.isInteger(pid)) throw new Error(`--split-cpus: no process listens on port ${port}`);
  // ps exits with 1 when there is no child: its output is read either way.
  const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
  return [pid, ...children];
}
