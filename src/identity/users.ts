import type { Kysely } from 'kysely';
import type { AuditEventInput, AuditWriter } from '../audit/types.js';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { User } from '../core/types.js';
import type { Database } from '../store/schema.js';
import type { ActorOptions, IdentityDeps, SealSecret } from './deps.js';
import { assertPasswordAcceptable, hashPassword } from './passwords.js';
import { isValidName } from './names.js';
import { deriveScramVerifier } from './scram.js';
import { parseSshPublicKey, type SshPublicKey } from './ssh-keys.js';
import { isUniqueViolation } from './store-errors.js';
import { isTokenShaped } from './tokens.js';
import { generateTotpSecret, totpUri } from './totp.js';
import { resetTotpSteps, totpSealContext } from './totp-state.js';
import { findUser, findUserRow, getUserRow, toUser } from './user-rows.js';

/** Roles given to a new user when none are named. */
export const DEFAULT_USER_ROLES: readonly string[] = ['user'];

/** Options for {@link Users.add}. */
export interface AddUserOptions extends ActorOptions {
  readonly roles?: readonly string[];
  readonly password?: string;
  /** OpenSSH public key lines. */
  readonly sshKeys?: readonly string[];
}

/** A stored SSH public key of a user. */
export interface SshKeyInfo {
  readonly id: string;
  readonly algo: string;
  readonly fingerprint: string;
  readonly comment: string;
  /** The OpenSSH public key line. */
  readonly publicKey: string;
  readonly createdAt: number;
}

/**
 * Administration of users, their credentials and roles. Every change is validated first, then
 * audited (with the acting admin as `data.by`), then applied: when the audit write fails,
 * nothing changes. No password, token or TOTP secret ever goes into an event.
 */
export class Users {
  readonly #db: Kysely<Database>;
  readonly #audit: AuditWriter;
  readonly #clock: Clock;
  readonly #sealSecret: SealSecret;

  constructor(deps: Pick<IdentityDeps, 'db' | 'audit' | 'clock' | 'sealSecret'>) {
    this.#db = deps.db;
    this.#audit = deps.audit;
    this.#clock = deps.clock ?? systemClock;
    this.#sealSecret = deps.sealSecret;
  }

  /** Adds user `name` with roles (default `user`), an optional password and SSH keys. */
  async add(name: string, options: AddUserOptions): Promise<User> {
    assertName(name, 'user');
    const roles = uniqueSorted(options.roles ?? DEFAULT_USER_ROLES);
    await this.#assertRolesExist(roles);
    const keys = dedupeKeys((options.sshKeys ?? []).map(parseSshPublicKey));
    const credentials =
      options.password === undefined ? undefined : await deriveCredentials(options.password);
    if ((await findUserRow(this.#db, name)) !== undefined)
      throw alreadyExists(`user "${name}" already exists`);
    const now = this.#clock();
    const id = newId('usr');
    await this.#append(name, 'admin.user.add', options.actor, {
      roles,
      hasPassword: credentials !== undefined,
      keys: keys.map((k) => k.fingerprint),
    });
    try {
      await this.#db.transaction().execute(async (trx) => {
        await trx
          .insertInto('users')
          .values({
            id,
            name,
            password_hash: credentials?.passwordHash ?? null,
            scram_verifier: credentials?.scramVerifier ?? null,
            totp_secret: null,
            totp_enabled: 0,
            disabled: 0,
            failed_count: 0,
            locked_until: 0,
            last_failure_at: 0,
            created_at: now,
          })
          .execute();
        if (roles.length > 0) {
          await trx
            .insertInto('user_roles')
            .values(roles.map((role) => ({ user_id: id, role })))
            .execute();
        }
        for (const key of keys)
          await trx
            .insertInto('ssh_keys')
            .values(keyRow(id, key, now))
            .execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists(`user "${name}" already exists`);
      throw err;
    }
    return this.get(name);
  }

  /** The user named `name`; GH_NOT_FOUND when there is none. */
  async get(name: string): Promise<User> {
    const user = await findUser(this.#db, name);
    if (user === undefined)
      throw new GatehouseError('GH_NOT_FOUND', { message: `user "${name}" not found` });
    return user;
  }

  /** The user named `name`, or undefined. */
  find(name: string): Promise<User | undefined> {
    return findUser(this.#db, name);
  }

  /** Every user, by name. */
  async list(): Promise<User[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('name').execute();
    const roleRows = await this.#db
      .selectFrom('user_roles')
      .select(['user_id', 'role'])
      .orderBy('role')
      .execute();
    const rolesByUser = new Map<string, string[]>();
    for (const r of roleRows)
      rolesByUser.set(r.user_id, [...(rolesByUser.get(r.user_id) ?? []), r.role]);
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      roles: rolesByUser.get(row.id) ?? [],
      isDisabled: row.disabled === 1,
      hasTotp: row.totp_enabled === 1,
      createdAt: row.created_at,
    }));
  }

