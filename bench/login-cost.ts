// Dev helper (not part of the bench run): what one login costs Gatehouse, per protocol.
// `npm run build && node bench/launch.mjs bench/login-cost.ts [--logins N] [--burst N] [--cpu-prof DIR]`
//
// Starts Gatehouse, an sshd and a SCRAM-only PostgreSQL cluster with a target on each, warms
// Gatehouse up, then for SSH (`ssh alice+web-1@… true`, public key) and PostgreSQL (`psql …
// -c 'select 1'`, SCRAM, TLS) runs N sequential logins while `strace -f` counts the disk syncs
// (fsync/fdatasync, every thread) of the Gatehouse process, and reads its CPU time (all
// threads, /proc/PID/task/*/schedstat; and the main thread's alone, with its voluntary context
// switches: each is the event loop waiting, mostly for an answer of the SQLite thread). Then a
// burst of M logins 8 at a time (logins/s); with `--busy N`, while N pgbench clients send
// `select 1` through Gatehouse as fast as they can (an event loop near saturation, as in the soak).
// Each login is a whole session: open and end (the end's commits are counted too).
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { addDbTarget } from '../test/support/db-target.js';
import { startGatehouse } from '../test/support/gatehouse.js';
import { findPgBinDir, startPgCluster } from '../test/support/pg-cluster.js';
import { pgConninfo } from '../test/support/pg-conninfo.js';
import { createSshKeyPair } from '../test/support/ssh-keys.js';
import { runProcess, type ProcessRun } from '../test/support/process.js';
import { addSshTarget } from '../test/support/ssh-target.js';
import { runSshClient, startSshd } from '../test/support/sshd.js';
import { Cleanup } from './lib/cleanup.js';
import { scriptOption } from './lib/options.js';
import { cpuTimeUs, progress, sleep } from './lib/processes.js';

const option = (name: string, fallback: string): string => scriptOption(name) ?? fallback;
const LOGINS = Number(option('--logins', '20'));
const BURST = Number(option('--burst', '40'));
const CPU_PROF = option('--cpu-prof', '');
const BUSY = Number(option('--busy', '0'));
const PARALLEL = 8;
/** One login on a loaded machine, burst included. */
const LOGIN_TIMEOUT_MS = 300_000;

await using stack = new Cleanup();
const gh = stack.use(
  await startGatehouse({
    nodeArgs: CPU_PROF === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`],
  }),
);
const sshd = stack.use(await startSshd());
const key = stack.use(await createSshKeyPair({ type: 'ed25519', comment: 'login-cost@client' }));
const alice = { name: 'alice', password: randomBytes(12).toString('hex') };
await gh.cli(['user', 'add', alice.name, '--ssh-key', key.publicPath, '--password-stdin'], {
  stdin: `${alice.password}\n`,
});
await addSshTarget({ gatehouse: gh, sshd }, 'web-1', {
  flags: ['--no-recording'],
  grantTo: alice.name,
  grantFor: '24h',
});

const cluster = stack.use(await startPgCluster({ superPassword: randomBytes(12).toString('hex') }));
const leased = randomBytes(12).toString('hex');
const su = new pg.Client({ connectionString: cluster.url });
await su.connect();
await su.query(`CREATE ROLE bench_leased LOGIN PASSWORD '${leased}'`);
await su.end();
await addDbTarget(
  gh,
  {
    name: 'db-1',
    kind: 'postgres',
    host: cluster.host,
    port: cluster.port,
    username: 'bench_leased',
    password: leased,
    database: 'postgres',
  },
  { grantTo: alice.name, grantFor: '24h' },
);

/** Rejects when `run` did not exit 0 (a login that failed would count as a cheap one). */
const expectOk = (what: string, run: Pick<ProcessRun, 'code' | 'stderr'>): void => {
  if (run.code !== 0) throw new Error(`${what} exited ${run.code}: ${run.stderr.trim()}`);
};
const sshLogin = async (): Promise<void> => {
  const run = await runSshClient({
    host: '127.0.0.1',
    port: gh.sshPort,
    user: `${alice.name}+web-1`,
    identityPath: key.privatePath,
    command: 'true',
    timeoutMs: LOGIN_TIMEOUT_MS,
  });
  expectOk('ssh', run);
};
const psql = join(findPgBinDir(), 'psql');
const pgLogin = async (): Promise<void> => {
  const run = await runProcess(
    psql,
    [
      pgConninfo({
        port: gh.pgPort,
        login: `${alice.name}#db-1`,
        dbname: 'postgres',
        sslmode: 'require',
      }),
      '-Atqc',
      'select 1',
    ],
    { env: { PGPASSWORD: alice.password }, timeoutMs: LOGIN_TIMEOUT_MS },
  );
  expectOk('psql', run);
};

