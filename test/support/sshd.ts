import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runProcess } from './process.js';
import { fingerprintWithSshKeygen } from './ssh-keys.js';

const run = promisify(execFile);

const SSHD_BIN = '/usr/sbin/sshd';
/** The local account the fixture's sshd lets in; created on first use. */
export const DEFAULT_LEASED_ACCOUNT = 'gh_leased';
/**
 * The password {@link Sshd.setPassword} sets by default. The account is machine-wide and test
 * files run in parallel: files sharing an account must agree on its password, so use this one.
 */
export const LEASED_TEST_PASSWORD = 'gh-leased-test-password';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;
const PORT_ATTEMPTS = 5;

/** Host key types the fixture can give its sshd. */
export type SshdHostKeyType = 'ed25519' | 'ecdsa' | 'rsa';

/** Options of {@link startSshd}. */
export interface SshdOptions {
  /**
   * The Unix account clients log in as (created with `useradd -m` if missing). It is
   * machine-wide: two fixtures that set different passwords on one account race, so a test
   * file that sets a password should use its own account name.
   */
  readonly account?: string;
  /** `PasswordAuthentication yes`; default no (public keys only). */
  readonly allowPassword?: boolean;
  /** Host keys to generate; an Ed25519 key is always there. */
  readonly hostKeyTypes?: readonly SshdHostKeyType[];
  /** Extra `sshd_config` keywords, written before the defaults (sshd keeps the first value). */
  readonly extraConfig?: Readonly<Record<string, string>>;
}

/** A running throwaway OpenSSH server on 127.0.0.1; dispose it (or `stop()`) to kill it and delete its files. */
export interface Sshd extends AsyncDisposable {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** OpenSSH public line (`ssh-ed25519 base64`) of the Ed25519 host key. */
  readonly hostKeyLine: string;
  /** `SHA256:...` of the Ed25519 host key, from `ssh-keygen -lf`. */
  readonly hostKeyFingerprint: string;
  /** The `.pub` file of the Ed25519 host key. */
  readonly hostKeyPublicPath: string;
  /** Public lines of every host key the server has, by type. */
  readonly hostKeyLines: Readonly<Partial<Record<SshdHostKeyType, string>>>;
  /** The account clients log in as. */
  readonly account: string;
  /** sshd's log file (`-E`, LogLevel VERBOSE), including per-connection processes. */
  readonly logPath: string;
  /** The log so far. */
  readLog(): string;
  /**
   * The log lines of the first connection sshd accepted after log offset `offset` (take it
   * with `readLog().length` before connecting), once sshd has logged that connection's end.
   * Lines are matched by the client's source port, so other connections do not mix in.
   */
  connectionLog(offset: number, timeoutMs?: number): Promise<string>;
  /** Adds an OpenSSH public key line to the account's authorized_keys. */
  authorizeKey(publicLine: string): void;
  /** Sets the account's Unix password (chpasswd; the server needs `allowPassword`); default {@link LEASED_TEST_PASSWORD}. */
  setPassword(password?: string): Promise<void>;
  /** True while the listening sshd runs. */
  isRunning(): boolean;
  /** Kills the sessions in progress (the per-connection sshd processes and their children). */
  dropConnections(): void;
  /** Stops the listener and starts it again on the same port with the same keys; sessions survive unless `dropConnections`. */
  restart(options?: { readonly dropConnections?: boolean }): Promise<void>;
  /** Kills the server and its sessions; the port refuses connections afterwards. Files stay until dispose. */
  stop(): Promise<void>;
}

/**
 * Starts `/usr/sbin/sshd -D` with its own config, host keys and authorized_keys in a temp dir,
 * on a free loopback port, and waits until it answers with an SSH banner. Needs root (sshd
 * must switch to the leased account). `StrictModes no`: the temp dir lives under /tmp, which
 * is world-writable, and sshd's StrictModes would refuse every path below it.
 */
