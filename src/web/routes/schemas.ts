import { z } from 'zod';
import type { AuditRecord } from '../../audit/index.js';

/** Milliseconds since the Unix epoch. */
export const epochMs = z.number().int().describe('ms since the Unix epoch');

/** A session as listed. */
export const sessionSchema = z.object({
  sid: z.string(),
  user: z.string(),
  target: z.string(),
  kind: z.string(),
  status: z.string().describe('active, ended, failed, terminated or abandoned'),
  gatewayId: z.string(),
  clientAddr: z.string().nullable(),
  startedAt: epochMs,
  endedAt: epochMs.nullable(),
  recordingSha256: z.string().nullable(),
  meta: z.record(z.string(), z.unknown()),
});

/** One audit event. */
export const auditEventSchema = z.object({
  seq: z.number().int(),
  time: epochMs,
  type: z.string(),
  user: z.string().nullable(),
  sid: z.string().nullable(),
  target: z.string().nullable(),
  gateway: z.string().nullable(),
  clientAddr: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  hash: z.string(),
});

/** An audit record as the API shows it (without the previous hash). */
export function toAuditEvent(r: AuditRecord): z.infer<typeof auditEventSchema> {
  return {
    seq: r.seq,
    time: r.time,
    type: r.type,
    user: r.user,
    sid: r.sid,
    target: r.target,
    gateway: r.gateway,
    clientAddr: r.clientAddr,
    data: { ...r.data },
    hash: r.hash,
  };
}

/** A name in a path (user, target, role). */
export const nameParam = z.string().min(1).max(128);

/** The path params of a route on one thing known by its id (grant, gateway, token). */
export const idParams = z.object({ id: z.string().min(1).max(64) });

/** `limit`/`offset` query fields. */
export function paging(
  defaultLimit: number,
  maxLimit: number,
): {
  limit: z.ZodDefault<z.ZodCoercedNumber<unknown>>;
  offset: z.ZodDefault<z.ZodCoercedNumber<unknown>>;
} {
  return {
    limit: z.coerce.number().int().min(1).max(maxLimit).default(defaultLimit),
    offset: z.coerce.number().int().min(0).default(0),
  };
}