  /** Sets the password of `name` (scrypt hash and PostgreSQL SCRAM verifier together). */
  async setPassword(name: string, password: string, options: ActorOptions): Promise<void> {
    const row = await getUserRow(this.#db, name);
    const credentials = await deriveCredentials(password);
    await this.#append(name, 'admin.user.passwd', options.actor, {});
    await this.#db
      .updateTable('users')
      .set({ password_hash: credentials.passwordHash, scram_verifier: credentials.scramVerifier })
      .where('id', '=', row.id)
      .execute();
  }

  /** Adds an SSH public key to `name`; GH_ALREADY_EXISTS when the user has it already. */
  async addKey(name: string, keyLine: string, options: ActorOptions): Promise<SshKeyInfo> {
    const row = await getUserRow(this.#db, name);
    const key = parseSshPublicKey(keyLine);
    const existing = await this.#findKey(row.id, key.fingerprint);
    if (existing !== undefined)
      throw alreadyExists(`user "${name}" already has key ${key.fingerprint}`);
    await this.#append(name, 'admin.user.key.add', options.actor, {
      fingerprint: key.fingerprint,
      algo: key.algo,
    });
    const values = keyRow(row.id, key, this.#clock());
    try {
      await this.#db.insertInto('ssh_keys').values(values).execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw alreadyExists(`user "${name}" already has key ${key.fingerprint}`);
      throw err;
    }
    return toKeyInfo(values);
  }

  /** Removes the key with `fingerprint` (`SHA256:…`) from `name`; GH_NOT_FOUND if absent. */
  async removeKey(name: string, fingerprint: string, options: ActorOptions): Promise<void> {
    const row = await getUserRow(this.#db, name);
    const key = await this.#findKey(row.id, fingerprint);
    if (key === undefined) {
      throw new GatehouseError('GH_NOT_FOUND', {
        message: `user "${name}" has no key ${fingerprint}`,
      });
    }
    await this.#append(name, 'admin.user.key.remove', options.actor, {
      fingerprint,
      algo: key.algo,
    });
    await this.#db.deleteFrom('ssh_keys').where('id', '=', key.id).execute();
  }

  /** The SSH keys of `name`, oldest first. */
  async listKeys(name: string): Promise<SshKeyInfo[]> {
    const row = await getUserRow(this.#db, name);
    const rows = await this.#db
      .selectFrom('ssh_keys')
      .selectAll()
      .where('user_id', '=', row.id)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toKeyInfo);
  }

