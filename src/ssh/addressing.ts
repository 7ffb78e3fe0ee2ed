/**
 * How an SSH login names its target (DESIGN.md §7). The login name carries the user and,
 * optionally, the target (`alice+web-1`, `alice:web-1`); otherwise the first word of the
 * exec command names it (`ssh alice@bastion web-1 uptime`).
 */

/** Longest login name or exec command we parse; longer ones are refused. */
export const MAX_LOGIN_NAME_LENGTH = 256;

/** A login name split into user and optional target. */
export interface LoginName {
  readonly user: string;
  readonly target: string | undefined;
}

const USER_RE = /^[a-z_][a-z0-9_.-]{0,31}$/;
const TARGET_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** True when `name` has the shape of a target name (so it may be written to audit events). */
export function isTargetName(name: string): boolean {
  return TARGET_RE.test(name);
}

/** Splits `alice`, `alice+web-1` or `alice:web-1`; undefined when malformed. */
export function parseLoginName(login: string): LoginName | undefined {
  if (login.length === 0 || login.length > MAX_LOGIN_NAME_LENGTH) return undefined;
  const at = login.search(/[+:]/);
  const user = at < 0 ? login : login.slice(0, at);
  const target = at < 0 ? undefined : login.slice(at + 1);
  if (!USER_RE.test(user)) return undefined;
  if (target !== undefined && !TARGET_RE.test(target)) return undefined;
  return { user, target };
}

/** What an exec request asks for once the target is known. */
export interface ExecIntent {
  readonly target: string;
  /** The command to run on the target; undefined = an interactive shell. */
  readonly command: string | undefined;
}

/**
 * Reads the target from an exec command when the login name did not name one:
 * `web-1` → shell on web-1, `web-1 uptime -p` → `uptime -p` on web-1. When the login named
 * the target, the whole command runs there (scp, rsync, git send their own commands).
 */
export function parseExecIntent(
  command: string,
  loginTarget: string | undefined,
): ExecIntent | undefined {
  if (command.length > 1024 * 1024) return undefined;
  if (loginTarget !== undefined) return { target: loginTarget, command };
  const trimmed = command.replace(/^\s+/, '');
  const space = trimmed.search(/\s/);
  const target = space < 0 ? trimmed : trimmed.slice(0, space);
  if (!TARGET_RE.test(target)) return undefined;
  const rest = space < 0 ? '' : trimmed.slice(space).trim();
  return { target, command: rest === '' ? undefined : rest };
}
