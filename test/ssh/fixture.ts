import { readFileSync } from 'node:fs';
import pty from 'node-pty';
import { createSshKeyPair, type SshKeyPair } from '../support/ssh-keys.js';
import { addSshTarget } from '../support/ssh-target.js';
import { runProcess } from '../support/process.js';
import { recordingFiles } from '../support/recording-files.js';
import {
  runSshClient,
  SSH_CLIENT_OPTIONS,
  sshClientArgs,
  sshOptionArgs,
  startSshd,
  type Sshd,
  type SshClientResult,
  type SshdOptions,
} from '../support/sshd.js';
import {
  startGatehouse,
  type GatehouseOptions,
  type RunningGatehouse,
} from '../support/gatehouse.js';
import { readAuditEvents, type AuditLine } from '../support/gatehouse-store.js';

export type { AuditLine };
export { sshOptionArgs };

/** Options of {@link SshWorld.sshPty}. */
export interface SshPtyOptions {
  readonly login?: string;
  readonly key?: SshKeyPair;
  /** `-o Key=Value` options added after the defaults (they win). */
  readonly sshOptions?: Record<string, string>;
  readonly cols?: number;
  readonly rows?: number;
}

/** The real `ssh -tt` client running in a pseudo-terminal (node-pty). */
export interface PtySsh {
  /** Everything the client printed so far (terminal output, with `\r\n`). */
  output(): string;
  /** Resolves with the output once `pattern` appears after offset `from` (default 0). */
  waitFor(
    pattern: string | RegExp,
    options?: { readonly from?: number; readonly timeoutMs?: number },
  ): Promise<string>;
  /** Types `data` (keys, `\r` for Enter, `\x03` for Ctrl-C). */
  write(data: string): void;
  /** Changes the pty size; ssh sends a window-change. */
  resize(cols: number, rows: number): void;
  /** Resolves with ssh's exit code once it exits. */
  readonly exited: Promise<number>;
  /** Resolves with the exit code, or rejects after `timeoutMs`. */
  waitExit(timeoutMs?: number): Promise<number>;
  /** Kills the client (idempotent). */
  kill(): void;
}

/** A Gatehouse in front of a real sshd, with user alice granted target web-1. */
export interface SshWorld extends AsyncDisposable {
  readonly gatehouse: RunningGatehouse;
  readonly sshd: Sshd;
  readonly alice: SshKeyPair;
  /** Runs the real `ssh` client through Gatehouse as `login` (default `alice`). */
  ssh(
    command: string | undefined,
    options?: {
      login?: string;
      input?: string;
      sshOptions?: Record<string, string>;
      key?: SshKeyPair;
      timeoutMs?: number;
    },
  ): Promise<SshClientResult>;
  /** Starts `ssh -tt … login@127.0.0.1 ARGS…` in a pty (default 80x24). */
  sshPty(args: readonly string[], options?: SshPtyOptions): PtySsh;
  /** The `ssh -o` options the world's clients use (identity, no known_hosts, no agent). */
  clientOptions(key?: SshKeyPair): Record<string, string>;
  /**
   * Audit events with `seq > afterSeq`, oldest first, read straight from the SQLite store:
   * milliseconds, where `gatehouse audit tail --json` (same fields) takes a second or more.
   */
  auditAfter(afterSeq?: number): AuditLine[];
  /** Every recording file under the data dir, as absolute paths. */
  recordingFiles(): string[];
}

/** Starts sshd + Gatehouse, adds alice (ed25519 key) and web-1 with a generated leased key, pinned. */
export async function startSshWorld(
  options: {
    targetFlags?: string[];
    grant?: boolean;
    sshd?: SshdOptions;
    gatehouse?: GatehouseOptions;
  } = {},
): Promise<SshWorld> {
  const sshd = await startSshd(options.sshd);
  const gatehouse = await startGatehouse(options.gatehouse);
  const alice = await createSshKeyPair({ type: 'ed25519', comment: 'alice@laptop' });
  await gatehouse.cli(['user', 'add', 'alice', '--ssh-key', alice.publicPath]);
  await addSshTarget({ gatehouse, sshd }, 'web-1', {
    flags: options.targetFlags ?? [],
    grantTo: options.grant === false ? null : 'alice',
  });
  const ptys = new Set<PtySsh>();
  const clientOptions = (key: SshKeyPair = alice): Record<string, string> => ({
    IdentityFile: key.privatePath,
    ...SSH_CLIENT_OPTIONS,
  });
  return {
    gatehouse,
    sshd,
    alice,
    ssh: (command, o = {}) =>
      runSshClient({
        host: '127.0.0.1',
        port: gatehouse.sshPort,
        user: o.login ?? 'alice',
        identityPath: (o.key ?? alice).privatePath,
        ...(command === undefined ? {} : { command }),
        ...(o.input === undefined ? {} : { input: o.input }),
        ...(o.sshOptions === undefined ? {} : { sshOptions: o.sshOptions }),
        ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      }),
    sshPty: (args, o = {}) => {
      const client = spawnSshPty(args, {
        port: gatehouse.sshPort,
        login: o.login ?? 'alice',
        identityPath: (o.key ?? alice).privatePath,
        ...(o.sshOptions === undefined ? {} : { sshOptions: o.sshOptions }),
        cols: o.cols ?? 80,
        rows: o.rows ?? 24,
      });
      ptys.add(client);
      void client.exited.then(() => ptys.delete(client));
      return client;
    },
    clientOptions,
    auditAfter: (afterSeq = 0) => readAuditEvents(gatehouse, afterSeq),
    recordingFiles: () => recordingFiles(gatehouse.dir, '.cast'),
    [Symbol.asyncDispose]: async () => {
      for (const client of ptys) client.kill();
      await gatehouse[Symbol.asyncDispose]();
      await sshd[Symbol.asyncDispose]();
      await alice[Symbol.asyncDispose]();
    },
  };
}