export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  if (process.getuid?.() !== 0) throw new Error('the sshd fixture needs root');
  const account = options.account ?? DEFAULT_LEASED_ACCOUNT;
  if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(account)) throw new Error(`bad account name ${account}`);
  await ensureAccount(account);
  // Privilege separation directory; sshd refuses to start without it.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = mkdtempSync(join(tmpdir(), 'gh-sshd-'));
  // sshd reads authorized_keys as the account: the path must be traversable by it.
  chmodSync(dir, 0o755);
  const keysDir = join(dir, 'authorized_keys');
  mkdirSync(keysDir, { mode: 0o755 });
  const authorizedKeysPath = join(keysDir, account);
  writeFileSync(authorizedKeysPath, '', { mode: 0o644 });
  const logPath = join(dir, 'sshd.log');
  const configPath = join(dir, 'sshd_config');
  writeFileSync(logPath, '', { mode: 0o600 });

  let child: ChildProcess | undefined;
  let isRemoved = false;
  const killNow = (): void => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      killTree(child.pid, 'SIGKILL');
    }
  };
  const removeNow = (): void => {
    killNow();
    if (!isRemoved) {
      isRemoved = true;
      rmSync(dir, { recursive: true, force: true });
    }
  };
  // A test worker that dies without stopping the server must not leave an sshd behind.
  process.once('exit', removeNow);

  try {
    const types = new Set<SshdHostKeyType>(['ed25519', ...(options.hostKeyTypes ?? [])]);
    const hostKeyLines: Partial<Record<SshdHostKeyType, string>> = {};
    const hostKeyPaths: string[] = [];
    for (const type of types) {
      const path = join(dir, `ssh_host_${type}_key`);
      await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `gh-sshd-${type}`, '-f', path]);
      hostKeyPaths.push(path);
      hostKeyLines[type] = withoutComment(readFileSync(`${path}.pub`, 'utf8'));
    }
    const hostKeyPublicPath = join(dir, 'ssh_host_ed25519_key.pub');
    const hostKeyLine = hostKeyLines.ed25519 ?? '';
    const hostKeyFingerprint = await fingerprintWithSshKeygen(hostKeyPublicPath);
    const isPenaltyAware = await hasPerSourcePenalties();

    const writeConfig = (port: number): void => {
      const settings: [string, string][] = [
        ...Object.entries(options.extraConfig ?? {}),
        ['ListenAddress', '127.0.0.1'],
        ['Port', String(port)],
        ...hostKeyPaths.map((path): [string, string] => ['HostKey', path]),
        ['PidFile', join(dir, 'sshd.pid')],
        ['AuthorizedKeysFile', join(keysDir, '%u')],
        ['StrictModes', 'no'],
        ['AllowUsers', account],
        ['PermitRootLogin', 'no'],
        ['PubkeyAuthentication', 'yes'],
        ['PasswordAuthentication', options.allowPassword === true ? 'yes' : 'no'],
        ['KbdInteractiveAuthentication', 'no'],
        ['UsePAM', 'no'],
        ['Subsystem', 'sftp internal-sftp'],
        ['AllowTcpForwarding', 'yes'],
        ['X11Forwarding', 'no'],
        ['PrintMotd', 'no'],
        ['PrintLastLog', 'no'],
        ['UseDNS', 'no'],
        // Tests open many connections at once; the default 10:30:100 drops some of them.
        ['MaxStartups', '100:30:200'],
        ['LogLevel', 'VERBOSE'],
      ];
      // OpenSSH 9.8+ would shut out 127.0.0.1 after the failed logins tests make on purpose.
      if (isPenaltyAware) settings.push(['PerSourcePenalties', 'no']);
      writeFileSync(configPath, settings.map(([key, value]) => `${key} ${value}\n`).join(''), {
        mode: 0o600,
      });
    };

    const launch = async (port: number): Promise<ChildProcess> => {
      writeConfig(port);
      const logStart = readFileSync(logPath).length;
      // -D: stay in the foreground (our child); -E: log to the file, for every connection too.
      const proc = spawn(SSHD_BIN, ['-D', '-f', configPath, '-E', logPath], { stdio: 'ignore' });
      proc.unref();
      try {
        await waitForBanner(port, proc, START_TIMEOUT_MS);
        return proc;
      } catch (err) {
        if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) {
          killTree(proc.pid, 'SIGKILL');
        }
        const log = readFileSync(logPath, 'utf8').slice(logStart);
        throw new SshdStartError(err instanceof Error ? err.message : String(err), log);
      }
    };

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        child = await launch(port);
        break;
      } catch (err) {
        // Another process took the port between our probe and sshd's bind: try another.
        const isPortTaken =
          err instanceof SshdStartError && /Address already in use|Cannot bind/.test(err.log);
        if (!isPortTaken || attempt >= PORT_ATTEMPTS) throw err;
      }
    }

    const stopListener = async (): Promise<void> => {
      const proc = child;
      if (proc?.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    };
    // Per-connection sshd processes left behind by a restart; init adopted them.
    const orphans = new Set<number>();
    const dropConnections = (): void => {
      const pid = child?.pid;
      // Per-connection sshd processes call setsid(): a process-group kill misses them.
      if (pid !== undefined)
        for (const descendant of descendantsOf(pid)) signal(descendant, 'SIGKILL');
      for (const orphan of orphans) {
        if (isSshd(orphan)) killTree(orphan, 'SIGKILL');
      }
      orphans.clear();
    };
    const stop = async (): Promise<void> => {
      dropConnections();
      await stopListener();
    };
    const dispose = async (): Promise<void> => {
      await stop();
      process.removeListener('exit', removeNow);
      removeNow();
    };

    return {
      host: '127.0.0.1',
      port,
      hostKeyLine,
      hostKeyFingerprint,
      hostKeyPublicPath,
      hostKeyLines,
      account,
      logPath,
      readLog: () => readFileSync(logPath, 'utf8'),
      connectionLog: (offset: number, timeoutMs = 5_000) =>
        connectionLog(logPath, offset, timeoutMs),
      authorizeKey: (publicLine: string): void => {
        const line = publicLine.trim();
        if (line === '' || line.includes('\n'))
          throw new Error('authorizeKey takes one public key line');
        appendFileSync(authorizedKeysPath, `${line}\n`);
      },
      setPassword: async (password: string = LEASED_TEST_PASSWORD): Promise<void> => {
        if (/[:\n\r]/.test(password))
          throw new Error('a chpasswd password cannot contain ":" or a newline');
        await runWithInput('chpasswd', [], `${account}:${password}\n`);
      },
      isRunning: () => child !== undefined && child.exitCode === null && child.signalCode === null,
      dropConnections,
      restart: async (restartOptions = {}): Promise<void> => {
        if (restartOptions.dropConnections === true) dropConnections();
        else if (child?.pid !== undefined)
          for (const pid of childrenOf(child.pid)) orphans.add(pid);
        await stopListener();
        child = await launch(port);
      },
      stop,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    process.removeListener('exit', removeNow);
    removeNow();
    throw err;
  }
}

