import type { Kysely, Selectable } from 'kysely';
import { GatehouseError } from '../core/errors.js';
import type { User } from '../core/types.js';
import type { Database, UsersTable } from '../store/schema.js';

/** A row of `users`. */
export type UserRow = Selectable<UsersTable>;

/** Store access shared by the identity services. */
type Db = Kysely<Database>;

/** The `users` row named `name`, or undefined. */
export async function findUserRow(db: Db, name: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
}

/** The `users` row named `name`; throws GH_NOT_FOUND. */
export async function getUserRow(db: Db, name: string): Promise<UserRow> {
  const row = await findUserRow(db, name);
  if (row === undefined)
    throw new GatehouseError('GH_NOT_FOUND', { message: `user "${name}" not found` });
  return row;
}

/** The core {@link User} for a row, with its roles (sorted). */
export async function toUser(db: Db, row: UserRow): Promise<User> {
  const roles = await db
    .selectFrom('user_roles')
    .select('role')
    .where('user_id', '=', row.id)
    .orderBy('role')
    .execute();
  return userOf(
    row,
    roles.map((r) => r.role),
  );
}

/**
 * The {@link User} named `name` with its roles, or undefined: one statement (a row per role)
 * instead of {@link findUserRow} and {@link toUser}'s two, as each login looks its user up
 * several times and every statement is a turn of a busy event loop (src/store/sqlite-worker.ts).
 */
export async function findUser(db: Db, name: string): Promise<User | undefined> {
  const rows = await db
    .selectFrom('users')
    .leftJoin('user_roles', 'user_roles.user_id', 'users.id')
    .select([
      'users.id',
      'users.name',
      'users.disabled',
      'users.totp_enabled',
      'users.created_at',
      'user_roles.role',
    ])
    .where('users.name', '=', name)
    .orderBy('user_roles.role')
    .execute();
  const first = rows[0];
  return first === undefined
    ? undefined
    : userOf(
        first,
        rows.flatMap((r) => (r.role === null ? [] : [r.role])),
      );
}

function userOf(
  row: Pick<UserRow, 'id' | 'name' | 'disabled' | 'totp_enabled' | 'created_at'>,
  roles: string[],
): User {
  return {
    id: row.id,
    name: row.name,
    roles,
    isDisabled: row.disabled === 1,
    hasTotp: row.totp_enabled === 1,
    createdAt: row.created_at,
  };
}
