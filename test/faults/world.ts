import mysql from 'mysql2/promise';
import pg from 'pg';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { tailAudit } from '../../src/audit/index.js';
import { openControlPlane, type ControlPlane } from '../../src/cli/context.js';
import { loadConfig } from '../../src/config/index.js';
import type { TargetOptions } from '../../src/core/types.js';
import { createLogger } from '../../src/log/index.js';
import { spawnSshPty, type PtySsh } from '../ssh/fixture.js';
import type { DbTargetSpec } from '../support/db-target.js';
import {
  startGatehouse,
  type GatehouseOptions,
  type RunningGatehouse,
} from '../support/gatehouse.js';
import { mariadbArgs } from '../support/mariadb-args.js';
import { pgConninfo } from '../support/pg-conninfo.js';
import { runProcess } from '../support/process.js';
import { createSshKeyPair, type SshKeyPair } from '../support/ssh-keys.js';
import { runSshClient, startSshd, type Sshd, type SshClientResult } from '../support/sshd.js';
import { TEST_PG_URL } from '../support/stores.js';

/** Alice's Gatehouse password (database logins). */
export const ALICE_PASSWORD = 'alice-faults-pw-1';

/** One row of `gatehouse sessions list --json`. */
export interface SessionRow {
  readonly sid: string;
  readonly user: string;
  readonly target: string;
  readonly kind: string;
  readonly status: string;
  readonly recordings: string[];
}

/** One audit event as `gatehouse audit tail --json` prints it. */
export interface AuditEvent {
  readonly seq: number;
  readonly type: string;
  readonly user: string | null;
  readonly sid: string | null;
  readonly target: string | null;
  readonly data: Record<string, unknown>;
}

/** What a command-line client printed. */
export interface ClientRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** An interactive shell on a target through Gatehouse (real `ssh -tt` in a pty). */
export interface PtyShell {
  readonly pty: PtySsh;
  /** Types `command` and Enter, and waits for `expected` in the output that follows. */
  run(command: string, expected: string | RegExp, timeoutMs?: number): Promise<void>;
  kill(): void;
}