/** Options of {@link runSshClient}. */
export interface SshClientRun {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Private key file for `-i`; the agent and default identities are never used. */
  readonly identityPath: string;
  /** Remote command; a shell when absent (then `input` should end it). */
  readonly command?: string;
  /** `-o Key=Value` options added after the defaults (StrictHostKeyChecking=no, no known_hosts). */
  readonly sshOptions?: Readonly<Record<string, string>>;
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** What the `ssh` client printed and how it exited. */
export interface SshClientResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code; 255 for an ssh error. */
  readonly code: number | null;
}

/**
 * The `-o` options of every OpenSSH client in the tests: no prompts, no known_hosts, no agent,
 * only the identity given.
 */
export const SSH_CLIENT_OPTIONS: Readonly<Record<string, string>> = {
  BatchMode: 'yes',
  StrictHostKeyChecking: 'no',
  UserKnownHostsFile: '/dev/null',
  GlobalKnownHostsFile: '/dev/null',
  IdentitiesOnly: 'yes',
  IdentityAgent: 'none',
  LogLevel: 'ERROR',
  ConnectTimeout: '10',
};

/** `-o Key=Value` arguments for `ssh`. */
export function sshOptionArgs(options: Readonly<Record<string, string>>): string[] {
  return Object.entries(options).flatMap(([key, value]) => ['-o', `${key}=${value}`]);
}

/**
 * The arguments an OpenSSH client (`ssh`, `scp`, `sftp`) needs before its own: no config file,
 * the key at `identityPath` only, {@link SSH_CLIENT_OPTIONS} with `overrides` over them. Without
 * the port: `ssh` says `-p`, `scp` and `sftp` say `-P`.
 */
export function sshClientArgs(
  identityPath: string,
  overrides: Readonly<Record<string, string>> = {},
): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    identityPath,
    ...sshOptionArgs({ ...SSH_CLIENT_OPTIONS, ...overrides }),
  ];
}

/** Runs the OpenSSH `ssh` client non-interactively (BatchMode) and collects its output. */
export function runSshClient(options: SshClientRun): Promise<SshClientResult> {
  const args = [
    ...sshClientArgs(options.identityPath, options.sshOptions),
    '-p',
    String(options.port),
    `${options.user}@${options.host}`,
  ];
  if (options.command !== undefined) args.push('--', options.command);
  return runProcess('ssh', args, {
    input: options.input,
    timeoutMs: options.timeoutMs ?? 20_000,
  });
}

