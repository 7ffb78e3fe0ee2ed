/** The web console and its API (fastify), serving the browser console built from ../../web. */
export {
  apiRoutes,
  buildWebApp,
  CONSOLE_DIR,
  startWebConsole,
  type RunningWebConsole,
  type WebConsoleOptions,
} from './server.js';
export type { WebDeps } from './deps.js';
export { PERMISSIONS, permissionsOf, type Permission, type Principal } from './permissions.js';
export { buildOpenApi } from './openapi.js';
export { CSRF_HEADER, SESSION_COOKIE } from './web-auth.js';
export { LIVE_PATH, LIVE_PROTOCOL } from './routes/live.js';
