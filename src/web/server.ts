import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatehouseError } from '../core/errors.js';
import type { ConnectionGate } from '../listen/index.js';
import { admitWebConnections } from './admit-connections.js';
import type { WebDeps } from './deps.js';
import { buildOpenApi } from './openapi.js';
import { sendProblem } from './problem.js';
import { registerRoutes, route, type ApiRoute } from './route.js';
import { accessRoutes } from './routes/access.js';
import { adminGrantRoutes } from './routes/admin-grants.js';
import { adminTargetRoutes } from './routes/admin-targets.js';
import { adminUserRoutes } from './routes/admin-users.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes, type ConsoleRouteDeps } from './routes/auth.js';
import { LIVE_PROTOCOL, registerLiveRoute } from './routes/live.js';
import { sessionRoutes } from './routes/sessions.js';
import { addSecurityHeaders } from './security-headers.js';
import { WebAuth } from './web-auth.js';
import { WebSessionStore } from './web-sessions.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where `npm run build:web` puts the console (Vite output). */
export const CONSOLE_DIR = join(REPO_ROOT, 'dist', 'console');
const BODY_LIMIT_BYTES = 256 * 1024;

/** Options of {@link startWebConsole}. */
export interface WebConsoleOptions {
  readonly host: string;
  readonly port: number;
  /** Serve HTTPS with `tls` (the default); plain HTTP only when `web.https` is false. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** Where the built console is (default {@link CONSOLE_DIR}). */
  readonly consoleDir?: string;
  /** Connection limits and the login deadline shared with the other listeners (`gatehouse serve`). */
  readonly gate?: ConnectionGate | undefined;
}

/** The running web console and API. */
export interface RunningWebConsole extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Every API route, in the order the OpenAPI document lists them. */
export function apiRoutes(deps: WebDeps, web: ConsoleRouteDeps): ApiRoute[] {
  return [
    ...authRoutes(deps, web),
    ...accessRoutes(deps),
    ...sessionRoutes(deps),
    ...auditRoutes(deps),
    ...adminUserRoutes(deps, web),
    ...adminTargetRoutes(deps),
    ...adminGrantRoutes(deps),
  ];
}

/** Builds the fastify app: API, live view, OpenAPI document, console files, security headers. */
export async function buildWebApp(
  deps: WebDeps,
  options: WebConsoleOptions,
): Promise<FastifyInstance> {
  const isHttps = options.tls !== undefined;
  const app = Fastify({
    ...(options.tls === undefined
      ? {}
      : { https: { cert: options.tls.cert, key: options.tls.key } }),
    bodyLimit: BODY_LIMIT_BYTES,
    logger: false,
    trustProxy: false,
    return503OnClosing: true,
  });
  if (options.gate !== undefined) admitWebConnections(app.server, options.gate);
  const sessions = new WebSessionStore({
    db: deps.store.db,
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
  });
  const auth = new WebAuth({
    db: deps.store.db,
    sessions,
    authenticator: deps.authenticator,
    tokens: deps.tokens,
    users: deps.users,
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
  });
  const log = deps.logger.child({ component: 'web' });
  addSecurityHeaders(app, { isHttps });
  await app.register(fastifyCookie);
  await app.register(fastifyWebsocket, {
    options: {
      maxPayload: 64 * 1024,
      handleProtocols: (protocols: Set<string>) =>
        protocols.has(LIVE_PROTOCOL) ? LIVE_PROTOCOL : false,
    },
  });
  const routes = apiRoutes(deps, { sessions, auth, secureCookie: true });
  const version = readVersion();
  const openApi = buildOpenApi(routes, { version });
  const meta: ApiRoute[] = [
    route({
      method: 'GET',
      url: '/api/health',
      tag: 'meta',
      summary: 'Liveness: answers while the control plane runs',
      permission: 'public',
      response: z.object({ status: z.literal('ok'), version: z.string() }),
      handler: () => Promise.resolve({ status: 'ok' as const, version }),
    }),
    route({
      method: 'GET',
      url: '/api/openapi.json',
      tag: 'meta',
      summary:
        'This API as an OpenAPI 3.1 document, generated from the schemas the routes validate with',
      permission: 'public',
      response: z.record(z.string(), z.unknown()),
      handler: () => Promise.resolve(openApi),
    }),
  ];
  registerRoutes(app, [...routes, ...meta], { auth, log });
  registerLiveRoute(app, deps, auth);

  const consoleDir = options.consoleDir ?? CONSOLE_DIR;
  const hasConsole = existsSync(join(consoleDir, 'index.html'));
  if (hasConsole) {
    await app.register(fastifyStatic, {
      root: consoleDir,
      wildcard: false,
      index: false,
      setHeaders: (res, path) => {
        res.setHeader(
          'cache-control',
          path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });
  }
  app.setNotFoundHandler(async (request, reply) => {
    if (
      request.url.startsWith('/api/') ||
      request.url === '/api' ||
      (request.method !== 'GET' && request.method !== 'HEAD')
    ) {
      return sendProblem(
        reply,
        new GatehouseError('GH_NOT_FOUND', {
          message: `no such API route: ${request.method} ${request.url.split('?')[0] ?? ''}`,
        }),
      );
    }
    // Console routes (/sessions/…, /admin/…) are the single-page app's.
    if (!hasConsole)
      return reply
        .code(503)
        .type('text/plain')
        .send('the web console is not built: run "npm run build"\n');
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  });
  app.setErrorHandler(async (err, _request, reply) => {
    const status =
      typeof (err as { statusCode?: unknown }).statusCode === 'number'
        ? (err as { statusCode: number }).statusCode
        : 500;
    if (status >= 400 && status < 500) {
      return sendProblem(
        reply,
        new GatehouseError('GH_INVALID_ARGUMENT', {
          message: 'malformed request',
          detail: err instanceof Error ? err.message : String(err),
        }),
      );
    }
    log.error({ err }, 'web request failed');
    return sendProblem(reply, new GatehouseError('GH_INTERNAL'));
  });
  return app;
}

/** Starts the web console and API on `options.host:port`. */
export async function startWebConsole(
  deps: WebDeps,
  options: WebConsoleOptions,
): Promise<RunningWebConsole> {
  const app = await buildWebApp(deps, options);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const scheme = options.tls === undefined ? 'http' : 'https';
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const close = async (): Promise<void> => {
    await app.close();
  };
  return { port, url: `${scheme}://${host}:${port}`, close, [Symbol.asyncDispose]: close };
}

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