  /**
   * Gives `name` a new TOTP secret (sealed before it is stored), turns TOTP on, and returns the
   * `otpauth://` URI to show once. Codes of any previous secret stop working.
   */
  async enrollTotp(name: string, options: ActorOptions): Promise<string> {
    const row = await getUserRow(this.#db, name);
    const secret = generateTotpSecret();
    try {
      const sealed = await this.#sealSecret(secret, totpSealContext(row.id));
      await this.#append(name, 'admin.user.totp', options.actor, { enabled: true });
      await this.#db
        .updateTable('users')
        .set({ totp_secret: sealed, totp_enabled: 1 })
        .where('id', '=', row.id)
        .execute();
      await resetTotpSteps(this.#db, row.id);
      return totpUri(name, secret);
    } finally {
      secret.fill(0);
    }
  }

  /** Turns TOTP off for `name` and forgets the secret. */
  async disableTotp(name: string, options: ActorOptions): Promise<void> {
    const row = await getUserRow(this.#db, name);
    await this.#append(name, 'admin.user.totp', options.actor, { enabled: false });
    await this.#db
      .updateTable('users')
      .set({ totp_secret: null, totp_enabled: 0 })
      .where('id', '=', row.id)
      .execute();
    await resetTotpSteps(this.#db, row.id);
  }

  /** Disables `name`: every later authentication fails (audited as `disabled`). */
  async disable(name: string, options: ActorOptions): Promise<void> {
    await this.#setDisabled(name, true, options);
  }

  /** Enables `name` again. */
  async enable(name: string, options: ActorOptions): Promise<void> {
    await this.#setDisabled(name, false, options);
  }

  /** Replaces the roles of `name` with `roles` (each must exist). */
  async setRoles(name: string, roles: readonly string[], options: ActorOptions): Promise<void> {
    const row = await getUserRow(this.#db, name);
    const wanted = uniqueSorted(roles);
    await this.#assertRolesExist(wanted);
    const previous = (await toUser(this.#db, row)).roles;
    await this.#append(name, 'admin.user.role', options.actor, { roles: wanted, previous });
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('user_roles').where('user_id', '=', row.id).execute();
      if (wanted.length > 0) {
        await trx
          .insertInto('user_roles')
          .values(wanted.map((role) => ({ user_id: row.id, role })))
          .execute();
      }
    });
  }

  /** Adds a custom role (same name rules as users); GH_ALREADY_EXISTS when it exists. */
  async addRole(
    role: string,
    options: ActorOptions & { readonly description: string },
  ): Promise<void> {
    assertName(role, 'role');
    const existing = await this.#db
      .selectFrom('roles')
      .select('name')
      .where('name', '=', role)
      .executeTakeFirst();
    if (existing !== undefined) throw alreadyExists(`role "${role}" already exists`);
    await this.#audit.append({
      type: 'admin.role.add',
      data: { by: options.actor, role, description: options.description },
    });
    try {
      await this.#db
        .insertInto('roles')
        .values({
          name: role,
          description: options.description,
          is_builtin: 0,
          created_at: this.#clock(),
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists(`role "${role}" already exists`);
      throw err;
    }
  }

  async #setDisabled(name: string, isDisabled: boolean, options: ActorOptions): Promise<void> {
    const row = await getUserRow(this.#db, name);
    await this.#append(
      name,
      isDisabled ? 'admin.user.disable' : 'admin.user.enable',
      options.actor,
      {},
    );
    await this.#db
      .updateTable('users')
      .set({ disabled: isDisabled ? 1 : 0 })
      .where('id', '=', row.id)
      .execute();
  }

  async #assertRolesExist(roles: readonly string[]): Promise<void> {
    if (roles.length === 0) return;
    const found = await this.#db
      .selectFrom('roles')
      .select('name')
      .where('name', 'in', roles)
      .execute();
    const known = new Set(found.map((r) => r.name));
    const missing = roles.filter((r) => !known.has(r));
    if (missing.length > 0) {
      throw new GatehouseError('GH_INVALID_ARGUMENT', {
        message: `unknown role: ${missing.join(', ')}`,
        hint: 'add the role first with "gatehouse role add"',
      });
    }
  }

  async #findKey(
    userId: string,
    fingerprint: string,
  ): Promise<{ id: string; algo: string } | undefined> {
    return this.#db
      .selectFrom('ssh_keys')
      .select(['id', 'algo'])
      .where('user_id', '=', userId)
      .where('fingerprint', '=', fingerprint)
      .executeTakeFirst();
  }

  async #append(
    userName: string,
    type: AuditEventInput['type'],
    actor: string,
    data: Readonly<Record<string, unknown>>,
  ): Promise<void> {
    await this.#audit.append({ type, user: userName, data: { by: actor, ...data } });
  }
}

/** Throws GH_INVALID_ARGUMENT unless `name` matches {@link USER_NAME_PATTERN}. */
export function assertName(name: string, kind: 'user' | 'role'): void {
  if (!isValidName(name)) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: `invalid ${kind} name "${name.slice(0, 64)}"`,
      hint: 'use 1 to 32 characters: a-z, 0-9, "_", ".", "-", starting with a letter or "_"',
    });
  }
}

async function deriveCredentials(
  password: string,
): Promise<{ passwordHash: string; scramVerifier: string }> {
  assertPasswordAcceptable(password);
  // A password shaped like an access token would be taken for one at login (tokens are
  // accepted wherever a password is), so it is refused.
  if (isTokenShaped(password)) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: 'password must not look like an access token',
    });
  }
  const [passwordHash, scramVerifier] = await Promise.all([
    hashPassword(password),
    deriveScramVerifier(password),
  ]);
  return { passwordHash, scramVerifier };
}

function keyRow(userId: string, key: SshPublicKey, now: number): Database['ssh_keys'] {
  return {
    id: newId('key'),
    user_id: userId,
    algo: key.algo,
    public_key: key.line,
    fingerprint: key.fingerprint,
    comment: key.comment,
    created_at: now,
  };
}

function toKeyInfo(row: Database['ssh_keys']): SshKeyInfo {
  return {
    id: row.id,
    algo: row.algo,
    fingerprint: row.fingerprint,
    comment: row.comment,
    publicKey: row.public_key,
    createdAt: row.created_at,
  };
}

function dedupeKeys(keys: readonly SshPublicKey[]): SshPublicKey[] {
  const seen = new Set<string>();
  return keys.filter((k) => !seen.has(k.fingerprint) && seen.add(k.fingerprint) !== undefined);
}

function uniqueSorted(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

function alreadyExists(message: string): GatehouseError {
  return new GatehouseError('GH_ALREADY_EXISTS', { message });
}
