import { sql } from 'kysely';
import { z } from 'zod';
import { recordFromRow } from '../../audit/rows.js';
import { AUDIT_EVENT_TYPES, verifyAuditChain } from '../../audit/index.js';
import type { WebDeps } from '../deps.js';
import { route, type ApiRoute } from '../route.js';
import { auditEventSchema, epochMs, paging, toAuditEvent } from './schemas.js';

/** The audit chain: events (newest first), verification, signed checkpoints. Auditors and admins. */
export function auditRoutes(deps: WebDeps): ApiRoute[] {
  const db = deps.store.db;
  return [
    route({
      method: 'GET',
      url: '/api/audit/events',
      tag: 'audit',
      summary: 'Audit events, newest first, filtered by type, user, target, session or seq',
      permission: 'audit.read',
      query: z.object({
        type: z
          .string()
          .max(64)
          .optional()
          .describe('an event type, or a prefix ending in "." (e.g. "admin.")'),
        user: z.string().max(64).optional(),
        target: z.string().max(128).optional(),
        sid: z.string().max(128).optional(),
        beforeSeq: z.coerce
          .number()
          .int()
          .min(1)
          .optional()
          .describe('only events with a lower seq (paging)'),
        ...paging(100, 1_000),
      }),
      response: z.object({
        events: z.array(auditEventSchema),
        hasMore: z.boolean(),
        types: z.array(z.string()),
      }),
      handler: async ({ query }) => {
        let q = db.selectFrom('audit_events').selectAll();
        if (query.type !== undefined) {
          const prefix = `${query.type.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
          q = query.type.endsWith('.')
            ? q.where(sql<boolean>`type like ${prefix} escape '\\'`)
            : q.where('type', '=', query.type);
        }
        if (query.user !== undefined) q = q.where('user_name', '=', query.user);
        if (query.target !== undefined) q = q.where('target', '=', query.target);
        if (query.sid !== undefined) q = q.where('sid', '=', query.sid);
        if (query.beforeSeq !== undefined) q = q.where('seq', '<', query.beforeSeq);
        const rows = await q
          .orderBy('seq', 'desc')
          .limit(query.limit + 1)
          .offset(query.offset)
          .execute();
        return {
          events: rows.slice(0, query.limit).map((r) => toAuditEvent(recordFromRow(r))),
          hasMore: rows.length > query.limit,
          types: [...AUDIT_EVENT_TYPES],
        };
      },
    }),
    route({
      method: 'GET',
      url: '/api/audit/verify',
      tag: 'audit',
      summary: 'Recompute the hash chain and check checkpoint signatures and the external sink now',
      permission: 'audit.read',
      response: z.object({
        ok: z.boolean(),
        checkedAt: epochMs,
        eventCount: z.number().int(),
        lastSeq: z.number().int(),
        checkpointCount: z.number().int(),
        sinkCheckpointCount: z.number().int(),
        coveredUpToSeq: z.number().int(),
        firstBadSeq: z.number().int().optional(),
        problems: z.array(
          z.object({ kind: z.string(), seq: z.number().int().optional(), message: z.string() }),
        ),
        omittedProblemCount: z.number().int(),
      }),
      handler: async () => {
        const report = await verifyAuditChain({
          db,
          publicKey: deps.auditPublicKey,
          sinkPath: deps.config.audit.sinkFile,
        });
        return {
          ok: report.ok,
          checkedAt: Date.now(),
          eventCount: report.eventCount,
          lastSeq: report.lastSeq,
          checkpointCount: report.checkpointCount,
          sinkCheckpointCount: report.sinkCheckpointCount,
          coveredUpToSeq: report.coveredUpToSeq,
          ...(report.firstBadSeq === undefined ? {} : { firstBadSeq: report.firstBadSeq }),
          problems: report.problems.map((p) => ({
            kind: p.kind,
            ...(p.seq === undefined ? {} : { seq: p.seq }),
            message: p.message,
          })),
          omittedProblemCount: report.omittedProblemCount,
        };
      },
    }),
    route({
      method: 'GET',
      url: '/api/audit/checkpoints',
      tag: 'audit',
      summary: 'Signed checkpoints of the chain, newest first',
      permission: 'audit.read',
      query: z.object(paging(50, 1_000)),
      response: z.object({
        checkpoints: z.array(
          z.object({
            seq: z.number().int(),
            hash: z.string(),
            time: epochMs,
            keyId: z.string(),
            signature: z.string(),
          }),
        ),
        hasMore: z.boolean(),
      }),
      handler: async ({ query }) => {
        const rows = await db
          .selectFrom('audit_checkpoints')
          .selectAll()
          .orderBy('seq', 'desc')
          .limit(query.limit + 1)
          .offset(query.offset)
          .execute();
        return {
          checkpoints: rows.slice(0, query.limit).map((r) => ({
            seq: r.seq,
            hash: r.hash,
            time: r.time,
            keyId: r.key_id,
            signature: r.signature,
          })),
          hasMore: rows.length > query.limit,
        };
      },
    }),
  ];
}
