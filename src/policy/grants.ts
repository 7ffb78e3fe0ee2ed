import type { Kysely, Selectable } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import { isGrantActive } from '../core/authorize.js';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Grant, GrantScope, GrantSubject } from '../core/types.js';
import type { Database, GrantsTable } from '../store/schema.js';
import { splitLabel } from './targets.js';

/** What an operator gives to create a grant. */
export interface NewGrant {
  readonly subject: GrantSubject;
  readonly scope: GrantScope;
  /** Lifetime in ms; undefined means until revoked. */
  readonly durationMs?: number | undefined;
  readonly reason?: string | undefined;
}

/** Dependencies of {@link Grants}. */
export interface GrantsDeps {
  readonly db: Kysely<Database>;
  readonly audit: AuditWriter;
  readonly clock?: Clock;
}

const MAX_REASON_LENGTH = 500;

/** Grants of targets to users and roles, with expiry and revocation. Every change is audited. */
export class Grants {
  readonly #db: Kysely<Database>;
  readonly #audit: AuditWriter;
  readonly #clock: Clock;

  constructor(deps: GrantsDeps) {
    this.#db = deps.db;
    this.#audit = deps.audit;
    this.#clock = deps.clock ?? systemClock;
  }

  /** Creates a grant after checking that its subject and target exist. */
  async create(input: NewGrant, options: { readonly actor: string }): Promise<Grant> {
    await this.#checkSubject(input.subject);
    await this.#checkScope(input.scope);
    if (
      input.durationMs !== undefined &&
      (!Number.isFinite(input.durationMs) || input.durationMs <= 0)
    ) {
      throw new GatehouseError('GH_INVALID_ARGUMENT', {
        message: 'grant duration must be positive',
      });
    }
    const reason = input.reason?.trim() ?? '';
    if (reason.length > MAX_REASON_LENGTH) {
      throw new GatehouseError('GH_INVALID_ARGUMENT', {
        message: `grant reason is longer than ${MAX_REASON_LENGTH} characters`,
      });
    }
    const now = this.#clock();
    const grant: Grant = {
      id: newId('gr'),
      subject: input.subject,
      scope: input.scope,
      expiresAt: input.durationMs === undefined ? null : now + input.durationMs,
      reason: reason === '' ? null : reason,
      createdBy: options.actor,
      createdAt: now,
      revokedAt: null,
      revokedBy: null,
    };
    await this.#db.transaction().execute(async (trx) => {
      await trx.insertInto('grants').values(toRow(grant)).execute();
      await this.#audit.append(
        {
          type: 'grant.create',
          user: grant.subject.kind === 'user' ? grant.subject.name : null,
          target: grant.scope.kind === 'target' ? grant.scope.name : null,
          data: {
            by: options.actor,
            grantId: grant.id,
            subject: formatSubject(grant.subject),
            scope: formatScope(grant.scope),
            expiresAt: grant.expiresAt,
            reason: grant.reason,
          },
        },
        { trx },
      );
    });
    return grant;
  }

  /** Revokes a grant at once; sessions relying on it are ended by the gateways. */
  async revoke(id: string, options: { readonly actor: string }): Promise<Grant> {
    const grant = await this.get(id);
    if (grant.revokedAt !== null) {
      throw new GatehouseError('GH_INVALID_ARGUMENT', {
        message: `grant ${id} is already revoked`,
      });
    }
    const now = this.#clock();
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('grants')
        .set({ revoked_at: now, revoked_by: options.actor })
        .where('id', '=', id)
        .execute();
      await this.#audit.append(
        {
          type: 'grant.revoke',
          user: grant.subject.kind === 'user' ? grant.subject.name : null,
          target: grant.scope.kind === 'target' ? grant.scope.name : null,
          data: {
            by: options.actor,
            grantId: id,
            subject: formatSubject(grant.subject),
            scope: formatScope(grant.scope),
          },
        },
        { trx },
      );
    });
    return { ...grant, revokedAt: now, revokedBy: options.actor };
  }

  /** The grant with this id; GH_NOT_FOUND otherwise. */
  async get(id: string): Promise<Grant> {
    const row = await this.#db
      .selectFrom('grants')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined)
      throw new GatehouseError('GH_NOT_FOUND', { message: `grant ${id} does not exist` });
    return fromRow(row);
  }

  /** Grants, newest first; only those in force unless `includeInactive`. */
  async list(options: { readonly includeInactive?: boolean } = {}): Promise<Grant[]> {
    const rows = await this.#db
      .selectFrom('grants')
      .selectAll()
      .orderBy('created_at', 'desc')
      .execute();
    const now = this.#clock();
    return rows
      .map(fromRow)
      .filter((g) => options.includeInactive === true || isGrantActive(g, now));
  }

  /**
   * Every grant that could apply to a user with these roles (active or not; authorize decides).
   * Revoked grants only with `includeRevoked` (to say why access was denied).
   */
  async forSubjects(
    userName: string,
    roles: readonly string[],
    options: { readonly includeRevoked?: boolean } = {},
  ): Promise<Grant[]> {
    const rows = await this.#db
      .selectFrom('grants')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb.and([eb('subject_kind', '=', 'user'), eb('subject', '=', userName)]),
          ...(roles.length === 0
            ? []
            : [eb.and([eb('subject_kind', '=', 'role'), eb('subject', 'in', [...roles])])]),
        ]),
      )
      .$if(options.includeRevoked !== true, (qb) => qb.where('revoked_at', 'is', null))
      .execute();
    return rows.map(fromRow);
  }

  async #checkSubject(subject: GrantSubject): Promise<void> {
    const found =
      subject.kind === 'user'
        ? await this.#db
            .selectFrom('users')
            .select('id')
            .where('name', '=', subject.name)
            .executeTakeFirst()
        : await this.#db
            .selectFrom('roles')
            .select('name')
            .where('name', '=', subject.name)
            .executeTakeFirst();
    if (found === undefined) {
      throw new GatehouseError('GH_NOT_FOUND', {
        message: `${subject.kind} "${subject.name}" does not exist`,
      });
    }
  }

  async #checkScope(scope: GrantScope): Promise<void> {
    if (scope.kind === 'label') return;
    const found = await this.#db
      .selectFrom('targets')
      .select('id')
      .where('name', '=', scope.name)
      .executeTakeFirst();
    if (found === undefined)
      throw new GatehouseError('GH_NOT_FOUND', {
        message: `target "${scope.name}" does not exist`,
      });
  }
}

