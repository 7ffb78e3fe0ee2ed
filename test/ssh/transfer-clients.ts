import { createHash } from 'node:crypto';
import {
  chownSync,
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { runProcess, type ProcessRun } from '../support/process.js';
import { sshClientArgs } from '../support/sshd.js';
import type { SshWorld } from './fixture.js';

// Helpers for driving the real file-transfer clients (scp, sftp, rsync, git) through a world's
// Gatehouse with the login form `alice+TARGET@127.0.0.1`. Self-contained on purpose: they only
// need what startSshWorld() returns.

/** How a client process ended and what it printed. */
export type ClientRun = ProcessRun;

/** One audit event as `gatehouse audit tail --json` prints it. */
export interface AuditRecord {
  readonly seq: number;
  readonly type: string;
  readonly user: string | null;
  readonly target: string | null;
  readonly sid: string | null;
  readonly data: Record<string, unknown>;
}

/** Runs `file ARGS` (no shell), feeding `input`, and collects its output; kills it after `timeoutMs` (30 s). */
export const runClient = runProcess;

/** `user+target@127.0.0.1`: the login form that names the target (DESIGN.md §7). */
export function loginFor(target: string, user = 'alice'): string {
  return `${user}+${target}@127.0.0.1`;
}

/**
 * The options every OpenSSH client here takes: alice's key only, no agent, no known_hosts, no
 * prompts. Without the port: `ssh` says `-p`, `scp` and `sftp` say `-P`.
 */
export function sshArgs(world: SshWorld): string[] {
  return sshClientArgs(world.alice.privatePath);
}

/** `ssh <options> -p PORT` as one shell string, for `rsync -e` and `GIT_SSH_COMMAND` (paths here hold no spaces). */
export function sshCommandLine(
  world: SshWorld,
  options: { readonly withPort?: boolean } = {},
): string {
  const port = options.withPort === false ? [] : ['-p', String(world.gatehouse.sshPort)];
  return ['ssh', ...sshArgs(world), ...port].map(shellQuote).join(' ');
}

/** The last `n` audit events, oldest first. */
export async function readAudit(world: SshWorld, n = 500): Promise<AuditRecord[]> {
  const tail = await world.gatehouse.cli(['audit', 'tail', '-n', String(n), '--json']);
  return tail.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AuditRecord);
}

/**
 * Polls the audit log until `isWanted` holds for some event and returns the matching ones.
 * Some events (sftp.close, scp.transfer) are appended as the channel closes, which may be a
 * moment after the client has exited.
 */
export async function waitForAudit(
  world: SshWorld,
  isWanted: (event: AuditRecord) => boolean,
  timeoutMs = 10_000,
): Promise<AuditRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await readAudit(world);
    const found = events.filter(isWanted);
    if (found.length > 0) return found;
    if (Date.now() > deadline)
      throw new Error(
        `no matching audit event within ${timeoutMs} ms; last events:\n${events
          .slice(-30)
          .map((e) => JSON.stringify(e))
          .join('\n')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A fresh directory in the leased account's home, owned by that account (the test runs as root). */
export function makeTargetDir(world: SshWorld, prefix: string): string {
  const home = `/home/${world.sshd.account}`;
  const { uid, gid } = statSync(home);
  const dir = mkdtempSync(join(home, prefix));
  chownSync(dir, uid, gid);
  return dir;
}

/** A fresh local (client-side) directory under `parent`. */
export function makeLocalDir(parent: string, name: string): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Removes a directory tree, ignoring a missing one. */
export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** SHA-256 (hex) of bytes. */
export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `relative path → sha256` of every regular file below `root`; directories and symlinks by path (and link text). */
export function treeDigest(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        out[`${relative(root, path)}/`] = 'dir';
        walk(path);
      } else if (entry.isFile()) {
        out[relative(root, path)] = sha256(readFileSync(path));
      } else if (entry.isSymbolicLink()) {
        out[relative(root, path)] = `-> ${readlinkSync(path)}`;
      }
    }
  };
  walk(root);
  return out;
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
