import { createReadStream } from 'node:fs';
import { z } from 'zod';
import { requestSessionKill } from '../../lease/session-watch.js';
import { GatehouseError } from '../../core/errors.js';
import { systemClock } from '../../core/clock.js';
import type { WebDeps } from '../deps.js';
import { actorOf, can, type Principal } from '../permissions.js';
import { findRecordings, recordingPath } from '../recording-files.js';
import { route, type ApiRoute } from '../route.js';
import {
  COMMAND_EVENT_TYPES,
  getSessionRow,
  listSessions,
  sessionEvents,
  toSummary,
  TRANSFER_EVENT_TYPES,
} from '../session-queries.js';
import { auditEventSchema, epochMs, paging, sessionSchema, toAuditEvent } from './schemas.js';
import { findTranscript, readTranscriptPage } from '../transcripts.js';

const MAX_SESSION_EVENTS = 5_000;
const sidParam = z.object({ sid: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'a session id') });

/**
 * Sessions: auditors and admins see all; every other user sees only their own (read-only).
 * Only admins terminate.
 */
export function sessionRoutes(deps: WebDeps): ApiRoute[] {
  const db = deps.store.db;
  const clock = deps.clock ?? systemClock;
  const root = deps.config.recordings.dir;
  // A user without sessions.read asking for someone else's session gets "not found", so
  // session ids cannot be probed.
  const readable = async (
    principal: Principal,
    sid: string,
  ): Promise<Awaited<ReturnType<typeof getSessionRow>>> => {
    const row = await getSessionRow(db, sid);
    if (!can(principal, 'sessions.read') && row.user_name !== principal.user.name) {
      throw new GatehouseError('GH_NOT_FOUND', {
        message: `session ${sid} does not exist`,
        detail: `${principal.user.name} may not read ${sid}`,
      });
    }
    return row;
  };
  return [
    route({
      method: 'GET',
      url: '/api/sessions',
      tag: 'sessions',
      summary: 'Live and past sessions, newest first (your own unless you are an auditor or admin)',
      permission: 'self',
      query: z.object({
        user: z.string().max(64).optional(),
        target: z.string().max(128).optional(),
        kind: z.enum(['ssh', 'postgres', 'mysql']).optional(),
        status: z.enum(['active', 'ended', 'failed', 'terminated', 'abandoned']).optional(),
        from: z.coerce.number().int().optional().describe('started at or after (ms)'),
        to: z.coerce.number().int().optional().describe('started before (ms)'),
        q: z.string().max(200).optional().describe('text in a command, query or file path'),
        ...paging(50, 500),
      }),
      response: z.object({ sessions: z.array(sessionSchema), hasMore: z.boolean() }),
      handler: async ({ principal, query }) => {
        const user = can(principal, 'sessions.read') ? query.user : principal.user.name;
        if (
          !can(principal, 'sessions.read') &&
          query.user !== undefined &&
          query.user !== principal.user.name
        ) {
          return { sessions: [], hasMore: false };
        }
        return listSessions(db, { ...query, user });
      },
    }),
    route({
      method: 'GET',
      url: '/api/sessions/:sid',
      tag: 'sessions',
      summary: 'One session: recordings, commands, file transfers, its audit events and transcript',
      permission: 'self',
      params: sidParam,
      response: z.object({
        session: sessionSchema,
        recordings: z.array(z.object({ channel: z.number().int(), relPath: z.string() })),
        commands: z.array(
          z.object({
            seq: z.number().int(),
            time: epochMs,
            type: z.string(),
            channel: z.number().int().nullable(),
            command: z.string(),
          }),
        ),
        transfers: z.array(auditEventSchema),
        events: z.array(auditEventSchema),
        hasTranscript: z.boolean(),
      }),
      handler: async ({ principal, params }) => {
        const row = await readable(principal, params.sid);
        const events = await sessionEvents(db, row.sid, MAX_SESSION_EVENTS);
        const commandTypes: readonly string[] = COMMAND_EVENT_TYPES;
        const transferTypes: readonly string[] = TRANSFER_EVENT_TYPES;
        return {
          session: toSummary(row),
          recordings: await findRecordings(root, row, clock()),
          commands: events
            .filter((e) => commandTypes.includes(e.type) && typeof e.data['command'] === 'string')
            .map((e) => ({
              seq: e.seq,
              time: e.time,
              type: e.type,
              channel: typeof e.data['channel'] === 'number' ? e.data['channel'] : null,
              command: String(e.data['command']),
            })),
          transfers: events.filter((e) => transferTypes.includes(e.type)).map(toAuditEvent),
          events: events.map(toAuditEvent),
          hasTranscript: (await findTranscript(root, row, clock())) !== undefined,
        };
      },
    }),
    route({
      method: 'GET',
      url: '/api/sessions/:sid/recordings/:channel',
      tag: 'sessions',
      summary: 'The asciicast v3 recording of one channel (so far, for a live session)',
      permission: 'self',
      params: sidParam.extend({ channel: z.coerce.number().int().min(0).max(0xffffffff) }),
      produces: 'application/x-asciicast',
      handler: async ({ principal, params, reply }) => {
        const row = await readable(principal, params.sid);
        const ref = (await findRecordings(root, row, clock())).find(
          (r) => r.channel === params.channel,
        );
        if (ref === undefined)
          throw new GatehouseError('GH_NOT_FOUND', {
            message: `session ${params.sid} has no recording for channel ${params.channel}`,
          });
        const stream = createReadStream(recordingPath(root, ref.relPath));
        void reply
          .header('content-type', 'application/x-asciicast; charset=utf-8')
          .header('cache-control', 'no-store')
          .header(
            'content-disposition',
            `attachment; filename="${params.sid}-${params.channel}.cast"`,
          )
          .send(stream);
        return undefined;
      },
    }),
    route({
      method: 'GET',
      url: '/api/sessions/:sid/transcript',
      tag: 'sessions',
      summary:
        'The query transcript of a database session: each statement with its outcome, rows and timing',
      permission: 'self',
      params: sidParam,
      query: z.object(paging(1_000, 10_000)),
      response: z.object({
        header: z.object({
          protocol: z.string(),
          account: z.string(),
          database: z.string().nullable(),
          startedAt: epochMs,
        }),
        entries: z.array(
          z
            .object({
              t: z.number().describe('ms since the transcript started'),
              time: epochMs,
              type: z.string().describe('query, denied, cancel or end'),
              sql: z.string().nullable().optional().describe('redacted, cut at 64 KiB'),
              status: z.string().optional().describe('ok or error'),
              durationMs: z.number().optional(),
              rows: z.number().nullable().optional(),
              affectedRows: z.number().optional().describe('MySQL: rows changed'),
              sqlstate: z.string().optional(),
              error: z.string().optional(),
            })
            .catchall(z.unknown()),
        ),
        isTruncated: z
          .boolean()
          .describe('the last line was cut (the session is running, or a crash)'),
        hasMore: z.boolean(),
      }),
      handler: async ({ principal, params, query }) => {
        const row = await readable(principal, params.sid);
        const relPath = await findTranscript(root, row, clock());
        if (relPath === undefined)
          throw new GatehouseError('GH_NOT_FOUND', {
            message: `session ${params.sid} has no query transcript`,
          });
        const page = await readTranscriptPage(root, relPath, query);
        const h = page.transcript.header;
        return {
          header: {
            protocol: h.protocol,
            account: h.account,
            database: h.database,
            startedAt: h.startedAt,
          },
          entries: page.entries,
          isTruncated: page.transcript.isTruncated,
          hasMore: page.hasMore,
        };
      },
    }),
    route({
      method: 'POST',
      url: '/api/sessions/:sid/terminate',
      tag: 'sessions',
      summary: 'End a live session now (within a second, on whichever gateway holds it)',
      permission: 'sessions.terminate',
      params: sidParam,
      body: z.object({
        reason: z.string().trim().min(1).max(200).default('terminated from the web console'),
      }),
      handler: async ({ principal, params, body }) => {
        const row = await getSessionRow(db, params.sid);
        if (row.status !== 'active')
          throw new GatehouseError('GH_INVALID_ARGUMENT', {
            message: `session ${params.sid} is not live (${row.status})`,
          });
        await deps.audit.append({
          type: 'admin.session.kill',
          user: row.user_name,
          sid: row.sid,
          target: row.target,
          data: { by: actorOf(principal), reason: body.reason },
        });
        await requestSessionKill(db, row.sid, body.reason);
        return undefined;
      },
    }),
  ];
}
