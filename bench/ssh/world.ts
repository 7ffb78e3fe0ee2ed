import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  startGatehouse,
  type GatehouseOptions,
  type RunningGatehouse,
} from '../../test/support/gatehouse.js';
import { createSshKeyPair, type SshKeyPair } from '../../test/support/ssh-keys.js';
import { addSshTarget } from '../../test/support/ssh-target.js';
import { sshClientArgs, startSshd, type Sshd } from '../../test/support/sshd.js';
import { Cleanup } from '../lib/cleanup.js';
import type { CpuSplit } from '../lib/cpu-split.js';
import { progress } from '../lib/processes.js';
import { startBareRelay } from '../lib/relay-process.js';

/** The ssh2 patch's switch (patches/ssh2+*.patch): `off` runs ssh2's write path as shipped. */
export const STOCK_SSH2_ENV = { SSH2_WRITE_PATCH: 'off' } as const;

/** One way from the `ssh` client to the target's sshd. */
export interface SshPath {
  readonly id: string;
  readonly port: number;
  /** Login name: the leased account for direct paths, `alice+TARGET` through Gatehouse. */
  readonly login: string;
  /** The process in the middle (Gatehouse or the bare relay), for its memory. */
  readonly pid?: () => number;
  /** Gatehouse's data dir, for its recordings. */
  readonly gatehouseDir?: string;
  /** Restarts the process in the middle (Gatehouse). */
  readonly restart?: () => Promise<void>;
}

/** sshd, the bare relay and Gatehouse instances with the targets every SSH workload uses. */
export interface SshBench extends AsyncDisposable {
  readonly sshd: Sshd;
  readonly key: SshKeyPair;
  /** By id: direct, bare-relay, gatehouse, gatehouse-norec, and the stock and base variants if asked. */
  readonly paths: ReadonlyMap<string, SshPath>;
  /** A directory the target's account can read and write (files for `cat`, scp destinations). */
  readonly scratch: string;
  /** `ssh` arguments for `path` up to the login (command not included). */
  sshArgs(path: SshPath): string[];
  /** `scp` arguments for `path` (options only). */
  scpArgs(path: SshPath): string[];
}

/** Options of {@link startSshBench}. */
export interface SshBenchOptions {
  /** Also start a Gatehouse whose ssh2 runs its stock write path. */
  readonly withStock: boolean;
  /** Directory for `--cpu-prof` output of the Gatehouse processes. */
  readonly cpuProfDir?: string | undefined;
  /** More Node options for the Gatehouse processes (dev helpers: `--perf-basic-prof`, …). */
  readonly nodeArgs?: readonly string[];
  /** `--split-cpus`: the relay and every Gatehouse go on the middle's CPU (after restarts too). */
  readonly split?: CpuSplit | undefined;
  /** Node flags for `gatehouse-base` instead of `nodeArgs` (the same build with other flags). */
  readonly baseNodeArgs?: readonly string[] | undefined;
  /** Also start the Gatehouse built in this directory (`DIR/bin/gatehouse.js`): path `gatehouse-base`. */
  readonly baseDir?: string | undefined;
}

/** Over the tests' client options (the bench key only, no agent, no known_hosts, no prompts). */
const CLIENT_OPTIONS: Readonly<Record<string, string>> = { ConnectTimeout: '20' };

