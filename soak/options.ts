import { parseArgs } from 'node:util';

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
  const values = parseOrExplain(argv);
  const whole = (name: keyof typeof values, fallback: number): number => {
    const text = values[name];
    return text === undefined ? fallback : count(`--${name}`, text);
  };
  return {
    ...DEFAULT_SOAK,
    ssh: whole('ssh', DEFAULT_SOAK.ssh),
    db: whole('db', DEFAULT_SOAK.db),
    durationS: whole('duration', DEFAULT_SOAK.durationS),
    openConcurrency:
      values['open-concurrency'] === undefined
        ? DEFAULT_SOAK.openConcurrency
        : Math.max(1, count('--open-concurrency', values['open-concurrency'])),
    pauseMs: whole('pause-ms', DEFAULT_SOAK.pauseMs),
    settleMs: whole('settle-ms', DEFAULT_SOAK.settleMs),
    outPath: values.out ?? DEFAULT_SOAK.outPath,
    ...(values['cpu-prof'] === undefined ? {} : { cpuProfDir: values['cpu-prof'] }),
  };
}

// node:util parseArgs over `argv`; its errors carry the usage.
function parseOrExplain(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        ssh: { type: 'string' },
        db: { type: 'string' },
        duration: { type: 'string' },
        'open-concurrency': { type: 'string' },
        'pause-ms': { type: 'string' },
        'settle-ms': { type: 'string' },
        out: { type: 'string' },
        'cpu-prof': { type: 'string' },
      },
      strict: true,
    }).values;
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`, {
      cause: err,
    });
  }
}

function count(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} takes a whole number, not ${text}`);
  return n;
}
