import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatehouseError, toGatehouseError } from '../core/errors.js';
import type { Logger } from '../log/index.js';
import { can, type Permission, type Principal } from './permissions.js';
import { sendProblem } from './problem.js';
import type { WebAuth } from './web-auth.js';

/** HTTP methods the API uses. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** What a route handler gets: the validated inputs and the caller. */
export interface RouteContext<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
}

interface RouteBase<P, Q, B, R> {
  readonly method: HttpMethod;
  /** Fastify path, e.g. `/api/sessions/:sid`. */
  readonly url: string;
  readonly summary: string;
  readonly tag: string;
  readonly params?: z.ZodType<P>;
  readonly query?: z.ZodType<Q>;
  readonly body?: z.ZodType<B>;
  /** Schema of the 200 JSON answer; absent: 204 No Content. */
  readonly response?: z.ZodType<R>;
  /** The answer is not JSON (a file): the handler sends it and `produces` names its type. */
  readonly produces?: string;
}

/** A route any caller may use (login, health, the OpenAPI document). */
export interface PublicRoute<P = unknown, Q = unknown, B = unknown, R = unknown> extends RouteBase<
  P,
  Q,
  B,
  R
> {
  readonly permission: 'public';
  handler(ctx: RouteContext<P, Q, B>): Promise<R>;
}

/** A route that needs a signed-in caller holding `permission`. */
export interface AuthedRoute<P = unknown, Q = unknown, B = unknown, R = unknown> extends RouteBase<
  P,
  Q,
  B,
  R
> {
  readonly permission: Permission;
  handler(ctx: RouteContext<P, Q, B> & { readonly principal: Principal }): Promise<R>;
}

/** Any API route. */
export type ApiRoute<P = unknown, Q = unknown, B = unknown, R = unknown> =
  PublicRoute<P, Q, B, R> | AuthedRoute<P, Q, B, R>;

/** Declares a route; the identity function keeps the handler's input types tied to the schemas. */
export function route<P = undefined, Q = undefined, B = undefined, R = undefined>(
  spec: AuthedRoute<P, Q, B, R>,
): AuthedRoute<P, Q, B, R>;
export function route<P = undefined, Q = undefined, B = undefined, R = undefined>(
  spec: PublicRoute<P, Q, B, R>,
): PublicRoute<P, Q, B, R>;
export function route(spec: ApiRoute): ApiRoute {
  return spec;
}

/**
 * Registers `routes` on `app`. For each request, in this order: who is calling (401),
 * whether their role allows the route (403), CSRF and origin for cookie sessions (403), the
 * zod-validated params, query and body (400), then the handler. Errors become problem JSON;
 * an unexpected one is logged and answered as `internal error`.
 */
export function registerRoutes(
  app: FastifyInstance,
  routes: readonly ApiRoute[],
  deps: { readonly auth: WebAuth; readonly log: Logger },
): void {
  for (const spec of routes) {
    app.route({
      method: spec.method,
      url: spec.url,
      handler: async (request, reply) => {
        try {
          const principal =
            spec.permission === 'public' ? undefined : await deps.auth.principalOf(request);
          if (principal !== undefined && spec.permission !== 'public') {
            if (!can(principal, spec.permission)) {
              throw new GatehouseError('GH_FORBIDDEN', {
                detail: `${principal.user.name} lacks ${spec.permission} for ${spec.method} ${spec.url}`,
              });
            }
            deps.auth.assertCsrf(request, principal);
          }
          // Inputs are validated only for a caller allowed to make the call.
          const base = {
            request,
            reply,
            params: parseInput(spec.params, request.params, 'path'),
            query: parseInput(spec.query, request.query, 'query'),
            body: parseInput(spec.body, request.body, 'body'),
          };
          const result: unknown =
            spec.permission === 'public' || principal === undefined
              ? await (spec as PublicRoute).handler(base)
              : await spec.handler({ ...base, principal });
          if (reply.sent || spec.produces !== undefined) return reply;
          if (spec.response === undefined) return reply.code(204).send();
          return reply.header('cache-control', 'no-store').send(result);
        } catch (err) {
          const gh = toGatehouseError(err);
          if (gh.code === 'GH_INTERNAL')
            deps.log.error({ err, route: `${spec.method} ${spec.url}` }, 'web request failed');
          else deps.log.debug({ code: gh.code, detail: gh.detail }, 'web request refused');
          return sendProblem(reply, gh);
        }
      },
    });
  }
}

function parseInput<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (schema === undefined) return undefined as T;
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path =
    issue === undefined || issue.path.length === 0 ? where : `${where}.${issue.path.join('.')}`;
  throw new GatehouseError('GH_INVALID_ARGUMENT', {
    message: `invalid ${path}: ${issue?.message ?? 'invalid value'}`,
  });
}