/** Starts sshd, a bare relay in front of it, and one or two Gatehouse instances. */
export async function startSshBench(options: SshBenchOptions): Promise<SshBench> {
  const stack = new Cleanup();
  let starting: Promise<RunningGatehouse>[] = [];
  try {
    const gatehouseIds: [string, GatehouseOptions][] = [['gatehouse', {}]];
    if (options.withStock) gatehouseIds.push(['gatehouse-stock', { serveEnv: STOCK_SSH2_ENV }]);
    if (options.baseDir !== undefined)
      gatehouseIds.push([
        'gatehouse-base',
        {
          serveBin: join(resolve(options.baseDir), 'bin', 'gatehouse.js'),
          ...(options.baseNodeArgs === undefined ? {} : { nodeArgs: options.baseNodeArgs }),
        },
      ]);
    const profArgs = (id: string, nodeArgs = options.nodeArgs ?? []): string[] =>
      options.cpuProfDir === undefined
        ? [...nodeArgs]
        : [
            ...nodeArgs,
            '--cpu-prof',
            `--cpu-prof-dir=${options.cpuProfDir}`,
            `--cpu-prof-name=${id}.cpuprofile`,
          ];
    // Everything starts at once: each CLI call is a Node start-up, seconds on a loaded machine.
    starting = gatehouseIds.map(([id, o]) =>
      startGatehouse({ ...o, nodeArgs: profArgs(id, o.nodeArgs) }).then((g) => stack.use(g)),
    );
    const [sshd, key] = await Promise.all([
      startSshd().then((d) => stack.use(d)),
      createSshKeyPair({ type: 'ed25519', comment: 'bench@client' }).then((k) => stack.use(k)),
    ]);
    const gatehouses = await Promise.all(starting);
    sshd.authorizeKey(key.publicLine); // the direct and bare-relay paths log in as the leased account
    const relay = stack.use(await startBareRelay({ host: sshd.host, port: sshd.port }));
    options.split?.middle(relay.pid);

    const scratch = mkdtempSync(join(tmpdir(), 'gh-bench-'));
    chmodSync(scratch, 0o755);
    const uid = Number(execFileSync('id', ['-u', sshd.account], { encoding: 'utf8' }).trim());
    mkdirSync(join(scratch, 'in'), { mode: 0o755 });
    chownSync(join(scratch, 'in'), uid, uid);
    stack.defer(() => rmSync(scratch, { recursive: true, force: true }));

    const paths = new Map<string, SshPath>();
    paths.set('direct', { id: 'direct', port: sshd.port, login: sshd.account });
    paths.set('bare-relay', {
      id: 'bare-relay',
      port: relay.port,
      login: sshd.account,
      pid: () => relay.pid,
    });
    await Promise.all(gatehouses.map((g) => addTargets(g, sshd, key)));
    gatehouseIds.forEach(([id], i) => {
      const gatehouse = gatehouses[i];
      if (gatehouse === undefined) return;
      progress(`${id} listening on ${gatehouse.sshPort} (pid ${gatehouse.pid})`);
      options.split?.middle(gatehouse.pid);
      const restart = async (): Promise<void> => {
        await gatehouse.stop();
        await gatehouse.restart();
        options.split?.middle(gatehouse.pid);
      };
      const common = {
        port: gatehouse.sshPort,
        pid: () => gatehouse.pid,
        gatehouseDir: gatehouse.dir,
        restart,
      };
      paths.set(id, { id, login: 'alice+web-1', ...common });
      paths.set(`${id}-norec`, { id: `${id}-norec`, login: 'alice+web-1-norec', ...common });
    });

    const clientArgs = sshClientArgs(key.privatePath, CLIENT_OPTIONS);
    return {
      sshd,
      key,
      paths,
      scratch,
      sshArgs: (path) => [...clientArgs, '-p', String(path.port), `${path.login}@127.0.0.1`],
      scpArgs: (path) => ['-q', ...clientArgs, '-P', String(path.port)],
      [Symbol.asyncDispose]: () => stack[Symbol.asyncDispose](),
    };
  } catch (err) {
    await Promise.allSettled(starting);
    await stack[Symbol.asyncDispose]().catch(() => undefined);
    throw err;
  }
}

/** alice (the bench key), web-1 (recorded) and web-1-norec (`--no-recording`), both granted. */
async function addTargets(gatehouse: RunningGatehouse, sshd: Sshd, key: SshKeyPair): Promise<void> {
  await gatehouse.cli(['user', 'add', 'alice', '--ssh-key', key.publicPath]);
  await Promise.all([
    addSshTarget({ gatehouse, sshd }, 'web-1', { grantFor: '24h' }),
    addSshTarget({ gatehouse, sshd }, 'web-1-norec', {
      flags: ['--no-recording'],
      grantFor: '24h',
    }),
  ]);
}

/** Deletes the recordings a Gatehouse kept so far (bulk downloads leave gigabytes). */
export function dropRecordings(path: SshPath): void {
  if (path.gatehouseDir !== undefined)
    rmSync(join(path.gatehouseDir, 'recordings'), { recursive: true, force: true });
}