/** A database target of the fault world: where it lives, the leased account, and its settings. */
export interface FaultDbTarget extends DbTargetSpec {
  readonly options?: Partial<TargetOptions>;
  /** Target labels, e.g. `{ connect_timeout: '3' }`. */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * Gatehouse in front of a real sshd with alice (key and password) and bob (key) granted `web-1`,
 * plus what fault tests need. Setup and checks go through a control plane opened in the test
 * process on the same store (what a `gatehouse` CLI process does, without one process per step:
 * the machine is loaded); clients are the real ones.
 */
export interface FaultWorld extends AsyncDisposable {
  readonly gatehouse: RunningGatehouse;
  readonly sshd: Sshd;
  readonly cp: ControlPlane;
  readonly alice: SshKeyPair;
  readonly bob: SshKeyPair;
  /** Runs the real `ssh` client through Gatehouse (as alice unless `key` is bob's). */
  ssh(
    command: string,
    options?: {
      readonly key?: SshKeyPair;
      readonly timeoutMs?: number;
      /** Client options (`-o`) over the defaults, e.g. `{ LogLevel: 'INFO' }` to see banners. */
      readonly sshOptions?: Readonly<Record<string, string>>;
    },
  ): Promise<SshClientResult>;
  /** Starts `ssh -tt alice@gatehouse ARGS…` in a pty. */
  sshPty(args: readonly string[], options?: { readonly key?: SshKeyPair }): PtySsh;
  /** Opens a shell on `target` (as alice, or the owner of `key`) and waits until it answers. */
  shell(target: string, options?: { readonly key?: SshKeyPair }): Promise<PtyShell>;
  /** Adds a database target with its leased password and grants it to alice and bob. */
  addDbTarget(name: string, spec: FaultDbTarget): Promise<void>;
  /**
   * Adds an SSH target on `sshd` (default the world's; key generated, host key pinned), granted
   * to alice and bob. `at` puts it at another address (a blackhole) with `sshd`'s host key.
   */
  addSshTarget(
    name: string,
    options?: Partial<TargetOptions>,
    sshd?: Sshd,
    at?: { readonly port: number; readonly labels?: Readonly<Record<string, string>> },
  ): Promise<void>;
  /** Starts another sshd (disposed with the world) and adds it as SSH target `name`. */
  startSshTarget(name: string): Promise<Sshd>;
  /** The sessions table (what `gatehouse sessions list` prints), newest first. */
  sessions(): Promise<SessionRow[]>;
  /** The sid of the active session on `target` (of `user` if given), once it is listed. */
  liveSid(target: string, user?: string): Promise<string>;
  /** The last `lines` audit events, oldest first. */
  audit(lines?: number): Promise<AuditEvent[]>;
  /** `gatehouse audit verify` (the real CLI). */
  verify(): Promise<ClientRun>;
  /** A pg Client through Gatehouse as `alice#target` (TLS, checked against the init CA). */
  pgClient(target: string): pg.Client;
  /** A mysql2 connection through Gatehouse as `alice#target`. */
  mysqlConnect(target: string): Promise<mysql.Connection>;
  /** `psql` through Gatehouse as `alice#target`. */
  psql(target: string, args: readonly string[], input?: string): Promise<ClientRun>;
  /** The `mariadb` client through Gatehouse as `alice#target`. */
  mariadb(target: string, args: readonly string[], input?: string): Promise<ClientRun>;
}

/**
 * The machine's PostgreSQL (`TEST_PG_URL`) as a database target. It trusts local logins: the
 * leased password is not checked there.
 */
export function machinePostgresTarget(): FaultDbTarget {
  const url = new URL(TEST_PG_URL);
  return {
    kind: 'postgres',
    host: url.hostname,
    port: Number(url.port === '' ? '5432' : url.port),
    username: decodeURIComponent(url.username),
    password: 'unused-with-trust-1',
    database: 'postgres',
  };
}

const BY = { actor: 'fault-test' };

/** Starts the fault world; `gatehouse` options reach `startGatehouse` (store, recordings disk). */
export async function startFaultWorld(
  options: { readonly gatehouse?: GatehouseOptions } = {},
): Promise<FaultWorld> {
  const disposers: (() => Promise<void>)[] = [];
  const disposeAll = async (): Promise<void> => {
    for (const dispose of disposers.reverse()) await dispose().catch(() => undefined);
  };
  try {
    const [sshd, gatehouse, alice, bob] = await Promise.all([
      startSshd(),
      startGatehouse(options.gatehouse),
      createSshKeyPair({ type: 'ed25519', comment: 'alice@laptop' }),
      createSshKeyPair({ type: 'ed25519', comment: 'bob@laptop' }),
    ]);
    disposers.push(
      async () => await sshd[Symbol.asyncDispose](),
      async () => await gatehouse[Symbol.asyncDispose](),
      async () => await alice[Symbol.asyncDispose](),
      async () => await bob[Symbol.asyncDispose](),
    );
    const cp = await openControlPlane(loadConfig(gatehouse.configPath), {
      logger: createLogger({ level: 'silent' }),
    });
    disposers.push(() => cp.close());
    await cp.users.add('alice', { ...BY, password: ALICE_PASSWORD, sshKeys: [alice.publicLine] });
    await cp.users.add('bob', { ...BY, sshKeys: [bob.publicLine] });
    const grantBoth = async (name: string): Promise<void> => {
      for (const user of ['alice', 'bob'])
        await cp.grants.create(
          {
            subject: { kind: 'user', name: user },
            scope: { kind: 'target', name },
            durationMs: 3_600_000,
          },
          BY,
        );
    };
    const addSshTarget = async (
      name: string,
      targetOptions: Partial<TargetOptions> = {},
      on: Sshd = sshd,
      at?: { readonly port: number; readonly labels?: Readonly<Record<string, string>> },
    ): Promise<void> => {
      await cp.targets.add(
        {
          name,
          kind: 'ssh',
          host: on.host,
          port: at?.port ?? on.port,
          username: on.account,
          options: targetOptions,
          ...(at?.labels === undefined ? {} : { labels: at.labels }),
        },
        BY,
      );
      on.authorizeKey(await cp.credentials.generateSshKey(name, BY));
      await cp.targets.pinHostKey(name, on.hostKeyLine, {
        ...BY,
        fingerprint: on.hostKeyFingerprint,
      });
      await grantBoth(name);
    };
    await addSshTarget('web-1');
    const startSshTarget = async (name: string): Promise<Sshd> => {
      const other = await startSshd();
      disposers.push(async () => await other[Symbol.asyncDispose]());
      await addSshTarget(name, {}, other);
      return other;
    };
    const caPath = join(gatehouse.dir, 'tls', 'ca.crt');
    const caPem = readFileSync(caPath, 'utf8');
    // 30 s to connect (the clients' default is 10 s): fault tests load the machine.
    const connectOptions = { ConnectTimeout: '30' };
    // The database each target serves: clients must ask for it.
    const databases = new Map<string, string>();
    const ptys = new Set<PtySsh>();
    disposers.push(() => {
      for (const pty of ptys) pty.kill();
      return Promise.resolve();
    });
    const sessions = async (): Promise<SessionRow[]> =>
      (
        await cp.store.db.selectFrom('sessions').selectAll().orderBy('started_at', 'desc').execute()
      ).map((s) => ({
        sid: s.sid,
        user: s.user_name,
        target: s.target,
        kind: s.kind,
        status: s.status,
        recordings: s.recording === null ? [] : (JSON.parse(s.recording) as string[]),
      }));
    const loginOf = (key: SshKeyPair | undefined): string => (key === bob ? 'bob' : 'alice');
    const sshPty = (args: readonly string[], o: { readonly key?: SshKeyPair } = {}): PtySsh => {
      const client = spawnSshPty(args, {
        port: gatehouse.sshPort,
        login: loginOf(o.key),
        identityPath: (o.key ?? alice).privatePath,
        sshOptions: connectOptions,
        cols: 100,
        rows: 30,
      });
      ptys.add(client);
      void client.exited.then(() => ptys.delete(client));
      return client;
    };
    return {
      gatehouse,
      sshd,
      cp,
      alice,
      bob,
      ssh: (command, o = {}) =>
        runSshClient({
          host: '127.0.0.1',
          port: gatehouse.sshPort,
          user: loginOf(o.key),
          identityPath: (o.key ?? alice).privatePath,
          command,
          sshOptions: { ...connectOptions, ...o.sshOptions },
          timeoutMs: o.timeoutMs ?? 60_000,
        }),
      sshPty,
      shell: async (target, o = {}) => {
        const pty = sshPty([target], o);
        const run = async (
          command: string,
          expected: string | RegExp,
          timeoutMs = 30_000,
        ): Promise<void> => {
          const from = pty.output().length;
          pty.write(`${command}\r`);
          await pty.waitFor(expected, { from, timeoutMs });
        };
        try {
          // The computed answer appears only when the shell ran the line, not in its echo.
          await run('echo shell-ready-$((20+22))', 'shell-ready-42', 60_000);
        } catch (err) {
          pty.kill();
          throw err;
        }
        return { pty, run, kill: () => pty.kill() };
      },
      addDbTarget: async (name, spec) => {
        await cp.targets.add(
          {
            name,
            kind: spec.kind,
            host: spec.host,
            port: spec.port,
            username: spec.username,
            database: spec.database,
            ...(spec.options === undefined ? {} : { options: spec.options }),
            ...(spec.labels === undefined ? {} : { labels: spec.labels }),
          },
          BY,
        );
        databases.set(name, spec.database);
        await cp.credentials.set(
          name,
          { kind: 'password', password: Buffer.from(spec.password) },
          BY,
        );
        await grantBoth(name);
      },
      addSshTarget,
      startSshTarget,
      sessions,
      liveSid: async (target, user) =>
        (
          await eventually(async () =>
            (await sessions()).find(
              (s) =>
                s.target === target &&
                (user === undefined || s.user === user) &&
                s.status === 'active',
            ),
          )
        ).sid,
      audit: async (lines = 5000) =>
        (await tailAudit(cp.store.db, { limit: lines })).map((e) => ({
          seq: e.seq,
          type: e.type,
          user: e.user,
          sid: e.sid,
          target: e.target,
          data: { ...e.data },
        })),
      verify: () => gatehouse.tryCli(['audit', 'verify']),
      pgClient: (target) =>
        new pg.Client({
          host: '127.0.0.1',
          port: gatehouse.pgPort,
          user: `alice#${target}`,
          password: ALICE_PASSWORD,
          database: databases.get(target) ?? 'app',
          ssl: { ca: caPem },
          connectionTimeoutMillis: 30_000,
        }),
      mysqlConnect: (target) =>
        mysql.createConnection({
          host: '127.0.0.1',
          port: gatehouse.mysqlPort,
          user: `alice#${target}`,
          password: ALICE_PASSWORD,
          ssl: { ca: caPem },
          connectTimeout: 30_000,
        }),
      psql: (target, args, input) =>
        runClient(
          'psql',
          [
            '-X',
            '-v',
            'ON_ERROR_STOP=1',
            pgConninfo({
              port: gatehouse.pgPort,
              login: `alice#${target}`,
              dbname: databases.get(target) ?? 'app',
              caPath,
            }),
            ...args,
          ],
          { env: { PGPASSWORD: ALICE_PASSWORD, PGconnectOptions: '30' }, input },
        ),
      mariadb: (target, args, input) =>
        runClient(
          'mariadb',
          [
            ...mariadbArgs({ port: gatehouse.mysqlPort, login: `alice#${target}`, caPath }),
            ...args,
          ],
          { env: { MYSQL_PWD: ALICE_PASSWORD }, input },
        ),
      [Symbol.asyncDispose]: disposeAll,
    };
  } catch (err) {
    await disposeAll();
    throw err;
  }
}

/** Runs a client program, feeding `input`; kills it after 60 s. */
export function runClient(
  file: string,
  args: readonly string[],
  options: { readonly env?: Record<string, string>; readonly input?: string | undefined } = {},
): Promise<ClientRun> {
  return runProcess(file, args, { ...options, timeoutMs: 60_000 });
}

/** Polls `probe` every 200 ms until it returns something other than undefined. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: { readonly timeoutMs?: number; readonly what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${options.what ?? 'a condition'}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The events of one session, in chain order. */
export function eventsOf(events: readonly AuditEvent[], sid: string): AuditEvent[] {
  return events.filter((e) => e.sid === sid);
}

/**
 * Checks the record a session left: ended with `status` (once), every lease it took released,
 * nothing after `session.end`. Returns the `session.end` event.
 */
export function expectClosedRecord(
  events: readonly AuditEvent[],
  sid: string,
  status: string,
): AuditEvent {
  const mine = eventsOf(events, sid);
  const ends = mine.filter((e) => e.type === 'session.end');
  if (ends.length !== 1) throw new Error(`session ${sid}: ${ends.length} session.end events`);
  const end = ends[0] as AuditEvent;
  if (end.data['status'] !== status)
    throw new Error(`session ${sid} ended ${String(end.data['status'])}, expected ${status}`);
  const unlocks = mine.filter((e) => e.type === 'credential.unlock').length;
  const releases = mine.filter((e) => e.type === 'lease.release').length;
  if (unlocks !== releases)
    throw new Error(`session ${sid}: ${unlocks} unlocks but ${releases} lease releases`);
  if (mine.at(-1) !== end) throw new Error(`session ${sid}: events after session.end`);
  return end;
}

/**
 * Waits for the session's `session.end` (the row's status changes a moment before it is
 * appended), then checks its record with {@link expectClosedRecord}.
 */
export async function waitClosedRecord(
  world: Pick<FaultWorld, 'audit'>,
  sid: string,
  status: string,
): Promise<AuditEvent> {
  const events = await eventually(async () => {
    const all = await world.audit();
    return all.some((e) => e.sid === sid && e.type === 'session.end') ? all : undefined;
  });
  return expectClosedRecord(events, sid, status);
}

/**
 * Checks the `count` sessions on `target`: `failed` in the list, ended for an unreachable
 * target, and closed in the chain with the lease they took released.
 */
export async function expectFailedSessions(
  world: Pick<FaultWorld, 'sessions' | 'audit'>,
  target: string,
  count = 1,
): Promise<void> {
  // The client hears first; the session's end is written right after.
  const rows = await eventually(async () => {
    const mine = (await world.sessions()).filter((s) => s.target === target);
    return mine.length === count && mine.every((s) => s.status !== 'active') ? mine : undefined;
  });
  for (const row of rows) {
    expect(row.status).toBe('failed');
    const end = await waitClosedRecord(world, row.sid, 'failed');
    expect(end.data['reason']).toBe('GH_UPSTREAM_UNREACHABLE');
    const events = await world.audit();
    expect(events.some((e) => e.sid === row.sid && e.type === 'credential.unlock')).toBe(true);
  }
}
