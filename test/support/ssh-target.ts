import type { RunningGatehouse } from './gatehouse.js';
import type { Sshd } from './sshd.js';

/** Options of {@link addSshTarget}. */
export interface SshTargetOptions {
  /** More `gatehouse target add` flags, e.g. `--no-recording`. */
  readonly flags?: readonly string[];
  /** The user granted the target (default `alice`); `null` grants no one. */
  readonly grantTo?: string | null;
  /** The grant's `--for` (default `1h`). */
  readonly grantFor?: string;
}

/**
 * Adds an SSH target on `sshd` with the real CLI: a generated leased key (its public line
 * authorized on sshd), the host key pinned (`target trust`), and a grant.
 */
export async function addSshTarget(
  world: { readonly gatehouse: Pick<RunningGatehouse, 'cli'>; readonly sshd: Sshd },
  name: string,
  options: SshTargetOptions = {},
): Promise<void> {
  const { gatehouse, sshd } = world;
  await gatehouse.cli([
    'target',
    'add',
    name,
    '--kind',
    'ssh',
    '--host',
    sshd.host,
    '--port',
    String(sshd.port),
    '--username',
    sshd.account,
    ...(options.flags ?? []),
  ]);
  const generated = await gatehouse.cli(['credential', 'set', name, '--generate-ssh-key']);
  sshd.authorizeKey(generated.stdout.trim());
  await gatehouse.cli(['target', 'trust', name]);
  const user = options.grantTo === undefined ? 'alice' : options.grantTo;
  if (user !== null) await gatehouse.cli(['grant', user, name, '--for', options.grantFor ?? '1h']);
}