/** Polls `probe` every 100 ms until it returns something other than undefined. */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${options.what ?? 'a condition'}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs the `ssh` client with exactly `args` (no defaults), feeding `input`; kills it after `timeoutMs`. */
export function runSsh(
  args: readonly string[],
  options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<SshClientResult> {
  return runProcess('ssh', args, { ...options, timeoutMs: options.timeoutMs ?? 20_000 });
}

/** Starts the real `ssh -tt … login@127.0.0.1 ARGS…` in a pty, with the tests' client options ({@link sshClientArgs}) and `sshOptions` over them. */
export function spawnSshPty(
  args: readonly string[],
  options: {
    port: number;
    login: string;
    identityPath: string;
    sshOptions?: Record<string, string>;
    cols: number;
    rows: number;
  },
): PtySsh {
  const argv = [
    '-tt',
    ...sshClientArgs(options.identityPath, options.sshOptions),
    '-p',
    String(options.port),
    `${options.login}@127.0.0.1`,
    ...args,
  ];
  return spawnPty('ssh', argv, { cols: options.cols, rows: options.rows });
}

/** Spawns `file ARGS` in a pseudo-terminal and collects what it prints. */
export function spawnPty(
  file: string,
  args: readonly string[],
  options: { cols: number; rows: number; env?: Record<string, string> },
): PtySsh {
  const proc = pty.spawn(file, [...args], {
    name: 'xterm',
    cols: options.cols,
    rows: options.rows,
    cwd: process.cwd(),
    env: { ...(process.env as Record<string, string>), ...options.env },
  });
  let text = '';
  const listeners = new Set<() => void>();
  let hasExited = false;
  proc.onData((chunk) => {
    text += chunk;
    for (const listener of listeners) listener();
  });
  const exited = new Promise<number>((resolve) => {
    proc.onExit(({ exitCode }) => {
      hasExited = true;
      resolve(exitCode);
      for (const listener of listeners) listener();
    });
  });
  const waitFor = (
    pattern: string | RegExp,
    o: { from?: number; timeoutMs?: number } = {},
  ): Promise<string> =>
    new Promise((resolve, reject) => {
      const from = o.from ?? 0;
      const check = (): boolean => {
        const seen = text.slice(from);
        const isMatch = typeof pattern === 'string' ? seen.includes(pattern) : pattern.test(seen);
        if (isMatch) {
          done();
          resolve(text);
          return true;
        }
        if (hasExited) {
          done();
          reject(new Error(`ssh exited before ${String(pattern)} appeared; output:\n${text}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${String(pattern)}; output:\n${text}`));
      }, o.timeoutMs ?? 10_000);
      const listener = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      if (!check()) listeners.add(listener);
    });
  return {
    output: () => text,
    waitFor,
    write: (data) => proc.write(data),
    resize: (cols, rows) => proc.resize(cols, rows),
    exited,
    waitExit: (timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`ssh did not exit within ${timeoutMs} ms; output:\n${text}`)),
          timeoutMs,
        );
        void exited.then((code) => {
          clearTimeout(timer);
          resolve(code);
        });
      }),
    kill: () => {
      if (!hasExited) proc.kill('SIGKILL');
    },
  };
}

/** Reads an asciicast file: the header and the events. */
export function readCast(path: string): {
  header: Record<string, unknown>;
  events: [number, string, string][];
  text: string;
} {
  const text = readFileSync(path, 'utf8');
  const [first = '', ...rest] = text.split('\n').filter((line) => line !== '');
  return {
    header: JSON.parse(first) as Record<string, unknown>,
    events: rest
      .filter((line) => !line.startsWith('#'))
      .map((line) => JSON.parse(line) as [number, string, string]),
    text,
  };
}
