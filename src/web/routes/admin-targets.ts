import { z } from 'zod';
import { GatehouseError } from '../../core/errors.js';
import type { Target } from '../../core/types.js';
import { HOST_KEY_TYPES, parseHostKeyLine } from '../../ssh/host-keys.js';
import type { WebDeps } from '../deps.js';
import { actorOf } from '../permissions.js';
import { route, type ApiRoute } from '../route.js';
import { epochMs, nameParam } from './schemas.js';

const optionsSchema = z.object({
  allowPortForwarding: z.boolean(),
  allowFileTransfer: z.boolean(),
  recordInput: z.boolean(),
  readOnly: z.boolean(),
  idleTimeoutS: z.number().int().min(0),
  maxSessionS: z.number().int().min(0),
  trustOnFirstUse: z.boolean(),
  rotateEveryS: z.number().int().min(0),
});
const targetSchema = z.object({
  name: z.string(),
  kind: z.enum(['ssh', 'postgres', 'mysql']),
  host: z.string(),
  port: z.number().int(),
  username: z.string(),
  database: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  options: optionsSchema,
  hostKey: z
    .object({ type: z.string(), fingerprint: z.string() })
    .nullable()
    .describe('the pinned SSH host key'),
  createdAt: epochMs,
});
const credentialSchema = z.object({
  version: z.number().int(),
  kind: z.string(),
  status: z.string(),
  kms: z.string(),
  keyId: z.string(),
  createdAt: epochMs,
  createdBy: z.string(),
  fingerprint: z.string().nullable(),
});
const targetParam = z.object({ name: nameParam });

function toTarget(t: Target): z.infer<typeof targetSchema> {
  let hostKey = null;
  if (t.hostKey !== null) {
    try {
      const k = parseHostKeyLine(t.hostKey);
      hostKey = { type: k.type, fingerprint: k.fingerprint };
    } catch {
      hostKey = { type: 'unknown', fingerprint: 'unparseable pinned key' };
    }
  }
  return {
    name: t.name,
    kind: t.kind,
    host: t.host,
    port: t.port,
    username: t.username,
    database: t.database,
    labels: { ...t.labels },
    options: { ...t.options },
    hostKey,
    createdAt: t.createdAt,
  };
}

