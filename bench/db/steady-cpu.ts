// Dev helper (not part of the bench run): CPU per transaction of the process in the middle, in
// steady state, on the world of bench/db/dev-world.ts. Runs pgbench -S (8 clients) or sysbench
// oltp_point_select (8 threads) through Gatehouse or the bare relay and reads the middle
// process's CPU (every thread, /proc/PID/task/*/schedstat) at each progress line; prints the
// CPU from the 3rd line to the last but one divided by the transactions reported meanwhile
// (logins left out). sysbench needs its table (`sysbench oltp_point_select … prepare` on the
// world's MariaDB account, --table-size=10000) and, for TLS, cacert.pem, client-cert.pem and
// client-key.pem in --sysbench-dir (see bench/db/mysql.ts).
// `node bench/launch.mjs bench/db/steady-cpu.ts pg-simple|pg-prepared|my gh|gh-plain|relay
//  [--seconds N] [--world FILE] [--sysbench-dir DIR]`; prints one JSON line.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { findPgBinDir } from '../../test/support/pg-cluster.js';
import { scriptOption } from '../lib/options.js';

interface World {
  readonly ghPid: number;
  readonly pgPort: number;
  readonly mysqlPort: number;
  readonly alice: { readonly name: string; readonly password: string };
  readonly leased: string;
  readonly myUser: string;
  readonly pgRelay: { readonly port: number; readonly pid: number };
  readonly myRelay: { readonly port: number; readonly pid: number };
}

const args = process.argv.slice(3);
const option = (name: string, fallback: string): string => scriptOption(name, args) ?? fallback;
const [kind = 'pg-simple', path = 'gh'] = args.filter(
  (a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'),
);
const seconds = option('--seconds', '12');
const world = JSON.parse(
  readFileSync(option('--world', '/tmp/dbperf/world.json'), 'utf8'),
) as World;
const isGatehouse = path.startsWith('gh');
const isPg = kind.startsWith('pg');
const pid = isGatehouse ? world.ghPid : isPg ? world.pgRelay.pid : world.myRelay.pid;

/** Nanoseconds on CPU of every thread of `pid` so far. */
function cpuNs(): number {
  let sum = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return sum;
}

const env: NodeJS.ProcessEnv = { ...process.env };
let command: string;
let commandArgs: string[];
let cwd: string | undefined;
if (isPg) {
  command = join(findPgBinDir(), 'pgbench');
  const mode = kind === 'pg-simple' ? 'simple' : 'prepared';
  commandArgs = ['-n', '-S', '-M', mode, '-c', '8', '-j', '2', '-T', seconds, '-P', '1', 'bench'];
  Object.assign(env, {
    PGHOST: '127.0.0.1',
    PGPORT: String(isGatehouse ? world.pgPort : world.pgRelay.port),
    PGUSER: isGatehouse ? `${world.alice.name}#bench-pg` : 'bench_leased',
    PGPASSWORD: isGatehouse ? world.alice.password : world.leased,
    PGSSLMODE: path === 'gh' ? 'require' : 'disable',
  });
} else {
  command = 'sysbench';
  cwd = option('--sysbench-dir', '/tmp/dbperf/sysbench');
  commandArgs = [
    'oltp_point_select',
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    `--mysql-port=${isGatehouse ? world.mysqlPort : world.myRelay.port}`,
    `--mysql-user=${isGatehouse ? `${world.alice.name}#bench-my` : world.myUser}`,
    // The world's throwaway passwords; a dev helper on this machine only.
    `--mysql-password=${isGatehouse ? world.alice.password : world.leased}`,
    `--mysql-db=${world.myUser}`,
    `--mysql-ssl=${isGatehouse ? 'on' : 'off'}`,
    '--tables=1',
    '--table-size=10000',
    '--threads=8',
    `--time=${seconds}`,
    '--report-interval=1',
    'run',
  ];
}

const child = spawn(command, commandArgs, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
const samples: { t: number; rate: number; cpu: number }[] = [];
const onLine = (line: string): void => {
  // pgbench: "progress: 3.0 s, 5123.4 tps, …"; sysbench: "[ 3s ] thds: 8 tps: … qps: 4000.0 …"
  const m =
    /progress: ([\d.]+) s, ([\d.]+) tps/.exec(line) ??
    /\[ (\d+)s \] thds: \d+ tps: [\d.]+ qps: ([\d.]+)/.exec(line);
  if (m !== null) samples.push({ t: Number(m[1]), rate: Number(m[2]), cpu: cpuNs() });
};
createInterface({ input: child.stdout }).on('line', onLine);
createInterface({ input: child.stderr }).on('line', onLine);
await new Promise((resolve) => child.on('exit', resolve));
const steady = samples.slice(2, -1);
const first = steady[0];
const last = steady.at(-1);
if (first === undefined || last === undefined || steady.length < 2) {
  process.stdout.write(`${JSON.stringify({ kind, path, error: 'too few progress lines' })}\n`);
  process.exit(1);
}
let transactions = 0;
for (let i = 1; i < steady.length; i++) {
  const now = steady[i];
  const before = steady[i - 1];
  if (now !== undefined && before !== undefined) transactions += now.rate * (now.t - before.t);
}
const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
process.stdout.write(
  `${JSON.stringify({
    kind,
    path,
    rate: Math.round(transactions / (last.t - first.t)),
    usPerTx: Number(((last.cpu - first.cpu) / 1000 / transactions).toFixed(1)),
    load,
  })}\n`,
);
