import { parseArgs, type ParseArgsConfig } from 'node:util';

/** How much of each workload a mode runs. */
export interface BenchSizes {
  readonly mode: 'smoke' | 'quick' | 'full';
  /** Bytes of each bulk transfer, up and down. */
  readonly bulkBytes: number;
  /** Rounds of the A B A B alternation for bulk transfers. */
  readonly bulkRounds: number;
  /** `ssh … true` runs per path (one per round). */
  readonly connectRuns: number;
  /** Keystrokes per echo session, and sessions (rounds) per path. */
  readonly echoKeys: number;
  readonly echoRounds: number;
  /** Sequential `ssh … true` and scp copies per batch, and batches (rounds) per path. */
  readonly smallCount: number;
  readonly smallRounds: number;
  /** Concurrent idle sessions, one measurement per entry. */
  readonly idleSessions: readonly number[];
  /** Quiet time before reading a process's memory. */
  readonly settleMs: number;
  /** pgbench / sysbench client counts, seconds per run, and rounds. */
  readonly dbClients: readonly number[];
  readonly dbSeconds: number;
  readonly dbRounds: number;
  /** Concurrent idle database connections, one measurement per entry. */
  readonly dbIdle: readonly number[];
}

const MiB = 1024 * 1024;

const SIZES: Readonly<Record<BenchSizes['mode'], BenchSizes>> = {
  smoke: {
    mode: 'smoke',
    bulkBytes: 2 * MiB,
    bulkRounds: 1,
    connectRuns: 1,
    echoKeys: 5,
    echoRounds: 1,
    smallCount: 1,
    smallRounds: 1,
    idleSessions: [2],
    settleMs: 200,
    dbClients: [1],
    dbSeconds: 1,
    dbRounds: 1,
    dbIdle: [2],
  },
  quick: {
    mode: 'quick',
    bulkBytes: 64 * MiB,
    bulkRounds: 3,
    connectRuns: 10,
    echoKeys: 60,
    echoRounds: 2,
    smallCount: 10,
    smallRounds: 1,
    idleSessions: [30],
    settleMs: 1_000,
    dbClients: [8],
    // pgbench counts its clients' logins in the run: 2 s was not enough for 8 at load 20.
    dbSeconds: 5,
    dbRounds: 1,
    dbIdle: [30],
  },
  full: {
    mode: 'full',
    bulkBytes: 1024 * MiB,
    bulkRounds: 5,
    connectRuns: 30,
    echoKeys: 300,
    echoRounds: 3,
    smallCount: 100,
    smallRounds: 2,
    idleSessions: [200, 1000],
    settleMs: 2_000,
    dbClients: [1, 8, 32],
    dbSeconds: 10,
    dbRounds: 3,
    dbIdle: [200, 1000],
  },
};

/** Command-line options of `npm run bench`. */
export interface BenchOptions {
  readonly sizes: BenchSizes;
  /** Workload ids (or prefixes such as `ssh.`) to run; all when empty. */
  readonly only: readonly string[];
  /** Where the JSON results go. */
  readonly outPath: string;
  /** Run Gatehouse under `node --cpu-prof`, profiles written to this directory. */
  readonly cpuProfDir: string | undefined;
  /** Also run the Gatehouse paths with ssh2's write path as shipped (the patch switched off). */
  readonly withStock: boolean;
  /** Path ids to keep (all when empty), e.g. `direct,bare-relay,gatehouse-norec`. */
  readonly paths: readonly string[];
  /** What bulk transfers carry: incompressible bytes, or printable text lines (like logs). */
  readonly bulkData: 'random' | 'text';
  /** Another build of Gatehouse (a directory with bin/ and dist/) to run beside this one. */
  readonly baseDir: string | undefined;
  /** The middle process on a CPU of its own, the rest on the others (bench/lib/cpu-split.ts). */
  readonly splitCpus: boolean;
}

export const USAGE = `usage: npm run bench -- [--quick | --smoke] [--only ID[,ID…]] [--out FILE] [--no-stock | --stock] [--cpu-prof DIR] [--paths ID,…] [--rounds N] [--bulk-mib N] [--bulk-data random|text] [--db-clients N,…] [--db-seconds N] [--base DIR] [--split-cpus]

  (default)   full run: 1 GiB transfers, 30 connects, 200 and 1000 idle sessions, 1/8/32 DB clients (about an hour)
  --quick     two or three minutes: 64 MiB transfers, 10 connects, 30 idle sessions, 8 DB clients
  --smoke     a few seconds per workload, only to prove the harness runs (no meaningful numbers)
  --only      workload ids or prefixes, e.g. --only ssh.upload,ssh.download or --only ssh.
  --out       JSON results (default bench/results/latest.json; smoke: bench/results/smoke.json)
  --no-stock  skip the "stock ssh2" Gatehouse paths (ssh2's write path without patches/)
  --stock     run them in smoke mode too
  --cpu-prof  run Gatehouse under node --cpu-prof, writing .cpuprofile files to DIR
  --paths     only these paths, e.g. --paths direct,bare-relay,gatehouse-norec,gatehouse-stock-norec
  --rounds    rounds of every alternation (overrides the mode's)
  --bulk-mib  size of each bulk transfer in MiB (overrides the mode's)
  --bulk-data random (default: incompressible bytes) or text (printable lines, like logs)
  --db-clients database clients per run, e.g. 8,32 (overrides the mode's)
  --db-seconds length of each database run (overrides the mode's)
  --base      also run the Gatehouse built in DIR (bin/, dist/ and node_modules/ of the commit
              before a change): SSH paths gatehouse-base and gatehouse-base-norec, for a
              before/after comparison in the same run
  --split-cpus the process in the middle (Gatehouse, bare relay, pgbouncer) alone on the last
              CPU, clients and servers (ssh, sshd, pgbench, the databases) on the others,
              as if the bastion had a host of its own (default: all share every CPU)
`;