/** `count` pgbench clients sending `select 1` through Gatehouse until stopped. */
function startBusyClients(count: number): { stop: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'gh-busy-'));
  const script = join(dir, 'select1.sql');
  writeFileSync(script, 'select 1;\n');
  const pgbench = spawn(
    join(findPgBinDir(), 'pgbench'),
    ['-n', '-f', script, '-c', String(count), '-j', '2', '-T', '3600'],
    {
      env: {
        ...process.env,
        PGHOST: '127.0.0.1',
        PGPORT: String(gh.pgPort),
        PGUSER: `${alice.name}#db-1`,
        PGDATABASE: 'postgres',
        PGPASSWORD: alice.password,
        PGSSLMODE: 'require',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  pgbench.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  let isStopping = false;
  const exited = new Promise((resolve) => pgbench.once('exit', resolve));
  void exited.then(() => {
    if (!isStopping) progress(`the busy clients stopped early: ${stderr.trim()}`);
  });
  return {
    stop: async () => {
      isStopping = true;
      pgbench.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Counts fsync/fdatasync of every thread of `pid` while `work` runs (strace -f), by file. */
async function countSyncs(
  pid: number,
  work: () => Promise<void>,
): Promise<{ total: number; byFile: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-strace-'));
  const out = join(dir, 'trace');
  const strace = spawn(
    'strace',
    ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync', '-o', out, '-p', String(pid)],
    { stdio: 'ignore' },
  );
  await sleep(1_000); // attached
  try {
    await work();
    await sleep(1_500); // the session ends (session.end) after the client left
  } finally {
    strace.kill('SIGINT');
    await new Promise((resolve) => strace.once('exit', resolve));
  }
  const lines = readFileSync(out, 'utf8')
    .split('\n')
    .filter((l) => /\b(fsync|fdatasync)\(/.test(l));
  rmSync(dir, { recursive: true, force: true });
  const byFile: Record<string, number> = {};
  for (const line of lines) {
    const path = /\(\d+<([^>]*)>/.exec(line)?.[1]?.split('/').at(-1) ?? '?';
    // One file per session: count them under one name.
    const file = path.replace(/^ses_[^.]+/, 'ses_*');
    byFile[file] = (byFile[file] ?? 0) + 1;
  }
  return { total: lines.length, byFile };
}

/**
 * The main thread's CPU time (µs) and voluntary context switches (the event loop going to
 * sleep: with sequential logins, mostly a wait for the SQLite thread's answer).
 */
function mainThread(pid: number): { cpuUs: number; waits: number } {
  const task = `/proc/${pid}/task/${pid}`;
  const waits = /^voluntary_ctxt_switches:\s*(\d+)/m.exec(readFileSync(`${task}/status`, 'utf8'));
  return {
    cpuUs: Number(readFileSync(`${task}/schedstat`, 'utf8').split(' ')[0]) / 1000,
    waits: Number(waits?.[1]),
  };
}

const report: Record<string, unknown> = {
  logins: LOGINS,
  burst: BURST,
  busy: BUSY,
  load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
};
for (const [name, login] of [
  ['ssh', sshLogin],
  ['postgres', pgLogin],
] as const) {
  for (let i = 0; i < 3; i++) await login(); // warm-up: lazy imports, JIT
  await sleep(1_500);
  const syncs = await countSyncs(gh.pid, async () => {
    for (let i = 0; i < LOGINS; i++) await login();
  });
  await sleep(1_500);
  const cpuBefore = cpuTimeUs(gh.pid);
  const mainBefore = mainThread(gh.pid);
  for (let i = 0; i < LOGINS; i++) await login();
  await sleep(1_500);
  const cpuMs = (cpuTimeUs(gh.pid) - cpuBefore) / 1000 / LOGINS;
  const mainAfter = mainThread(gh.pid);
  const busy = BUSY > 0 ? startBusyClients(BUSY) : undefined;
  if (busy !== undefined) await sleep(3_000); // their logins done, the loop busy
  const burstMainBefore = mainThread(gh.pid);
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < BURST) {
        next += 1;
        await login();
      }
    }),
  );
  const burstMs = performance.now() - started;
  const perSecond = BURST / (burstMs / 1000);
  const burstMainBusy = (mainThread(gh.pid).cpuUs - burstMainBefore.cpuUs) / 1000 / burstMs;
  await busy?.stop();
  report[name] = {
    syncsPerLogin: syncs.total / LOGINS,
    syncsByFile: syncs.byFile,
    cpuMsPerLogin: Number(cpuMs.toFixed(1)),
    mainCpuMsPerLogin: Number(((mainAfter.cpuUs - mainBefore.cpuUs) / 1000 / LOGINS).toFixed(1)),
    mainWaitsPerLogin: Number(((mainAfter.waits - mainBefore.waits) / LOGINS).toFixed(1)),
    loginsPerSecond8: Number(perSecond.toFixed(1)),
    /** Share of the burst's wall time the main thread was on a CPU (1: a saturated event loop). */
    burstMainBusy: Number(burstMainBusy.toFixed(2)),
  };
  progress(`${name}: ${JSON.stringify(report[name])}`);
}
process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
