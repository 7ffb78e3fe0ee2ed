import { z } from 'zod';
import { GatehouseError } from '../../core/errors.js';
import type { SshKeyInfo } from '../../identity/index.js';
import type { WebDeps } from '../deps.js';
import { actorOf } from '../permissions.js';
import { route, type ApiRoute } from '../route.js';
import type { WebSessionStore } from '../web-sessions.js';
import { epochMs, idParams, nameParam } from './schemas.js';

const userSchema = z.object({
  name: z.string(),
  roles: z.array(z.string()),
  isDisabled: z.boolean(),
  hasTotp: z.boolean(),
  isLocked: z.boolean(),
  lockedUntil: epochMs.nullable(),
  keyCount: z.number().int(),
  createdAt: epochMs,
});
const keySchema = z.object({
  fingerprint: z.string(),
  algo: z.string(),
  comment: z.string(),
  publicKey: z.string(),
  createdAt: epochMs,
});
const tokenSchema = z.object({
  id: z.string(),
  expiresAt: epochMs,
  createdAt: epochMs,
  lastUsedAt: epochMs.nullable(),
  revokedAt: epochMs.nullable(),
});
const userParam = z.object({ name: nameParam });
const password = z.string().min(1).max(1024);
const MAX_TOKEN_DAYS = 366;

/** A stored SSH key as the API shows it (without its internal id). */
function toKey(k: SshKeyInfo): z.infer<typeof keySchema> {
  return {
    fingerprint: k.fingerprint,
    algo: k.algo,
    comment: k.comment,
    publicKey: k.publicKey,
    createdAt: k.createdAt,
  };
}

