import type { RunningGatehouse } from './gatehouse.js';

/** Where a database target lives and the leased account on it (the password Gatehouse leases). */
export interface DbTargetSpec {
  readonly kind: 'postgres' | 'mysql';
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly database: string;
}

/** A database target as `gatehouse target add` takes it. */
export interface DbTarget extends DbTargetSpec {
  readonly name: string;
}

/** Options of {@link addDbTarget}. */
export interface DbTargetOptions {
  /** The user granted the target (default `alice`). */
  readonly grantTo?: string;
  /** The grant's `--for` (default `1h`). */
  readonly grantFor?: string;
}

/**
 * Adds a database target with the real CLI: `target add`, its password through stdin
 * (`credential set --password-stdin`, never in process arguments), and a grant.
 */
export async function addDbTarget(
  gatehouse: Pick<RunningGatehouse, 'cli'>,
  target: DbTarget,
  options: DbTargetOptions = {},
): Promise<void> {
  const { name } = target;
  await gatehouse.cli([
    'target',
    'add',
    name,
    '--kind',
    target.kind,
    '--host',
    target.host,
    '--port',
    String(target.port),
    '--username',
    target.username,
    '--database',
    target.database,
  ]);
  await gatehouse.cli(['credential', 'set', name, '--password-stdin'], {
    stdin: `${target.password}\n`,
  });
  await gatehouse.cli([
    'grant',
    options.grantTo ?? 'alice',
    name,
    '--for',
    options.grantFor ?? '1h',
  ]);
}
