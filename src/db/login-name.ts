/** Separates the Gatehouse user from the target in a database login name: `alice#orders-db`. */
export const DB_TARGET_SEPARATOR = '#';

/** Who logs in and which target they want. */
export interface DbLogin {
  readonly user: string;
  readonly target: string;
}

/**
 * Parses a database login name (DESIGN.md §7): `alice#orders-db`; on a listener dedicated to
 * one target, plain `alice` (or `alice#<that target>`). Undefined when it names no target or
 * another one than the listener's.
 */
export function parseDbLogin(
  name: string,
  options: { readonly fixedTarget?: string | undefined } = {},
): DbLogin | undefined {
  const at = name.indexOf(DB_TARGET_SEPARATOR);
  const user = at < 0 ? name : name.slice(0, at);
  const named = at < 0 ? undefined : name.slice(at + 1);
  if (user === '') return undefined;
  const fixed = options.fixedTarget;
  if (fixed !== undefined)
    return named === undefined || named === fixed ? { user, target: fixed } : undefined;
  return named === undefined || named === '' ? undefined : { user, target: named };
}