/** Admin: users, their keys, passwords, TOTP, status, roles and tokens. Auditors read. */
export function adminUserRoutes(
  deps: WebDeps,
  web: { readonly sessions: WebSessionStore },
): ApiRoute[] {
  const db = deps.store.db;
  return [
    route({
      method: 'GET',
      url: '/api/admin/users',
      tag: 'admin',
      summary: 'Every user with roles, status and key count',
      permission: 'admin.read',
      response: z.object({ users: z.array(userSchema) }),
      handler: async () => {
        const users = await deps.users.list();
        const rows = await db.selectFrom('users').select(['name', 'locked_until']).execute();
        const lockedUntil = new Map(rows.map((r) => [r.name, r.locked_until]));
        const keys = await db
          .selectFrom('ssh_keys')
          .innerJoin('users', 'users.id', 'ssh_keys.user_id')
          .select(['users.name as name'])
          .execute();
        const keyCount = new Map<string, number>();
        for (const k of keys) keyCount.set(k.name, (keyCount.get(k.name) ?? 0) + 1);
        const now = Date.now();
        return {
          users: users.map((u) => {
            const until = lockedUntil.get(u.name) ?? 0;
            return {
              name: u.name,
              roles: [...u.roles],
              isDisabled: u.isDisabled,
              hasTotp: u.hasTotp,
              isLocked: until > now,
              lockedUntil: until > now ? until : null,
              keyCount: keyCount.get(u.name) ?? 0,
              createdAt: u.createdAt,
            };
          }),
        };
      },
    }),
    route({
      method: 'POST',
      url: '/api/admin/users',
      tag: 'admin',
      summary: 'Add a user (roles default to user)',
      permission: 'admin.write',
      body: z.object({
        name: nameParam,
        roles: z.array(nameParam).max(32).optional(),
        password: password.optional(),
        sshKeys: z.array(z.string().max(16_384)).max(32).optional(),
      }),
      response: z.object({ name: z.string(), roles: z.array(z.string()) }),
      handler: async ({ principal, body }) => {
        const user = await deps.users.add(body.name, {
          actor: actorOf(principal),
          ...(body.roles === undefined || body.roles.length === 0 ? {} : { roles: body.roles }),
          ...(body.password === undefined || body.password === ''
            ? {}
            : { password: body.password }),
          sshKeys: body.sshKeys ?? [],
        });
        return { name: user.name, roles: [...user.roles] };
      },
    }),
    route({
      method: 'GET',
      url: '/api/admin/users/:name/keys',
      tag: 'admin',
      summary: "A user's SSH public keys",
      permission: 'admin.read',
      params: userParam,
      response: z.object({ keys: z.array(keySchema) }),
      handler: async ({ params }) => ({
        keys: (await deps.users.listKeys(params.name)).map(toKey),
      }),
    }),
    route({
      method: 'POST',
      url: '/api/admin/users/:name/keys',
      tag: 'admin',
      summary: 'Add an SSH public key (an OpenSSH public key line)',
      permission: 'admin.write',
      params: userParam,
      body: z.object({ publicKey: z.string().min(1).max(16_384) }),
      response: keySchema,
      handler: async ({ principal, params, body }) => {
        const k = await deps.users.addKey(params.name, body.publicKey.trim(), {
          actor: actorOf(principal),
        });
        return toKey(k);
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/admin/users/:name/keys',
      tag: 'admin',
      summary: 'Remove the SSH key with this fingerprint',
      permission: 'admin.write',
      params: userParam,
      query: z.object({ fingerprint: z.string().min(1).max(128) }),
      handler: async ({ principal, params, query }) => {
        await deps.users.removeKey(params.name, query.fingerprint, { actor: actorOf(principal) });
      },
    }),
    route({
      method: 'POST',
      url: '/api/admin/users/:name/password',
      tag: 'admin',
      summary: 'Set a new password; the user is signed out of the console',
      permission: 'admin.write',
      params: userParam,
      body: z.object({ password }),
      handler: async ({ principal, params, body }) => {
        await deps.users.setPassword(params.name, body.password, { actor: actorOf(principal) });
        await web.sessions.deleteForUser(params.name);
      },
    }),
    route({
      method: 'POST',
      url: '/api/admin/users/:name/totp',
      tag: 'admin',
      summary: 'Enrol a new TOTP secret; the otpauth:// URI is shown this once',
      permission: 'admin.write',
      params: userParam,
      response: z.object({ otpauthUri: z.string() }),
      handler: async ({ principal, params }) => ({
        otpauthUri: await deps.users.enrollTotp(params.name, { actor: actorOf(principal) }),
      }),
    }),
    route({
      method: 'DELETE',
      url: '/api/admin/users/:name/totp',
      tag: 'admin',
      summary: 'Turn TOTP off for a user',
      permission: 'admin.write',
      params: userParam,
      handler: async ({ principal, params }) => {
        await deps.users.disableTotp(params.name, { actor: actorOf(principal) });
      },
    }),
    route({
      method: 'POST',
      url: '/api/admin/users/:name/disable',
      tag: 'admin',
      summary: 'Disable a user: logins and new sessions are refused, console sessions end',
      permission: 'admin.write',
      params: userParam,
      handler: async ({ principal, params }) => {
        if (params.name === principal.user.name)
          throw new GatehouseError('GH_INVALID_ARGUMENT', {
            message: 'you cannot disable yourself',
          });
        await deps.users.disable(params.name, { actor: actorOf(principal) });
        await web.sessions.deleteForUser(params.name);
      },
    }),
    route({
      method: 'POST',
      url: '/api/admin/users/:name/enable',
      tag: 'admin',
      summary: 'Enable a disabled user',
      permission: 'admin.write',
      params: userParam,
      handler: async ({ principal, params }) => {
        await deps.users.enable(params.name, { actor: actorOf(principal) });
      },
    }),
    route({
      method: 'PUT',
      url: '/api/admin/users/:name/roles',
      tag: 'admin',
      summary: "Replace a user's roles",
      permission: 'admin.write',
      params: userParam,
      body: z.object({ roles: z.array(nameParam).max(32) }),
      handler: async ({ principal, params, body }) => {
        if (params.name === principal.user.name && !body.roles.includes('admin')) {
          throw new GatehouseError('GH_INVALID_ARGUMENT', {
            message: 'you cannot remove your own admin role',
            hint: 'ask another admin',
          });
        }
        await deps.users.setRoles(params.name, body.roles, { actor: actorOf(principal) });
      },
    }),
    route({
      method: 'GET',
      url: '/api/admin/users/:name/tokens',
      tag: 'admin',
      summary: "A user's personal access tokens (metadata only)",
      permission: 'admin.read',
      params: userParam,
      response: z.object({ tokens: z.array(tokenSchema) }),
      handler: async ({ params }) => ({
        tokens: (await deps.tokens.list(params.name)).map((t) => ({
          id: t.id,
          expiresAt: t.expiresAt,
          createdAt: t.createdAt,
          lastUsedAt: t.lastUsedAt,
          revokedAt: t.revokedAt,
        })),
      }),
    }),
    route({
      method: 'POST',
      url: '/api/admin/users/:name/tokens',
      tag: 'admin',
      summary: 'Create a personal access token; its secret is shown this once',
      permission: 'admin.write',
      params: userParam,
      body: z.object({ days: z.number().int().min(1).max(MAX_TOKEN_DAYS).default(30) }),
      response: z.object({ id: z.string(), secret: z.string(), expiresAt: epochMs }),
      handler: async ({ principal, params, body }) => {
        const created = await deps.tokens.create(params.name, {
          actor: actorOf(principal),
          expiresAt: Date.now() + body.days * 86_400_000,
        });
        return { id: created.id, secret: created.secret, expiresAt: created.expiresAt };
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/admin/tokens/:id',
      tag: 'admin',
      summary: 'Revoke a personal access token',
      permission: 'admin.write',
      params: idParams,
      handler: async ({ principal, params }) => {
        await deps.tokens.revoke(params.id, { actor: actorOf(principal) });
      },
    }),
    route({
      method: 'GET',
      url: '/api/admin/roles',
      tag: 'admin',
      summary: 'Roles (built-in and custom) and how many users hold each',
      permission: 'admin.read',
      response: z.object({
        roles: z.array(
          z.object({
            name: z.string(),
            description: z.string(),
            isBuiltin: z.boolean(),
            userCount: z.number().int(),
          }),
        ),
      }),
      handler: async () => {
        const roles = await db.selectFrom('roles').selectAll().orderBy('name').execute();
        const holders = await db.selectFrom('user_roles').select('role').execute();
        const count = new Map<string, number>();
        for (const h of holders) count.set(h.role, (count.get(h.role) ?? 0) + 1);
        return {
          roles: roles.map((r) => ({
            name: r.name,
            description: r.description,
            isBuiltin: r.is_builtin === 1,
            userCount: count.get(r.name) ?? 0,
          })),
        };
      },
    }),
    route({
      method: 'POST',
      url: '/api/admin/roles',
      tag: 'admin',
      summary: 'Add a custom role (a name to grant targets to)',
      permission: 'admin.write',
      body: z.object({ name: nameParam, description: z.string().max(200).default('') }),
      handler: async ({ principal, body }) => {
        await deps.users.addRole(body.name, {
          actor: actorOf(principal),
          description: body.description,
        });
      },
    }),
  ];
}
