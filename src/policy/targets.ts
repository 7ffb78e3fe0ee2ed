import type { Kysely, Selectable } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import { GatehouseError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { systemClock, type Clock } from '../core/clock.js';
import {
  DEFAULT_TARGET_OPTIONS,
  TARGET_KINDS,
  type Target,
  type TargetKind,
  type TargetOptions,
} from '../core/types.js';
import type { Database, TargetsTable } from '../store/schema.js';
import { parseJsonColumn } from '../store/json.js';

const TARGET_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const LABEL_PART_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

/** What an operator gives to add a target. */
export interface NewTarget {
  readonly name: string;
  readonly kind: string;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly database?: string | undefined;
  readonly labels?: Readonly<Record<string, string>>;
  readonly options?: Partial<TargetOptions>;
}

/** Options naming who acts, for the audit trail. */
export interface ActorOptions {
  readonly actor: string;
}

/** Dependencies of {@link Targets}. */
export interface TargetsDeps {
  readonly db: Kysely<Database>;
  readonly audit: AuditWriter;
  readonly clock?: Clock;
}

/** Targets: servers and databases reachable through Gatehouse. Every change is audited. */
export class Targets {
  readonly #db: Kysely<Database>;
  readonly #audit: AuditWriter;
  readonly #clock: Clock;

  constructor(deps: TargetsDeps) {
    this.#db = deps.db;
    this.#audit = deps.audit;
    this.#clock = deps.clock ?? systemClock;
  }

  /** Adds a target; its name must be new. */
  async add(input: NewTarget, options: ActorOptions): Promise<Target> {
    const target = validateNewTarget(input, this.#clock());
    const existing = await this.find(target.name);
    if (existing !== undefined) {
      throw new GatehouseError('GH_ALREADY_EXISTS', {
        message: `target "${target.name}" already exists`,
      });
    }
    await this.#db.transaction().execute(async (trx) => {
      await trx.insertInto('targets').values(toRow(target)).execute();
      await this.#audit.append(
        {
          type: 'admin.target.add',
          target: target.name,
          data: {
            by: options.actor,
            kind: target.kind,
            host: target.host,
            port: target.port,
            username: target.username,
            labels: target.labels,
            options: target.options,
          },
        },
        { trx },
      );
    });
    return target;
  }

  /** The target with this name, or undefined. */
  async find(name: string): Promise<Target | undefined> {
    const row = await this.#db
      .selectFrom('targets')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  }

  /** The target with this name; GH_NOT_FOUND otherwise. */
  async get(name: string): Promise<Target> {
    const target = await this.find(name);
    if (target === undefined)
      throw new GatehouseError('GH_NOT_FOUND', { message: `target "${name}" does not exist` });
    return target;
  }

  /** Every target, by name. */
  async list(): Promise<Target[]> {
    const rows = await this.#db.selectFrom('targets').selectAll().orderBy('name').execute();
    return rows.map(fromRow);
  }

  /** Removes a target (its credentials go with it). */
  async remove(name: string, options: ActorOptions): Promise<void> {
    const target = await this.get(name);
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('targets').where('id', '=', target.id).execute();
      await this.#audit.append(
        { type: 'admin.target.remove', target: name, data: { by: options.actor } },
        { trx },
      );
    });
  }

  /** Changes options of a target. */
  async updateOptions(
    name: string,
    changes: Partial<TargetOptions>,
    options: ActorOptions,
  ): Promise<Target> {
    const target = await this.get(name);
    const merged = validateOptions({ ...target.options, ...changes });
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('targets')
        .set({ options: JSON.stringify(merged) })
        .where('id', '=', target.id)
        .execute();
      await this.#audit.append(
        {
          type: 'admin.target.update',
          target: name,
          data: { by: options.actor, options: changes },
        },
        { trx },
      );
    });
    return { ...target, options: merged };
  }

  /** Pins an SSH host key (OpenSSH public key line) for a target. */
  async pinHostKey(
    name: string,
    hostKey: string,
    options: ActorOptions & { fingerprint: string },
  ): Promise<void> {
    const target = await this.get(name);
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('targets')
        .set({ host_key: hostKey })
        .where('id', '=', target.id)
        .execute();
      await this.#audit.append(
        {
          type: 'admin.target.trust',
          target: name,
          data: {
            by: options.actor,
            fingerprint: options.fingerprint,
            previous: target.hostKey === null ? null : 'replaced',
          },
        },
        { trx },
      );
    });
  }
}

