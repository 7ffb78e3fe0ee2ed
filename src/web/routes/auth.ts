import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { GatehouseError } from '../../core/errors.js';
import type { User } from '../../core/types.js';
import { PERMISSIONS, type Principal } from '../permissions.js';
import { route, type ApiRoute } from '../route.js';
import { SESSION_COOKIE, sessionPrincipal, type WebAuth } from '../web-auth.js';
import { SESSION_MAX_MS, type WebSessionStore } from '../web-sessions.js';
import type { WebDeps } from '../deps.js';

const meSchema = z.object({
  name: z.string(),
  roles: z.array(z.string()),
  permissions: z.array(z.enum(PERMISSIONS)),
  hasTotp: z.boolean(),
  via: z.enum(['session', 'token']),
  csrfToken: z
    .string()
    .optional()
    .describe('send it as X-CSRF-Token on every change (console sessions only)'),
});

const loginResult = z.discriminatedUnion('status', [
  z.object({ status: z.literal('ok'), me: meSchema }),
  z.object({
    status: z.literal('totp-required'),
    ticket: z
      .string()
      .describe('single-use, valid 5 minutes: send it with the code to /api/auth/totp'),
  }),
]);

/** The signed-in caller as the console sees it. */
export function describeMe(principal: Principal): z.infer<typeof meSchema> {
  return {
    name: principal.user.name,
    roles: [...principal.user.roles],
    permissions: PERMISSIONS.filter((p) => principal.permissions.has(p)),
    hasTotp: principal.user.hasTotp,
    via: principal.via,
    ...(principal.csrfToken === undefined ? {} : { csrfToken: principal.csrfToken }),
  };
}

/** What the console's routes need besides {@link WebDeps}: its sessions, its caller check, the cookie flag. */
export interface ConsoleRouteDeps {
  readonly sessions: WebSessionStore;
  readonly auth: WebAuth;
  readonly secureCookie: boolean;
}

/** Login (password, then TOTP when enrolled), logout and "who am I". */
export function authRoutes(deps: WebDeps, web: ConsoleRouteDeps): ApiRoute[] {
  const startSession = async (
    user: User,
    clientAddr: string,
    reply: FastifyReply,
  ): Promise<z.infer<typeof loginResult>> => {
    const { secret, session } = await web.sessions.create(user.name, clientAddr);
    void reply.setCookie(SESSION_COOKIE, secret, {
      path: '/',
      httpOnly: true,
      secure: web.secureCookie,
      sameSite: 'strict',
      maxAge: Math.floor(SESSION_MAX_MS / 1000),
    });
    return { status: 'ok', me: describeMe(sessionPrincipal(user, session)) };
  };
  return [
    route({
      method: 'POST',
      url: '/api/auth/login',
      tag: 'auth',
      summary: 'Sign in with a password; answers totp-required when the user has TOTP',
      permission: 'public',
      body: z.object({ user: z.string().min(1).max(64), password: z.string().min(1).max(1024) }),
      response: loginResult,
      handler: async ({ body, request, reply }) => {
        // The Authenticator audits every outcome and applies the lockout; all failures look alike.
        const user = await deps.authenticator.verifyPassword(body.user, body.password, {
          clientAddr: request.ip,
          method: 'web-password',
        });
        if (user.hasTotp)
          return {
            status: 'totp-required',
            ticket: await web.sessions.createLoginTicket(user.name),
          };
        return startSession(user, request.ip, reply);
      },
    }),
    route({
      method: 'POST',
      url: '/api/auth/totp',
      tag: 'auth',
      summary: 'Second step of a login: the TOTP code with the ticket from /api/auth/login',
      permission: 'public',
      body: z.object({
        ticket: z.string().min(1).max(128),
        code: z.string().regex(/^\s*\d{6}\s*$/, 'a 6-digit code'),
      }),
      response: loginResult,
      handler: async ({ body, request, reply }) => {
        const name = await web.sessions.redeemLoginTicket(body.ticket);
        if (name === undefined)
          throw new GatehouseError('GH_AUTH_FAILED', {
            detail: 'unknown, used or expired login ticket',
          });
        const user = await deps.authenticator.verifyTotp(name, body.code, {
          clientAddr: request.ip,
          method: 'web-totp',
        });
        return startSession(user, request.ip, reply);
      },
    }),
    route({
      method: 'POST',
      url: '/api/auth/logout',
      tag: 'auth',
      summary: 'Sign out: ends this console session',
      permission: 'self',
      handler: async ({ request, reply }) => {
        const secret = request.cookies[SESSION_COOKIE];
        if (secret !== undefined) await web.sessions.delete(secret);
        void reply.clearCookie(SESSION_COOKIE, {
          path: '/',
          httpOnly: true,
          secure: web.secureCookie,
          sameSite: 'strict',
        });
        return undefined;
      },
    }),
    route({
      method: 'GET',
      url: '/api/auth/me',
      tag: 'auth',
      summary: 'The signed-in user, their permissions and the CSRF token',
      permission: 'self',
      response: meSchema,
      handler: ({ principal }) => Promise.resolve(describeMe(principal)),
    }),
  ];
}
