import { z } from 'zod';
import { DEFAULT_CONNECTION_LIMITS } from '../listen/index.js';

const port = z.number().int().min(0).max(65535);
const relPath = z.string().min(1);

/** Lockout policy for failed logins: after `threshold` failures, wait base·2^n seconds. */
const lockoutSchema = z.strictObject({
  threshold: z.number().int().min(1).default(5),
  baseDelayS: z.number().int().min(1).default(30),
  maxDelayS: z.number().int().min(1).default(3600),
});

const kmsSchema = z.discriminatedUnion('provider', [
  z.strictObject({
    provider: z.literal('local'),
    /** Master key file (JSON, mode 0600) made by init. */
    keyFile: relPath,
  }),
  z.strictObject({
    provider: z.literal('aws'),
    keyId: z.string().min(1),
    region: z.string().min(1).default('us-east-1'),
    endpoint: z.url().optional(),
    /** Static credentials; when absent the usual AWS chain (env, profile, role) is used. */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
  }),
]);

const storeSchema = z.discriminatedUnion('driver', [
  z.strictObject({ driver: z.literal('sqlite'), path: relPath }),
  z.strictObject({
    driver: z.literal('postgres'),
    url: z.string().min(1),
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .optional(),
    poolSize: z.number().int().min(1).max(200).optional(),
  }),
]);

/** The whole configuration file. Unknown keys are errors, so typos are caught. */
export const configSchema = z.strictObject({
  dataDir: relPath,
  listen: z.strictObject({ host: z.string().min(1).default('0.0.0.0') }).prefault({}),
  ssh: z.strictObject({
    enabled: z.boolean().default(true),
    port: port.default(2222),
    hostKeys: z.array(relPath).min(1),
    allowPassword: z.boolean().default(true),
  }),
  postgres: z
    .strictObject({
      enabled: z.boolean().default(true),
      port: port.default(15432),
      allowPlaintext: z.boolean().default(false),
      /** Listeners dedicated to one target each (`orders-db: 15433`): users log in as plain `alice`. */
      targetPorts: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/), port).default({}),
    })
    .prefault({}),
  mysql: z
    .strictObject({
      enabled: z.boolean().default(true),
      port: port.default(13306),
      allowPlaintext: z.boolean().default(false),
      serverVersion: z.string().min(1).default('8.0.36-gatehouse'),
      /** Listeners dedicated to one target each (`shop-db: 13307`): users log in as plain `alice`. */
      targetPorts: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/), port).default({}),
    })
    .prefault({}),
  web: z
    .strictObject({
      enabled: z.boolean().default(true),
      port: port.default(8080),
      https: z.boolean().default(true),
    })
    .prefault({}),
  tls: z.strictObject({ caCert: relPath, cert: relPath, key: relPath, caKey: relPath.optional() }),
  store: storeSchema,
  kms: kmsSchema,
  controlPlane: z.strictObject({ signingKey: relPath }),
  gateway: z.strictObject({
    name: z.string().min(1).default('embedded'),
    signingKey: relPath,
    sealingKey: relPath,
  }),
  audit: z
    .strictObject({
      sinkFile: relPath.default('audit/sink.jsonl'),
      checkpointEvery: z.number().int().min(1).default(100),
      checkpointIntervalMs: z.number().int().min(100).default(5000),
    })
    .prefault({}),
  recordings: z.strictObject({ dir: relPath.default('recordings') }).prefault({}),
  auth: z.strictObject({ lockout: lockoutSchema.prefault({}) }).prefault({}),
  /** Connection limits of every listener together (src/listen/connection-gate.ts). */
  limits: z
    .strictObject({
      /** From TCP accept to a finished login; slower clients are told (where the protocol can) and closed. */
      loginTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(3_600_000)
        .default(DEFAULT_CONNECTION_LIMITS.loginTimeoutMs),
      maxConnections: z.number().int().min(1).default(DEFAULT_CONNECTION_LIMITS.maxConnections),
      maxUnauthenticated: z
        .number()
        .int()
        .min(1)
        .default(DEFAULT_CONNECTION_LIMITS.maxUnauthenticated),
      maxUnauthenticatedPerSource: z
        .number()
        .int()
        .min(1)
        .default(DEFAULT_CONNECTION_LIMITS.maxUnauthenticatedPerSource),
      maxConnectionsPerSource: z
        .number()
        .int()
        .min(1)
        .default(DEFAULT_CONNECTION_LIMITS.maxConnectionsPerSource),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    })
    .prefault({}),
});

/** A validated configuration, with every path made absolute. */
export type Config = z.infer<typeof configSchema>;
/** The KMS part of {@link Config}. */
export type KmsConfig = Config['kms'];
