import { sql, type Kysely, type Selectable } from 'kysely';
import { recordFromRow } from '../audit/rows.js';
import type { AuditRecord } from '../audit/index.js';
import { GatehouseError } from '../core/errors.js';
import type { Database, SessionsTable } from '../store/schema.js';
import { parseJsonColumn } from '../store/json.js';

/** Audit event types whose text the session search looks in: commands, queries, file paths. */
export const SEARCHABLE_EVENT_TYPES = [
  'ssh.command',
  'ssh.exec',
  'db.query',
  'scp.transfer',
  'sftp.open',
  'sftp.remove',
  'sftp.rename',
  'sftp.mkdir',
  'sftp.rmdir',
] as const;

/** Event types listed as a session's commands. */
export const COMMAND_EVENT_TYPES = ['ssh.exec', 'ssh.command'] as const;
/** Event types listed as a session's file transfers and file operations. */
export const TRANSFER_EVENT_TYPES = [
  'scp.transfer',
  'sftp.open',
  'sftp.close',
  'sftp.remove',
  'sftp.rename',
  'sftp.mkdir',
  'sftp.rmdir',
  'sftp.setstat',
  'sftp.symlink',
  'sftp.hardlink',
  'sftp.copy',
] as const;

/** Filters of the session list. */
export interface SessionFilter {
  readonly user?: string | undefined;
  readonly target?: string | undefined;
  readonly kind?: string | undefined;
  readonly status?: string | undefined;
  /** Started at or after (ms). */
  readonly from?: number | undefined;
  /** Started before (ms). */
  readonly to?: number | undefined;
  /** Text in a command, query or file path of the session (case-insensitive). */
  readonly q?: string | undefined;
  readonly limit: number;
  readonly offset: number;
}

/** A session as the API shows it. */
export interface SessionSummary {
  readonly sid: string;
  readonly user: string;
  readonly target: string;
  readonly kind: string;
  readonly status: string;
  readonly gatewayId: string;
  readonly clientAddr: string | null;
  readonly startedAt: number;
  readonly endedAt: number | null;
  readonly recordingSha256: string | null;
  readonly meta: Record<string, unknown>;
}

/** Sessions matching `filter`, newest first, and whether more follow. */
export async function listSessions(
  db: Kysely<Database>,
  filter: SessionFilter,
): Promise<{ sessions: SessionSummary[]; hasMore: boolean }> {
  let query = db.selectFrom('sessions').selectAll();
  if (filter.user !== undefined) query = query.where('user_name', '=', filter.user);
  if (filter.target !== undefined) query = query.where('target', '=', filter.target);
  if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  if (filter.from !== undefined) query = query.where('started_at', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('started_at', '<', filter.to);
  const q = filter.q?.trim() ?? '';
  if (q !== '') {
    // Event data is canonical JSON: escape the text the same way, then LIKE-escape it.
    const jsonText = JSON.stringify(q.toLowerCase()).slice(1, -1);
    const pattern = `%${jsonText.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where('sid', 'in', (eb) =>
      eb
        .selectFrom('audit_events')
        .select('sid')
        .where('sid', 'is not', null)
        .where('type', 'in', [...SEARCHABLE_EVENT_TYPES])
        .where(sql<boolean>`lower(data) like ${pattern} escape '\\'`)
        .$narrowType<{ sid: string }>(),
    );
  }
  const rows = await query
    .orderBy('started_at', 'desc')
    .orderBy('sid')
    .limit(filter.limit + 1)
    .offset(filter.offset)
    .execute();
  return {
    sessions: rows.slice(0, filter.limit).map(toSummary),
    hasMore: rows.length > filter.limit,
  };
}

/** The session `sid` as stored; GH_NOT_FOUND when there is none. */
export async function getSessionRow(
  db: Kysely<Database>,
  sid: string,
): Promise<Selectable<SessionsTable>> {
  const row = await db.selectFrom('sessions').selectAll().where('sid', '=', sid).executeTakeFirst();
  if (row === undefined)
    throw new GatehouseError('GH_NOT_FOUND', { message: `session ${sid} does not exist` });
  return row;
}

/** The audit events of session `sid`, in chain order (at most `limit`). */
export async function sessionEvents(
  db: Kysely<Database>,
  sid: string,
  limit: number,
): Promise<AuditRecord[]> {
  const rows = await db
    .selectFrom('audit_events')
    .selectAll()
    .where('sid', '=', sid)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map(recordFromRow);
}

/** A stored session row as the API shows it. */
export function toSummary(row: Selectable<SessionsTable>): SessionSummary {
  return {
    sid: row.sid,
    user: row.user_name,
    target: row.target,
    kind: row.kind,
    status: row.status,
    gatewayId: row.gateway_id,
    clientAddr: row.client_addr,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    recordingSha256: row.recording_sha256,
    meta: parseJsonColumn<Record<string, unknown>>(row.meta, {}),
  };
}
