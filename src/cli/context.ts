import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { AuditLog } from '../audit/index.js';
import { loadConfig, resolveConfigPath, type Config } from '../config/index.js';
import { makeSigner, readPrivateKeyFile } from '../crypto/key-files.js';
import { Authenticator, Tokens, Users } from '../identity/index.js';
import { openKms, openSecret, sealSecret, type KmsProvider } from '../lease/index.js';
import { Credentials } from '../lease/credentials.js';
import { Gateways } from '../lease/gateways.js';
import { rotateCredential as rotateCredential_, type RotationResult } from '../lease/rotation.js';
import type { PasswordAppliers } from '../lease/rotation-appliers.js';
import { createLogger, type Logger } from '../log/index.js';
import { AccessPolicy, Grants, Targets } from '../policy/index.js';
import { openStore, type Store } from '../store/index.js';
import type { CliIo } from './output.js';

/**
 * The control plane, wired from a config: the one place modules are put together
 * (besides `serve`, which adds the front ends). Dispose it to flush the audit chain.
 */
export interface ControlPlane extends AsyncDisposable {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly audit: AuditLog;
  readonly kms: KmsProvider;
  readonly users: Users;
  readonly tokens: Tokens;
  readonly authenticator: Authenticator;
  readonly targets: Targets;
  readonly grants: Grants;
  readonly access: AccessPolicy;
  readonly credentials: Credentials;
  readonly gateways: Gateways;
  /** Rotates a database target's password (see src/lease/rotation.ts). */
  rotateCredential(target: string, options: { actor: string }): Promise<RotationResult>;
  close(): Promise<void>;
}

/** Opens every control-plane service for `config`. */
export async function openControlPlane(
  config: Config,
  options: { logger?: Logger; isServing?: boolean } = {},
): Promise<ControlPlane> {
  const logger = options.logger ?? createLogger({ level: config.log.level });
  // A server keeps SQLite's disk syncs off its event loop (relayed sessions go on meanwhile).
  const store = await openStore(
    config.store.driver === 'sqlite' && options.isServing === true
      ? { ...config.store, inWorker: true }
      : config.store,
  );
  let kms: KmsProvider | undefined;
  try {
    kms = await openKms(config.kms);
    const signer = makeSigner(readPrivateKeyFile(config.controlPlane.signingKey));
    const audit = new AuditLog({
      db: store.db,
      appendChain: store.appendChain,
      signer,
      sinkPath: config.audit.sinkFile,
      checkpointEvery: config.audit.checkpointEvery,
      checkpointIntervalMs: config.audit.checkpointIntervalMs,
      onCheckpointError: (err) =>
        logger.error({ code: err.code, detail: err.detail }, 'audit checkpoint failed'),
    });
    const boundKms = kms;
    const seal = (plaintext: Buffer, context: string): Promise<string> =>
      sealSecret(boundKms, plaintext, context);
    const open = (sealed: string, context: string): Promise<Buffer> =>
      openSecret(boundKms, sealed, context);
    const identityDeps = {
      db: store.db,
      audit,
      lockout: config.auth.lockout,
      sealSecret: seal,
      openSecret: open,
    };
    const users = new Users(identityDeps);
    const tokens = new Tokens(identityDeps);
    const authenticator = new Authenticator(identityDeps);
    const targets = new Targets({ db: store.db, audit });
    const grants = new Grants({ db: store.db, audit });
    const access = new AccessPolicy({
      targets,
      grants,
      audit,
      findUser: (name) => users.find(name),
    });
    const credentials = new Credentials({ db: store.db, kms: boundKms, audit });
    const gateways = new Gateways({ db: store.db, audit });
    // The database drivers load when a rotation connects, not with every CLI command.
    const appliers: PasswordAppliers = {
      postgres: {
        connect: async (target, password) =>
          (await import('../lease/rotate-postgres.js')).postgresPasswordApplier.connect(
            target,
            password,
          ),
      },
      mysql: {
        connect: async (target, password) =>
          (await import('../lease/rotate-mysql.js')).mysqlPasswordApplier.connect(target, password),
      },
    };
    const rotateCredential = (target: string, o: { actor: string }): Promise<RotationResult> =>
      rotateCredential_(target, o, { db: store.db, kms: boundKms, audit, targets, appliers });
    const close = async (): Promise<void> => {
      await audit.close();
      boundKms.close?.();
      await store.close();
    };
    return {
      config,
      logger,
      store,
      audit,
      kms: boundKms,
      users,
      tokens,
      authenticator,
      targets,
      grants,
      access,
      credentials,
      gateways,
      rotateCredential,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (err) {
    kms?.close?.();
    await store.close();
    throw err;
  }
}

/** Loads the config named by the program's `--config` option (or its defaults). */
export function configFromCommand(cmd: Command): Config {
  const root = rootOf(cmd);
  const explicit = root.opts<{ config?: string }>().config;
  return loadConfig(resolveConfigPath(explicit));
}

/** Runs `fn` with an open control plane and closes it afterwards, even on error. */
export async function withControlPlane<T>(
  cmd: Command,
  io: CliIo,
  fn: (cp: ControlPlane) => Promise<T>,
): Promise<T> {
  const config = configFromCommand(cmd);
  await using cp = await openControlPlane(config, {
    logger: createLogger({ level: 'warn', destination: io.stderr }),
  });
  return await fn(cp);
}

/** The acting operator for CLI changes, as recorded in audit events. */
export function cliActor(): string {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry (containers): keep "unknown".
  }
  return `cli:${name}`;
}

function rootOf(cmd: Command): Command {
  let at = cmd;
  while (at.parent !== null) at = at.parent;
  return at;
}
