import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { expect } from 'vitest';
import { openControlPlane, type ControlPlane } from '../../src/cli/context.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { runProcess } from '../postgres/fixture.js';
import { createSshKeyPair, type SshKeyPair } from '../support/ssh-keys.js';
import { runSsh, startSshWorld, waitUntil, type AuditLine, type SshWorld } from '../ssh/fixture.js';

/**
 * The SSH half of the authorization sweep (issue #8): every channel and request type a client
 * can send, each as one {@link SshColumn}, run against a real `gatehouse serve` in front of a
 * real sshd. The target (`web-1`) allows port forwarding, so the forwarding columns have a
 * positive control too; what is refused by design even then is marked so.
 */

/** The one target every column aims at. */
export const TARGET = 'web-1';

/** What one attempt achieved. */
export interface Attempt {
  /** The client got what it asked for on the target (a marker came back, a forward opened). */
  readonly isGranted: boolean;
  /** What the client saw, for failure messages. */
  readonly detail: string;
}

/** An audit event the attempt must leave, as a partial match. */
export interface ExpectedEvent {
  readonly type: string;
  readonly user?: string;
  readonly target?: string | null;
  readonly data?: Record<string, unknown>;
}

/** One channel or request type. */
export interface SshColumn {
  readonly name: string;
  /** The real client used: `openssh` where it can say it, `ssh2` for what it cannot send on demand. */
  readonly client: 'openssh' | 'ssh2';
  /** Refused even with a valid grant (streamlocal): the positive control expects a refusal too. */
  readonly isRefusedByDesign?: boolean;
  /**
   * Events a logged-in user without access leaves (`reason` is the row's access-denial reason).
   * Requests refused by design (x11, agent) are audited for granted users as well.
   */
  deniedEvents(user: string, reason: string): ExpectedEvent[];
  /** Events refused by design that even a granted user leaves. */
  byDesignEvents?(user: string): ExpectedEvent[];
  run(sweep: SshSweep, user: SweepUser): Promise<Attempt>;
}

/** A person in one row of the sweep. */
export interface SweepUser {
  readonly name: string;
  readonly key: SshKeyPair;
  /** `ssh -F` config: this user's key on every hop (the -J jump too), no known_hosts, no agent. */
  readonly configPath: string;
}

/** The world of one sweep file: Gatehouse, sshd, an echo server the forwards aim at, an agent. */
export interface SshSweep extends AsyncDisposable {
  readonly world: SshWorld;
  /**
   * The control plane of the running setup, opened in the test process on the same store (as a
   * second `gatehouse` CLI would): users, grants, revocations without a CLI process each.
   */
  readonly cp: ControlPlane;
  /** Grants `user` the target for `durationMs`; returns the grant id and its end. */
  grant(user: string, durationMs: number): Promise<{ id: string; expiresAt: number }>;
  readonly echoPort: number;
  /** TCP connections the echo server accepted so far (a forward that reached it). */
  echoConnections(): number;
  readonly agentSocket: string;
  /** Adds a user with an ed25519 key (and a password when given). */
  addUser(name: string, options?: { password?: string }): Promise<SweepUser>;
  lastSeq(): number;
  /** `ssh -F user-config -p bastion-port ARGS…`. */
  openssh(
    user: SweepUser,
    args: readonly string[],
    options?: { input?: string; env?: Record<string, string> },
  ): ReturnType<typeof runSsh>;
  /** Connects the ssh2 client as `login` with the user's key; undefined if the login is refused. */
  ssh2Connect(user: SweepUser, login: string): Promise<ssh2.Client | undefined>;
}