/** Admin: targets, their host keys and their credentials (never displayed). Auditors read. */
export function adminTargetRoutes(deps: WebDeps): ApiRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/admin/targets',
      tag: 'admin',
      summary: 'Every target',
      permission: 'admin.read',
      response: z.object({ targets: z.array(targetSchema) }),
      handler: async () => ({ targets: (await deps.targets.list()).map(toTarget) }),
    }),
    route({
      method: 'POST',
      url: '/api/admin/targets',
      tag: 'admin',
      summary: 'Add a target',
      permission: 'admin.write',
      body: z.object({
        name: nameParam,
        kind: z.enum(['ssh', 'postgres', 'mysql']),
        host: z.string().min(1).max(255),
        port: z.number().int().min(1).max(65_535),
        username: z.string().min(1).max(128),
        database: z.string().min(1).max(128).optional(),
        labels: z.record(z.string(), z.string()).optional(),
        options: optionsSchema.partial().optional(),
      }),
      response: targetSchema,
      handler: async ({ principal, body }) => {
        const { options, labels, database, ...rest } = body;
        const added = await deps.targets.add(
          {
            ...rest,
            ...(database === undefined ? {} : { database }),
            ...(labels === undefined ? {} : { labels }),
            ...(options === undefined ? {} : { options: stripUndefined(options) }),
          },
          { actor: actorOf(principal) },
        );
        return toTarget(added);
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/admin/targets/:name',
      tag: 'admin',
      summary: 'Remove a target and its credentials',
      permission: 'admin.write',
      params: targetParam,
      handler: async ({ principal, params }) => {
        await deps.targets.remove(params.name, { actor: actorOf(principal) });
      },
    }),
    route({
      method: 'POST',
      url: '/api/admin/targets/:name/host-key/scan',
      tag: 'admin',
      summary: "Fetch the SSH target's host key now, to compare its fingerprint before trusting it",
      permission: 'admin.write',
      params: targetParam,
      body: z.object({ keyType: z.enum(HOST_KEY_TYPES).optional() }),
      response: z.object({ type: z.string(), fingerprint: z.string(), line: z.string() }),
      handler: async ({ params, body }) => {
        const target = await sshTarget(deps, params.name);
        const key = await deps.fetchHostKey({
          host: target.host,
          port: target.port,
          ...(body.keyType === undefined ? {} : { preferredType: body.keyType }),
        });
        return { type: key.type, fingerprint: key.fingerprint, line: key.line };
      },
    }),
    route({
      method: 'PUT',
      url: '/api/admin/targets/:name/host-key',
      tag: 'admin',
      summary:
        'Trust (pin) a host key: the line from the scan and the fingerprint the admin checked',
      permission: 'admin.write',
      params: targetParam,
      body: z.object({
        line: z.string().min(1).max(16_384),
        fingerprint: z.string().min(1).max(128),
      }),
      response: z.object({ type: z.string(), fingerprint: z.string() }),
      handler: async ({ principal, params, body }) => {
        await sshTarget(deps, params.name);
        const key = parseHostKeyLine(body.line);
        if (key.fingerprint !== body.fingerprint) {
          throw new GatehouseError('GH_INVALID_ARGUMENT', {
            message: 'the fingerprint does not match the host key',
            hint: 'scan the host key again',
          });
        }
        await deps.targets.pinHostKey(params.name, key.line, {
          actor: actorOf(principal),
          fingerprint: key.fingerprint,
        });
        return { type: key.type, fingerprint: key.fingerprint };
      },
    }),
    route({
      method: 'GET',
      url: '/api/admin/targets/:name/credentials',
      tag: 'admin',
      summary: "Versions of the target's credential: metadata only, never the secret",
      permission: 'admin.read',
      params: targetParam,
      response: z.object({ credentials: z.array(credentialSchema) }),
      handler: async ({ params }) => ({
        credentials: (await deps.credentials.show(params.name)).map((c) => ({
          version: c.version,
          kind: c.kind,
          status: c.status,
          kms: c.kms,
          keyId: c.keyId,
          createdAt: c.createdAt,
          createdBy: c.createdBy,
          fingerprint: c.fingerprint,
        })),
      }),
    }),
    route({
      method: 'POST',
      url: '/api/admin/targets/:name/credentials',
      tag: 'admin',
      summary:
        'Store a new credential version: a password, a private key, or a generated SSH key (its public line is returned)',
      permission: 'admin.write',
      params: targetParam,
      body: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('password'), password: z.string().min(1).max(4096) }),
        z.object({ kind: z.literal('ssh-key'), privateKey: z.string().min(1).max(16_384) }),
        z.object({ kind: z.literal('generate-ssh-key') }),
      ]),
      response: z.object({
        version: z.number().int().nullable(),
        publicKey: z.string().nullable(),
      }),
      handler: async ({ principal, params, body }) => {
        const actor = actorOf(principal);
        if (body.kind === 'generate-ssh-key') {
          const publicKey = await deps.credentials.generateSshKey(params.name, { actor });
          return { version: null, publicKey };
        }
        const secret =
          body.kind === 'password'
            ? ({ kind: 'password', password: Buffer.from(body.password, 'utf8') } as const)
            : ({ kind: 'ssh-key', privateKey: Buffer.from(body.privateKey, 'utf8') } as const);
        const info = await deps.credentials.set(params.name, secret, { actor });
        return { version: info.version, publicKey: null };
      },
    }),
    route({
      method: 'POST',
      url: '/api/admin/targets/:name/credentials/rotate',
      tag: 'admin',
      summary: 'Database targets: set a new random password on the target and store it',
      permission: 'admin.write',
      params: targetParam,
      response: z.object({
        previousVersion: z.number().int().nullable(),
        version: z.number().int(),
      }),
      handler: async ({ principal, params }) => {
        const result = await deps.rotateCredential(params.name, { actor: actorOf(principal) });
        return { previousVersion: result.previousVersion, version: result.version };
      },
    }),
  ];
}

async function sshTarget(deps: WebDeps, name: string): Promise<Target> {
  const target = await deps.targets.get(name);
  if (target.kind !== 'ssh')
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: `target "${name}" is not an ssh target`,
    });
  return target;
}

function stripUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
