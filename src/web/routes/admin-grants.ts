import { z } from 'zod';
import {
  formatScope,
  formatSubject,
  parseGrantScope,
  parseGrantSubject,
} from '../../policy/index.js';
import type { Grant } from '../../core/types.js';
import type { WebDeps } from '../deps.js';
import { actorOf } from '../permissions.js';
import { route, type ApiRoute } from '../route.js';
import { epochMs, idParams } from './schemas.js';

const grantSchema = z.object({
  id: z.string(),
  subject: z.string().describe('a user name, or @role'),
  scope: z.string().describe('a target name, or label:key=value'),
  expiresAt: epochMs.nullable(),
  reason: z.string().nullable(),
  createdBy: z.string(),
  createdAt: epochMs,
  revokedAt: epochMs.nullable(),
  revokedBy: z.string().nullable(),
  isActive: z.boolean(),
});
const gatewaySchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string(),
  signKeyId: z.string(),
  enrolledAt: epochMs,
  revokedAt: epochMs.nullable(),
});
const MAX_GRANT_MINUTES = 366 * 24 * 60;

function toGrant(g: Grant, now: number): z.infer<typeof grantSchema> {
  const isActive =
    g.revokedAt === null && g.createdAt <= now && (g.expiresAt === null || now < g.expiresAt);
  return {
    id: g.id,
    subject: formatSubject(g.subject),
    scope: formatScope(g.scope),
    expiresAt: g.expiresAt,
    reason: g.reason,
    createdBy: g.createdBy,
    createdAt: g.createdAt,
    revokedAt: g.revokedAt,
    revokedBy: g.revokedBy,
    isActive,
  };
}

/** Admin: grants (for a duration; revoke) and gateways. Auditors read. */
export function adminGrantRoutes(deps: WebDeps): ApiRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/admin/grants',
      tag: 'admin',
      summary: 'Grants, newest first (in force only, unless all=true)',
      permission: 'admin.read',
      query: z.object({ all: z.enum(['true', 'false']).default('false') }),
      response: z.object({ grants: z.array(grantSchema) }),
      handler: async ({ query }) => {
        const now = Date.now();
        return {
          grants: (await deps.grants.list({ includeInactive: query.all === 'true' })).map((g) =>
            toGrant(g, now),
          ),
        };
      },
    }),
    route({
      method: 'POST',
      url: '/api/admin/grants',
      tag: 'admin',
      summary:
        'Grant a user or @role a target (or label:key=value) for a number of minutes, or until revoked',
      permission: 'admin.write',
      body: z.object({
        subject: z.string().min(1).max(64),
        scope: z.string().min(1).max(200),
        minutes: z
          .number()
          .int()
          .min(1)
          .max(MAX_GRANT_MINUTES)
          .optional()
          .describe('absent: until revoked'),
        reason: z.string().max(500).optional(),
      }),
      response: grantSchema,
      handler: async ({ principal, body }) => {
        const grant = await deps.grants.create(
          {
            subject: parseGrantSubject(body.subject.trim()),
            scope: parseGrantScope(body.scope.trim()),
            durationMs: body.minutes === undefined ? undefined : body.minutes * 60_000,
            reason: body.reason,
          },
          { actor: actorOf(principal) },
        );
        return toGrant(grant, Date.now());
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/admin/grants/:id',
      tag: 'admin',
      summary: 'Revoke a grant at once (sessions relying on it end within seconds)',
      permission: 'admin.write',
      params: idParams,
      handler: async ({ principal, params }) => {
        await deps.grants.revoke(params.id, { actor: actorOf(principal) });
      },
    }),
    route({
      method: 'GET',
      url: '/api/admin/gateways',
      tag: 'admin',
      summary: 'Enrolled gateways',
      permission: 'admin.read',
      response: z.object({ gateways: z.array(gatewaySchema) }),
      handler: async () => ({
        gateways: (await deps.gateways.list()).map((g) => ({
          id: g.id,
          name: g.name,
          status: g.status,
          signKeyId: g.signKeyId,
          enrolledAt: g.enrolledAt,
          revokedAt: g.revokedAt,
        })),
      }),
    }),
    route({
      method: 'POST',
      url: '/api/admin/gateways/enroll-token',
      tag: 'admin',
      summary: 'A one-time token a remote gateway enrols with; shown this once',
      permission: 'admin.write',
      body: z.object({
        name: z.string().min(1).max(63),
        minutes: z
          .number()
          .int()
          .min(1)
          .max(7 * 24 * 60)
          .default(60),
      }),
      response: z.object({ token: z.string(), name: z.string(), expiresAt: epochMs }),
      handler: async ({ principal, body }) => {
        const t = await deps.gateways.createEnrollToken(body.name, {
          ttlMs: body.minutes * 60_000,
          actor: actorOf(principal),
        });
        return { token: t.token, name: t.name, expiresAt: t.expiresAt };
      },
    }),
    route({
      method: 'POST',
      url: '/api/admin/gateways/:id/revoke',
      tag: 'admin',
      summary: 'Revoke a gateway: it can no longer get grants or unlock credentials',
      permission: 'admin.write',
      params: idParams,
      handler: async ({ principal, params }) => {
        await deps.gateways.revoke(params.id, { actor: actorOf(principal) });
      },
    }),
  ];
}