/** Starts the sweep's world: `web-1` allows port forwarding and its sshd accepts LC_GATEHOUSE. */
export async function startSshSweep(): Promise<SshSweep> {
  const world = await startSshWorld({
    grant: false,
    targetFlags: ['--allow-port-forwarding'],
    sshd: { extraConfig: { AcceptEnv: 'LC_GATEHOUSE' } },
  });
  const tmp = mkdtempSync(join(tmpdir(), 'gh-sweep-'));
  let connections = 0;
  const echo: Server = createServer((socket) => {
    connections += 1;
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const address = echo.address();
  const echoPort = typeof address === 'object' && address !== null ? address.port : 0;
  const agentSocket = join(tmp, 'agent.sock');
  const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
  await waitUntil(() => (existsSync(agentSocket) ? true : undefined), {
    what: 'the ssh-agent socket',
  });
  const cp = await openControlPlane(loadConfig(world.gatehouse.configPath), {
    logger: createLogger({ level: 'silent' }),
  });
  const by = { actor: 'sweep' };
  const keys: SshKeyPair[] = [];
  const sweep: SshSweep = {
    world,
    cp,
    grant: async (user, durationMs) => {
      const created = await cp.grants.create(
        {
          subject: { kind: 'user', name: user },
          scope: { kind: 'target', name: TARGET },
          durationMs,
        },
        by,
      );
      return { id: created.id, expiresAt: created.expiresAt ?? Number.POSITIVE_INFINITY };
    },
    echoPort,
    echoConnections: () => connections,
    agentSocket,
    addUser: async (name, options = {}) => {
      const key = await createSshKeyPair({ comment: `${name}@laptop` });
      keys.push(key);
      await cp.users.add(name, {
        ...by,
        ...(options.password === undefined ? {} : { password: options.password }),
      });
      await cp.users.addKey(name, key.publicLine.trim(), by);
      const configPath = join(tmp, `ssh_config-${name}`);
      // A long connect timeout: the -J inner handshake is slow on a loaded machine.
      const clientOptions = { ...world.clientOptions(key), ConnectTimeout: '60' };
      writeFileSync(
        configPath,
        `Host *\n${Object.entries(clientOptions)
          .map(([k, v]) => `  ${k} ${v}\n`)
          .join('')}`,
      );
      return { name, key, configPath };
    },
    lastSeq: () => world.auditAfter(0).at(-1)?.seq ?? 0,
    openssh: (user, args, options = {}) =>
      runSsh(['-F', user.configPath, '-p', String(world.gatehouse.sshPort), ...args], {
        ...options,
        timeoutMs: 30_000,
      }),
    ssh2Connect: (user, login) =>
      new Promise((resolve) => {
        const client = new ssh2.Client();
        let isReady = false;
        client.on('ready', () => {
          isReady = true;
          resolve(client);
        });
        client.on('error', () => undefined);
        client.on('close', () => {
          if (!isReady) resolve(undefined);
        });
        client.connect({
          host: '127.0.0.1',
          port: world.gatehouse.sshPort,
          username: login,
          privateKey: user.key.privateKey,
          readyTimeout: 60_000,
          // Gatehouse is not OpenSSH by its banner; send the openssh extensions anyway.
          strictVendor: false,
        });
      }),
    [Symbol.asyncDispose]: async () => {
      await cp.close();
      agent.kill();
      echo.close();
      for (const key of keys) key.remove();
      rmSync(tmp, { recursive: true, force: true });
      await world[Symbol.asyncDispose]();
    },
  };
  return sweep;
}

const mark = (what: string): string => `${what}-${randomBytes(4).toString('hex')}`;

const accessDenied = (user: string, reason: string): ExpectedEvent => ({
  type: 'access.denied',
  user,
  target: TARGET,
  data: { reason, via: 'ssh' },
});
const requestDenied = (
  user: string,
  request: string,
  data: Record<string, unknown> = {},
): ExpectedEvent => ({ type: 'ssh.request_denied', user, data: { request, ...data } });

/** Execs `command` with a pty; `onOutput` sees everything so far and may act on the channel. */
function execCollect(
  client: ssh2.Client,
  command: string,
  onOutput: (text: string, stream: ssh2.ClientChannel) => void,
): Promise<string> {
  return new Promise((resolve) => {
    client.exec(command, { pty: { rows: 24, cols: 80, term: 'xterm' } }, (err, stream) => {
      if (err !== undefined) return resolve(`exec refused: ${err.message}`);
      let text = '';
      const timer = setTimeout(() => stream.close(), 20_000);
      const onData = (chunk: Buffer): void => {
        text += chunk.toString();
        onOutput(text, stream);
      };
      stream.on('data', onData);
      stream.stderr.on('data', onData);
      stream.on('close', () => {
        clearTimeout(timer);
        resolve(text);
      });
    });
  });
}

function fromRun(
  run: { stdout: string; stderr: string; code: number | null },
  isGranted: boolean,
): Attempt {
  return {
    isGranted,
    detail: `exit ${run.code}; stdout ${JSON.stringify(run.stdout.slice(0, 300))}; stderr ${JSON.stringify(run.stderr.slice(0, 300))}`,
  };
}

/** What an OpenSSH column says: its `ssh` arguments and how to tell it got through. */
interface OpensshColumnSpec {
  /** Names this attempt's marker (the unique text the target must send back). */
  readonly tag: string;
  /** `ssh` arguments after `-F <user config> -p <bastion port>`; `m` is the marker. */
  args(user: SweepUser, m: string, sweep: SshSweep): string[];
  /** What the client types, given the marker. */
  readonly input?: (m: string) => string;
  readonly env?: Record<string, string>;
  /** Granted when this holds of what the client printed; by default, the marker came back. */
  readonly isGranted?: (stdout: string, m: string) => boolean;
  /** By default the access denial alone. */
  readonly deniedEvents?: SshColumn['deniedEvents'];
  readonly byDesignEvents?: SshColumn['byDesignEvents'];
}

/** A column run with the real `ssh` client ({@link SshSweep.openssh}). */
function opensshColumn(name: string, spec: OpensshColumnSpec): SshColumn {
  const isGranted = spec.isGranted ?? ((stdout, m) => stdout.includes(m));
  return {
    name,
    client: 'openssh',
    deniedEvents: spec.deniedEvents ?? ((u, r) => [accessDenied(u, r)]),
    ...(spec.byDesignEvents === undefined ? {} : { byDesignEvents: spec.byDesignEvents }),
    run: async (s, u) => {
      const m = mark(spec.tag);
      const run = await s.openssh(u, spec.args(u, m, s), {
        ...(spec.input === undefined ? {} : { input: spec.input(m) }),
        ...(spec.env === undefined ? {} : { env: spec.env }),
      });
      return fromRun(run, isGranted(run.stdout, m));
    },
  };
}

/** What an ssh2 column says: how it logs in and what it asks for once in. */
interface Ssh2ColumnSpec {
  /** `user`: the target goes in the command; `user+target`: the login names it. */
  readonly login: 'user' | 'user+target';
  /** Asks for the channel or request on the logged-in connection. */
  work(client: ssh2.Client, sweep: SshSweep): Promise<Attempt>;
  /** Refused even with a valid grant; the event its refusal leaves, granted or not. */
  readonly refusedByDesign?: (user: string) => ExpectedEvent;
}

/** A column run with the ssh2 client; a refused login is an attempt that got nothing. */
function ssh2Column(name: string, spec: Ssh2ColumnSpec): SshColumn {
  const { refusedByDesign } = spec;
  return {
    name,
    client: 'ssh2',
    ...(refusedByDesign === undefined
      ? { deniedEvents: (u: string, r: string) => [accessDenied(u, r)] }
      : {
          isRefusedByDesign: true,
          deniedEvents: (u: string) => [refusedByDesign(u)],
          byDesignEvents: (u: string) => [refusedByDesign(u)],
        }),
    run: async (s, u) => {
      const login = spec.login === 'user' ? u.name : `${u.name}+${TARGET}`;
      const client = await s.ssh2Connect(u, login);
      if (client === undefined) return { isGranted: false, detail: 'login refused' };
      try {
        return await spec.work(client, s);
      } finally {
        client.end();
      }
    },
  };
}

/** Every SSH channel and request type (RFC 4254 and the OpenSSH extensions), one column each. */
export const SSH_COLUMNS: readonly SshColumn[] = [
  opensshColumn('shell (no pty)', {
    tag: 'shell',
    args: (u) => ['-T', `${u.name}+${TARGET}@127.0.0.1`],
    input: (m) => `echo ${m}\nexit\n`,
  }),
  opensshColumn('exec (target in the command)', {
    tag: 'exec',
    args: (u, m) => [`${u.name}@127.0.0.1`, `${TARGET} echo ${m}`],
  }),
  opensshColumn('exec (target in the login)', {
    tag: 'exec-login',
    args: (u, m) => [`${u.name}+${TARGET}@127.0.0.1`, `echo ${m}`],
  }),
  opensshColumn('pty-req + exec', {
    tag: 'pty',
    args: (u, m) => ['-tt', `${u.name}@127.0.0.1`, `${TARGET} tty; echo ${m}`],
    isGranted: (out, m) => out.includes(m) && out.includes('/dev/pts/'),
  }),
  opensshColumn('env + exec', {
    tag: 'env',
    args: (u, m) => [
      '-o',
      `SetEnv=LC_GATEHOUSE=${m}`,
      `${u.name}@127.0.0.1`,
      `${TARGET} echo "[$LC_GATEHOUSE]"`,
    ],
    isGranted: (out, m) => out.includes(`[${m}]`),
  }),
  {
    name: 'subsystem sftp',
    client: 'openssh',
    deniedEvents: (u, r) => [accessDenied(u, r)],
    run: async (s, u) => {
      const run = await runProcess(
        'sftp',
        [
          '-F',
          u.configPath,
          '-P',
          String(s.world.gatehouse.sshPort),
          '-b',
          '-',
          `${u.name}+${TARGET}@127.0.0.1`,
        ],
        { input: 'pwd\n', timeoutMs: 30_000 },
      );
      return fromRun(run, run.stdout.includes('Remote working directory: /'));
    },
  },
  ssh2Column('window-change', {
    login: 'user',
    work: async (client) => {
      let isResized = false;
      const text = await execCollect(
        client,
        `${TARGET} for i in 1 2 3 4 5 6 7 8 9 10; do stty size; sleep 0.3; done`,
        (_t, stream) => {
          if (isResized) return;
          isResized = true;
          stream.setWindow(41, 101, 0, 0);
        },
      );
      return { isGranted: text.includes('41 101'), detail: text.slice(0, 300) };
    },
  }),
  ssh2Column('signal', {
    login: 'user',
    work: async (client) => {
      const m = mark('signal');
      let isSent = false;
      const text = await execCollect(
        client,
        `${TARGET} trap 'echo got-${m}; exit 3' TERM; echo ready; while :; do sleep 0.1; done`,
        (t, stream) => {
          if (isSent || !t.includes('ready')) return;
          isSent = true;
          stream.signal('TERM');
        },
      );
      return { isGranted: text.includes(`got-${m}`), detail: text.slice(0, 300) };
    },
  }),
  opensshColumn('direct-tcpip (ssh -W)', {
    tag: 'forward',
    args: (u, _m, s) => ['-W', `127.0.0.1:${s.echoPort}`, `${u.name}+${TARGET}@127.0.0.1`],
    input: (m) => `${m}\n`,
    isGranted: (out, m) => out === `${m}\n`,
  }),
  ssh2Column('direct-tcpip (ssh2 forwardOut, as -L)', {
    login: 'user+target',
    work: (client, s) =>
      new Promise((resolve) => {
        const m = mark('forward-out');
        client.forwardOut('127.0.0.1', 40000, '127.0.0.1', s.echoPort, (err, stream) => {
          if (err !== undefined) return resolve({ isGranted: false, detail: err.message });
          let back = '';
          stream.on('data', (chunk: Buffer) => {
            back += chunk.toString();
            if (back.includes(m)) stream.end();
          });
          stream.on('close', () => resolve({ isGranted: back.includes(m), detail: back }));
          stream.write(m);
        });
      }),
  }),
  opensshColumn('tcpip-forward (ssh -R)', {
    tag: 'remote',
    args: (u, m, s) => [
      '-o',
      'ExitOnForwardFailure=yes',
      '-R',
      `0:127.0.0.1:${s.echoPort}`,
      `${u.name}+${TARGET}@127.0.0.1`,
      `echo ${m}`,
    ],
  }),
  ssh2Column('tcpip-forward + cancel-tcpip-forward', {
    login: 'user+target',
    work: (client) =>
      new Promise((resolve) => {
        client.forwardIn('127.0.0.1', 0, (err, port) => {
          if (err !== undefined) {
            // Nothing is bound, so there is nothing to cancel either.
            client.unforwardIn('127.0.0.1', 40001, (cancelErr) =>
              resolve({
                isGranted: cancelErr === undefined,
                detail: `forward: ${err.message}`,
              }),
            );
            return;
          }
          client.unforwardIn('127.0.0.1', port, (cancelErr) =>
            resolve({
              isGranted: cancelErr === undefined,
              detail: `cancel: ${cancelErr?.message ?? 'ok'}`,
            }),
          );
        });
      }),
  }),
  ssh2Column('direct-streamlocal@openssh.com', {
    login: 'user+target',
    refusedByDesign: (u) => requestDenied(u, 'direct-streamlocal@openssh.com'),
    work: (client, s) =>
      new Promise((resolve) => {
        client.openssh_forwardOutStreamLocal(s.agentSocket, (err) =>
          resolve({ isGranted: err === undefined, detail: err?.message ?? 'opened' }),
        );
      }),
  }),
  ssh2Column('streamlocal-forward@openssh.com', {
    login: 'user+target',
    refusedByDesign: (u) =>
      requestDenied(u, 'streamlocal-forward@openssh.com', { reason: 'unsupported' }),
    work: (client) =>
      new Promise((resolve) => {
        client.openssh_forwardInStreamLocal(
          `/tmp/gh-sweep-${randomBytes(4).toString('hex')}.sock`,
          (err) => resolve({ isGranted: err === undefined, detail: err?.message ?? 'bound' }),
        );
      }),
  }),
  opensshColumn('x11-req + exec', {
    tag: 'x11',
    args: (u, m) => [
      '-o',
      'ForwardX11=yes',
      '-o',
      'ForwardX11Trusted=yes',
      `${u.name}@127.0.0.1`,
      `${TARGET} echo ${m}`,
    ],
    env: { DISPLAY: ':99' },
    deniedEvents: (u, r) => [requestDenied(u, 'x11-req'), accessDenied(u, r)],
    byDesignEvents: (u) => [requestDenied(u, 'x11-req')],
  }),
  opensshColumn('auth-agent-req@openssh.com + exec', {
    tag: 'agent',
    args: (u, m, s) => [
      '-A',
      '-o',
      `IdentityAgent=${s.agentSocket}`,
      `${u.name}@127.0.0.1`,
      `${TARGET} echo ${m}`,
    ],
    deniedEvents: (u, r) => [requestDenied(u, 'auth-agent-req@openssh.com'), accessDenied(u, r)],
    byDesignEvents: (u) => [requestDenied(u, 'auth-agent-req@openssh.com')],
  }),
  {
    name: 'ProxyJump (ssh -J)',
    client: 'openssh',
    deniedEvents: (u) => [
      requestDenied(u, 'direct-tcpip', {
        destination: TARGET,
        reason: 'jump-to-unknown-or-forbidden-target',
      }),
    ],
    run: async (s, u) => {
      const m = mark('jump');
      const run = await runSsh(
        [
          '-F',
          u.configPath,
          '-J',
          `${u.name}@127.0.0.1:${s.world.gatehouse.sshPort}`,
          `${u.name}@${TARGET}`,
          `echo ${m}`,
        ],
        { timeoutMs: 30_000 },
      );
      return fromRun(run, run.stdout.includes(m));
    },
  },
  opensshColumn('menu (no target named)', {
    tag: 'menu',
    args: (u) => ['-T', `${u.name}@127.0.0.1`],
    isGranted: (out) => out.includes(`${TARGET}\tssh`),
    // Listing what one may reach touches no target: nothing to audit beyond the login.
    deniedEvents: () => [],
  }),
];

/** Audit events about `user` after `mark`. */
export function eventsOf(sweep: SshSweep, mark: number, user: string): AuditLine[] {
  return sweep.world.auditAfter(mark).filter((e) => e.user === user);
}

/** Waits until every expected event is among the events after `mark`; returns those events. */
export async function expectAudited(
  sweep: SshSweep,
  mark: number,
  expected: readonly ExpectedEvent[],
  what: string,
): Promise<AuditLine[]> {
  try {
    return await waitUntil(
      () => {
        const events = sweep.world.auditAfter(mark);
        return expected.every((want) => events.some((e) => matches(e, want))) ? events : undefined;
      },
      { timeoutMs: 15_000, what },
    );
  } catch {
    // Show what was there instead of a bare timeout.
    expect({
      what,
      events: sweep.world
        .auditAfter(mark)
        .map((e) => ({ type: e.type, user: e.user, target: e.target, data: e.data })),
    }).toEqual({ what, expected });
    throw new Error('unreachable');
  }
}

function matches(event: AuditLine, want: ExpectedEvent): boolean {
  if (event.type !== want.type) return false;
  if (want.user !== undefined && event.user !== want.user) return false;
  if (want.target !== undefined && event.target !== want.target) return false;
  return Object.entries(want.data ?? {}).every(
    ([k, v]) => JSON.stringify(event.data[k]) === JSON.stringify(v),
  );
}

/** sshd log lines that show a connection or a login (the leased account's). */
export function upstreamLogins(logSlice: string): string[] {
  return logSlice
    .split('\n')
    .filter((line) => /Connection from|Accepted (publickey|password)/.test(line));
}

/**
 * Runs every column as `user`, one at a time, and checks each got nothing: no grant of the
 * channel, no upstream connection (sshd log, echo server), no credential unlock and no session,
 * and the refusal audited as `expected(column)` says. `before` runs before each column.
 */
export async function expectEveryColumnRefused(
  sweep: SshSweep,
  user: SweepUser,
  expected: (column: SshColumn) => ExpectedEvent[],
  options: { before?: () => Promise<void> } = {},
): Promise<void> {
  for (const column of SSH_COLUMNS) {
    await options.before?.();
    const seq = sweep.lastSeq();
    const logMark = sweep.world.sshd.readLog().length;
    const echoBefore = sweep.echoConnections();
    const attempt = await column.run(sweep, user);
    expect({ column: column.name, isGranted: attempt.isGranted }, attempt.detail).toEqual({
      column: column.name,
      isGranted: false,
    });
    const events = await expectAudited(
      sweep,
      seq,
      expected(column),
      `${column.name}: the refusal of ${user.name}`,
    );
    const leaks = events.filter(
      (e) =>
        e.user === user.name &&
        [
          'credential.unlock',
          'session.start',
          'ssh.exec',
          'ssh.shell',
          'ssh.subsystem',
          'ssh.port_forward',
          'auth.success',
        ].includes(e.type),
    );
    // A user refused at login never authenticates; one refused access logs in, nothing more.
    const allowed = expected(column).some((e) => e.type === 'auth.failure') ? [] : ['auth.success'];
    expect({
      column: column.name,
      leaks: leaks.filter((e) => !allowed.includes(e.type)).map((e) => e.type),
    }).toEqual({ column: column.name, leaks: [] });
    expect({
      column: column.name,
      upstream: upstreamLogins(sweep.world.sshd.readLog().slice(logMark)),
    }).toEqual({ column: column.name, upstream: [] });
    expect({ column: column.name, echo: sweep.echoConnections() - echoBefore }).toEqual({
      column: column.name,
      echo: 0,
    });
  }
}

/**
 * The positive control: every column at once as `user`, who now has a valid grant. Each gets
 * its channel except those refused by design, which are refused and audited; the target's
 * credential was unlocked for the user (so the refusals above were not vacuous).
 */
export async function expectEveryColumnGranted(sweep: SshSweep, user: SweepUser): Promise<void> {
  const seq = sweep.lastSeq();
  const attempts = await Promise.all(
    SSH_COLUMNS.map(async (column) => ({ column, attempt: await column.run(sweep, user) })),
  );
  const got = Object.fromEntries(
    attempts.map(({ column, attempt }) => [
      column.name,
      attempt.isGranted ? 'granted' : `refused: ${attempt.detail}`,
    ]),
  );
  const want = Object.fromEntries(
    SSH_COLUMNS.map((c) => [
      c.name,
      c.isRefusedByDesign === true ? expect.stringMatching(/^refused/) : 'granted',
    ]),
  );
  expect(got).toEqual(want);
  const byDesign = SSH_COLUMNS.flatMap((c) => c.byDesignEvents?.(user.name) ?? []);
  const events = await expectAudited(
    sweep,
    seq,
    [{ type: 'credential.unlock', user: user.name, target: TARGET }, ...byDesign],
    `the positive control of ${user.name}`,
  );
  expect(events.filter((e) => e.type === 'access.denied' && e.user === user.name)).toEqual([]);
}