/** Parses `k=v` label arguments into a record. */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const [key, value] = splitLabel(pair);
    labels[key] = value;
  }
  return labels;
}

/** Splits `k=v`; both parts must be plain. */
export function splitLabel(pair: string): [string, string] {
  const at = pair.indexOf('=');
  const key = at < 0 ? '' : pair.slice(0, at);
  const value = at < 0 ? '' : pair.slice(at + 1);
  if (!LABEL_PART_RE.test(key) || !LABEL_PART_RE.test(value)) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: `label "${pair}" is not of the form key=value`,
      hint: 'use letters, digits, ".", "_", "-" or "/", e.g. env=prod',
    });
  }
  return [key, value];
}

function validateNewTarget(input: NewTarget, now: number): Target {
  const invalid = (message: string): GatehouseError =>
    new GatehouseError('GH_INVALID_ARGUMENT', { message });
  if (!TARGET_NAME_RE.test(input.name)) {
    throw invalid(
      `target name "${input.name}" is invalid (lower-case letters, digits, ".", "_", "-"; at most 63)`,
    );
  }
  if (!(TARGET_KINDS as readonly string[]).includes(input.kind)) {
    throw invalid(`target kind "${input.kind}" is invalid (one of ${TARGET_KINDS.join(', ')})`);
  }
  if (input.host.trim() === '' || /\s/.test(input.host))
    throw invalid(`target host "${input.host}" is invalid`);
  if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535) {
    throw invalid(`target port "${input.port}" is invalid (1-65535)`);
  }
  if (input.username.trim() === '') throw invalid('target username must not be empty');
  for (const [k, v] of Object.entries(input.labels ?? {})) splitLabel(`${k}=${v}`);
  return {
    id: newId('tgt'),
    name: input.name,
    kind: input.kind as TargetKind,
    host: input.host,
    port: input.port,
    username: input.username,
    database: input.database ?? null,
    labels: { ...input.labels },
    options: validateOptions({ ...DEFAULT_TARGET_OPTIONS, ...input.options }),
    hostKey: null,
    createdAt: now,
  };
}

function validateOptions(options: TargetOptions): TargetOptions {
  for (const key of ['idleTimeoutS', 'maxSessionS', 'rotateEveryS'] as const) {
    if (!Number.isInteger(options[key]) || options[key] < 0) {
      throw new GatehouseError('GH_INVALID_ARGUMENT', {
        message: `target option ${key} must be a whole number of seconds`,
      });
    }
  }
  return options;
}

function toRow(target: Target): TargetsTable {
  return {
    id: target.id,
    name: target.name,
    kind: target.kind,
    host: target.host,
    port: target.port,
    username: target.username,
    database_name: target.database,
    labels: JSON.stringify(target.labels),
    options: JSON.stringify(target.options),
    host_key: target.hostKey,
    created_at: target.createdAt,
  };
}

function fromRow(row: Selectable<TargetsTable>): Target {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind as TargetKind,
    host: row.host,
    port: row.port,
    username: row.username,
    database: row.database_name,
    labels: parseJsonColumn<Record<string, string>>(row.labels, {}),
    options: {
      ...DEFAULT_TARGET_OPTIONS,
      ...parseJsonColumn<Partial<TargetOptions>>(row.options, {}),
    },
    hostKey: row.host_key,
    createdAt: row.created_at,
  };
}