/** A failed sshd start, with the log lines it wrote. */
class SshdStartError extends Error {
  readonly log: string;
  constructor(reason: string, log: string) {
    super(`sshd did not start: ${reason}${log === '' ? '' : `\n${log}`}`);
    this.log = log;
  }
}

async function connectionLog(logPath: string, offset: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = readFileSync(logPath, 'utf8').slice(offset);
    const port = /Connection from 127\.0\.0\.1 port (\d+) /.exec(text)?.[1];
    if (port !== undefined) {
      const lines = text.split('\n').filter((line) => new RegExp(`port ${port}\\b`).test(line));
      if (
        lines.some((line) =>
          /Received disconnect|Connection closed|Disconnected|Connection reset/.test(line),
        )
      ) {
        return lines.join('\n');
      }
    }
    if (Date.now() > deadline)
      throw new Error(`no finished connection in the sshd log after offset ${offset}:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Creates the account (home, bash) if missing and unlocks it: with UsePAM no, sshd refuses a `!`-locked account even for keys. */
async function ensureAccount(name: string): Promise<void> {
  if (!(await hasAccount(name))) {
    try {
      await run('useradd', ['-m', '-s', '/bin/bash', name]);
    } catch (err) {
      // Another test worker may have created it a moment ago.
      if (!(await hasAccount(name))) throw err;
    }
  }
  const entry = readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .find((line) => line.startsWith(`${name}:`));
  // useradd leaves "!" (locked); sshd without PAM then refuses keys too. "*" matches no
  // password, yet is not a lock, so keys work until setPassword sets a real hash.
  if (entry?.split(':')[1]?.startsWith('!') === true) await run('usermod', ['-p', '*', name]);
}

async function hasAccount(name: string): Promise<boolean> {
  try {
    await run('id', ['-u', name]);
    return true;
  } catch {
    return false;
  }
}

/** True when the installed OpenSSH (9.8+) knows `PerSourcePenalties`. */
async function hasPerSourcePenalties(): Promise<boolean> {
  const { stderr } = await run('ssh', ['-V']);
  const match = /OpenSSH_(\d+)\.(\d+)/.exec(stderr);
  if (match === null) return false;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  return major > 9 || (major === 9 && minor >= 8);
}

/** Runs a command with `input` on stdin (for secrets: never in argv); throws unless it exits 0. */
async function runWithInput(file: string, args: readonly string[], input: string): Promise<void> {
  const result = await runProcess(file, args, { input });
  if (result.code !== 0)
    throw new Error(`${file} exited with ${String(result.code)}: ${result.stderr.trim()}`);
}

/** Resolves once `port` accepts a connection and sends an `SSH-` banner; rejects if `proc` exits first. */
async function waitForBanner(port: number, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`sshd exited (${String(proc.exitCode ?? proc.signalCode)})`);
    }
    if (await answersBanner(port)) return;
    if (Date.now() > deadline)
      throw new Error(`no SSH banner on port ${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function answersBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let text = '';
    const done = (isReady: boolean): void => {
      sock.destroy();
      resolve(isReady);
    };
    sock.setTimeout(1_000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('close', () => done(text.startsWith('SSH-')));
    sock.setEncoding('latin1').on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) done(text.startsWith('SSH-'));
    });
  });
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The direct children of `pid`. */
function childrenOf(pid: number): number[] {
  return processTree().get(pid) ?? [];
}

/** True when `pid` still runs sshd (and not a process that reused the id). */
function isSshd(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('sshd');
  } catch {
    return false;
  }
}

/** Every process below `pid`, children before their own children. */
function descendantsOf(pid: number): number[] {
  const children = processTree();
  const out: number[] = [];
  const queue = [pid];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const kid of children.get(next) ?? []) {
      out.push(kid);
      queue.push(kid);
    }
  }
  return out;
}

/** Parent pid → child pids, read from /proc. */
function processTree(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so cut after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  return children;
}

function killTree(pid: number, sig: NodeJS.Signals): void {
  for (const descendant of descendantsOf(pid)) signal(descendant, sig);
  signal(pid, sig);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

function withoutComment(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(' ');
}

/** True when sshd is installed where the fixture expects it. */
export function hasSshd(): boolean {
  return existsSync(SSHD_BIN);
}
