/** Command-line options of `npm run soak`. */
export interface SoakOptions {
  /** Concurrent SSH sessions (a few of them real OpenSSH clients). */
  readonly ssh: number;
  /** Concurrent database connections, half PostgreSQL, half MySQL (a few real psql/mariadb). */
  readonly db: number;
  /** Seconds of load once every session is open. */
  readonly durationS: number;
  /** Sessions opened at once while ramping up, per protocol. */
  readonly openConcurrency: number;
  /** Pause between two operations of one session (milliseconds). */
  readonly pauseMs: number;
  /** Quiet time after the last session closed, before memory is measured (milliseconds). */
  readonly settleMs: number;
  /** Where the JSON result goes (none: not written). */
  readonly outPath: string | undefined;
  /** Run Gatehouse under `node --cpu-prof`, writing its profile to this directory. */
  readonly cpuProfDir?: string | undefined;
}

/** The full soak of issue #8: 200 SSH sessions and 500 database connections for two minutes. */
export const DEFAULT_SOAK: SoakOptions = {
  ssh: 200,
  db: 500,
  durationS: 120,
  openConcurrency: 8,
  pauseMs: 100,
  settleMs: 10_000,
  outPath: 'soak/results/latest.json',
};

export const USAGE = `usage: npm run soak -- [--ssh N] [--db N] [--duration S] [--open-concurrency N] [--pause-ms MS] [--settle-ms MS] [--out FILE] [--cpu-prof DIR]

  --ssh N               concurrent SSH sessions (default 200; a few are real OpenSSH clients)
  --db N                concurrent database connections, half PostgreSQL, half MySQL (default 500)
  --duration S          seconds of load once all are open (default 120)
  --open-concurrency N  sessions opened at once while ramping up, per protocol (default 8)
  --pause-ms MS         pause between two operations of one session (default 100)
  --settle-ms MS        quiet time after closing, before memory is measured (default 10000)
  --out FILE            JSON results (default soak/results/latest.json)
  --cpu-prof DIR        run Gatehouse under node --cpu-prof, writing gatehouse.cpuprofile to DIR
`;

/** Parses `argv` (the arguments after the script). */
export function parseSoakOptions(argv: readonly string[]): SoakOptions {
  const options: { -readonly [K in keyof SoakOptions]: SoakOptions[K] } = { ...DEFAULT_SOAK };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return next;
    };
    if (arg === '--ssh') options.ssh = count(arg, value());
    else if (arg === '--db') options.db = count(arg, value());
    else if (arg === '--duration') options.durationS = count(arg, value());
    else if (arg === '--open-concurrency')
      options.openConcurrency = Math.max(1, count(arg, value()));
    else if (arg === '--pause-ms') options.pauseMs = count(arg, value());
    else if (arg === '--settle-ms') options.settleMs = count(arg, value());
    else if (arg === '--out') options.outPath = value();
    else if (arg === '--cpu-prof') options.cpuProfDir = value();
    else throw new Error(`unknown option ${String(arg)}\n${USAGE}`);
  }
  return options;
}

function count(name: string | undefined, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${String(name)} takes a whole number, not ${text}`);
  return n;
}
