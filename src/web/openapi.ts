import { z } from 'zod';
import type { ApiRoute } from './route.js';

type JsonSchema = Record<string, unknown>;

const PROBLEM_SCHEMA: JsonSchema = {
  type: 'object',
  description:
    'RFC 9457 problem document; `code` is a stable Gatehouse error code (docs/errors.md)',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    hint: { type: 'string' },
  },
  required: ['type', 'title', 'status', 'code'],
};

/**
 * The OpenAPI 3.1 document of `routes`, generated from the same zod schemas that validate
 * them (JSON Schema 2020-12 via `z.toJSONSchema`). Each operation names the permission it
 * needs in `x-permission`, which the permission tests read.
 */
export function buildOpenApi(
  routes: readonly ApiRoute[],
  info: { readonly version: string },
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const op: JsonSchema = {
      operationId: operationId(r),
      summary: r.summary,
      tags: [r.tag],
      'x-permission': r.permission,
      security: r.permission === 'public' ? [] : [{ cookieSession: [] }, { bearerToken: [] }],
      parameters: [...parametersOf(r.params, 'path'), ...parametersOf(r.query, 'query')],
      responses: responsesOf(r),
    };
    if (r.body !== undefined) {
      op['requestBody'] = {
        required: true,
        content: { 'application/json': { schema: toSchema(r.body, 'input') } },
      };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse API',
      version: info.version,
      description:
        'The API behind the Gatehouse console. Authenticate with a console session (cookie, and the `X-CSRF-Token` header on changes) or a personal access token (`Authorization: Bearer ght_…`).',
    },
    paths,
    components: {
      schemas: { Problem: PROBLEM_SCHEMA },
      securitySchemes: {
        cookieSession: { type: 'apiKey', in: 'cookie', name: '__Host-gatehouse' },
        bearerToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'a personal access token (ght_…)',
        },
      },
    },
  };
}

function operationId(r: ApiRoute): string {
  const words = r.url
    .replace(/^\/api\//, '')
    .split(/[/-]/)
    .filter((w) => w !== '')
    .map((w) => (w.startsWith(':') ? `by ${w.slice(1)}` : w));
  return [r.method.toLowerCase(), ...words]
    .join(' ')
    .split(' ')
    .map((w, i) => (i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1)))
    .join('');
}

function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (schema === undefined) return [];
  const json = toSchema(schema, 'input');
  const properties = (json['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json['required'] ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: s,
    ...(typeof s['description'] === 'string' ? { description: s['description'] } : {}),
  }));
}

function responsesOf(r: ApiRoute): JsonSchema {
  const problem = (description: string): JsonSchema => ({
    description,
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  });
  const ok: JsonSchema =
    r.produces !== undefined
      ? { '200': { description: 'the file', content: { [r.produces]: {} } } }
      : r.response === undefined
        ? { '204': { description: 'done' } }
        : {
            '200': {
              description: 'OK',
              content: { 'application/json': { schema: toSchema(r.response, 'output') } },
            },
          };
  return {
    ...ok,
    '400': problem('invalid input (GH_INVALID_ARGUMENT)'),
    ...(r.permission === 'public'
      ? {}
      : {
          '401': problem('not signed in (GH_AUTH_REQUIRED) or bad token (GH_AUTH_FAILED)'),
          '403': problem(
            'role lacks the permission (GH_FORBIDDEN) or CSRF check failed (GH_CSRF_REJECTED)',
          ),
        }),
  };
}

function toSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  delete json['$schema'];
  return json;
}