/** Parses the CLI's `USER` or `@ROLE`. */
export function parseGrantSubject(text: string): GrantSubject {
  return text.startsWith('@')
    ? { kind: 'role', name: text.slice(1) }
    : { kind: 'user', name: text };
}

/** Parses the CLI's `TARGET` or `label:k=v`. */
export function parseGrantScope(text: string): GrantScope {
  if (text.startsWith('label:')) {
    const [key, value] = splitLabel(text.slice('label:'.length));
    return { kind: 'label', key, value };
  }
  return { kind: 'target', name: text };
}

/** `alice` or `@ops`. */
export function formatSubject(subject: GrantSubject): string {
  return subject.kind === 'user' ? subject.name : `@${subject.name}`;
}

/** `web-1` or `label:env=prod`. */
export function formatScope(scope: GrantScope): string {
  return scope.kind === 'target' ? scope.name : `label:${scope.key}=${scope.value}`;
}

function toRow(grant: Grant): GrantsTable {
  return {
    id: grant.id,
    subject_kind: grant.subject.kind,
    subject: grant.subject.name,
    scope_kind: grant.scope.kind,
    scope:
      grant.scope.kind === 'target' ? grant.scope.name : `${grant.scope.key}=${grant.scope.value}`,
    expires_at: grant.expiresAt,
    reason: grant.reason,
    created_by: grant.createdBy,
    created_at: grant.createdAt,
    revoked_at: grant.revokedAt,
    revoked_by: grant.revokedBy,
  };
}

function fromRow(row: Selectable<GrantsTable>): Grant {
  const subject: GrantSubject = {
    kind: row.subject_kind === 'role' ? 'role' : 'user',
    name: row.subject,
  };
  let scope: GrantScope;
  if (row.scope_kind === 'label') {
    const [key, value] = splitLabel(row.scope);
    scope = { kind: 'label', key, value };
  } else {
    scope = { kind: 'target', name: row.scope };
  }
  return {
    id: row.id,
    subject,
    scope,
    expiresAt: row.expires_at,
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
  };
}