/** Parses `argv` (the arguments after the script). */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const { values, tokens } = parseOptions(argv, {
    quick: { type: 'boolean' },
    smoke: { type: 'boolean' },
    only: { type: 'string' },
    out: { type: 'string' },
    'no-stock': { type: 'boolean' },
    stock: { type: 'boolean' },
    'cpu-prof': { type: 'string' },
    paths: { type: 'string' },
    rounds: { type: 'string' },
    'bulk-mib': { type: 'string' },
    'bulk-data': { type: 'string' },
    'db-clients': { type: 'string' },
    'db-seconds': { type: 'string' },
    base: { type: 'string' },
    'split-cpus': { type: 'boolean' },
  });
  const mode: BenchSizes['mode'] =
    values.smoke === true ? 'smoke' : values.quick === true ? 'quick' : 'full';
  // --stock and --no-stock: the last one given counts.
  const stockFlag = tokens.findLast(
    (t) => t.kind === 'option' && (t.name === 'stock' || t.name === 'no-stock'),
  );
  const withStock = stockFlag?.kind === 'option' ? stockFlag.name === 'stock' : undefined;
  const rounds = optionalPositive('--rounds', values.rounds);
  const bulkMib = optionalPositive('--bulk-mib', values['bulk-mib']);
  const dbClients = values['db-clients']?.split(',').map((n) => positiveInteger('--db-clients', n));
  const dbSeconds = optionalPositive('--db-seconds', values['db-seconds']);
  const bulkData = values['bulk-data'] ?? 'random';
  if (bulkData !== 'random' && bulkData !== 'text')
    throw new Error(`--bulk-data takes random or text, not ${bulkData}`);
  const base = SIZES[mode];
  const sizes: BenchSizes = {
    ...base,
    ...(bulkMib === undefined ? {} : { bulkBytes: bulkMib * MiB }),
    ...(dbClients === undefined ? {} : { dbClients }),
    ...(dbSeconds === undefined ? {} : { dbSeconds }),
    ...(rounds === undefined
      ? {}
      : {
          bulkRounds: rounds,
          echoRounds: rounds,
          smallRounds: rounds,
          dbRounds: rounds,
          connectRuns: Math.max(rounds, base.connectRuns),
        }),
  };
  return {
    sizes,
    paths: idList(values.paths),
    bulkData,
    baseDir: values.base,
    splitCpus: values['split-cpus'] === true,
    only: idList(values.only),
    outPath:
      values.out ?? (mode === 'smoke' ? 'bench/results/smoke.json' : 'bench/results/latest.json'),
    cpuProfDir: values['cpu-prof'],
    // The stock-ssh2 Gatehouse is a second server to start: smoke runs leave it out unless asked.
    withStock: withStock ?? mode !== 'smoke',
  };
}

/** True when the workload (or group of workloads) `id` was asked for: one is a prefix of the other. */
export function isSelected(options: BenchOptions, id: string): boolean {
  return (
    options.only.length === 0 || options.only.some((o) => id.startsWith(o) || o.startsWith(id))
  );
}

/** Keeps the path ids the options allow, in their order. */
export function selectPaths(options: BenchOptions, ids: readonly string[]): string[] {
  return options.paths.length === 0 ? [...ids] : ids.filter((id) => options.paths.includes(id));
}

// node:util parseArgs over `argv`, every option in long form only; its errors carry the usage.
function parseOptions<T extends ParseArgsConfig['options']>(argv: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, tokens: true });
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`, {
      cause: err,
    });
  }
}

// A comma-separated list of ids, empty entries dropped; empty when not given.
function idList(text: string | undefined): string[] {
  return text === undefined ? [] : text.split(',').filter((s) => s !== '');
}

function optionalPositive(name: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : positiveInteger(name, text);
}

function positiveInteger(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`${name} takes a positive whole number, not ${text}`);
  return n;
}

/**
 * The value after `--name` among the arguments of a dev script run with `bench/launch.mjs`
 * (`process.argv.slice(3)`), or undefined when it is not given.
 */
export function scriptOption(
  name: string,
  args: readonly string[] = process.argv.slice(3),
): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}
