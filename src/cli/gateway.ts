import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionGate } from '../listen/index.js';
import type { Logger } from '../log/index.js';
import {
  GatewayClient,
  LeaseService,
  LocalGatewayControl,
  loadGatewayIdentity,
} from '../lease/index.js';
import { makeSigner, readPrivateKeyFile } from '../crypto/key-files.js';
import { DirRecordingStore } from '../recording/index.js';
import { SshFrontEnd } from '../ssh/index.js';
import { MysqlFrontEnd, type LiveConnection } from '../db/mysql/index.js';
import { DbTranscriptStore } from '../recording/db-transcript.js';
import { findSessionFiles, sha256OfFile } from '../recording/session-files.js';
import { CancelKeyRegistry, PostgresFrontEnd } from '../db/postgres/index.js';
import type { ControlPlane } from './context.js';

/** The embedded gateway and its front ends, started by `gatehouse serve`. */
export interface RunningGateway extends AsyncDisposable {
  readonly gatewayId: string;
  /** Bound SSH port (useful when the config says 0). */
  readonly sshPort: number | undefined;
  /** Bound PostgreSQL port (the shared one, `user#target` logins). */
  readonly postgresPort: number | undefined;
  /** Bound MySQL port (the shared one, `user#target` logins). */
  readonly mysqlPort: number | undefined;
  close(): Promise<void>;
}

/**
 * Wires the embedded gateway to the control plane through the same interface a remote
 * gateway uses (grants, signed unlock requests, sealed credentials), then starts the
 * configured front ends.
 */
export async function startEmbeddedGateway(
  cp: ControlPlane,
  log: Logger,
  gate: ConnectionGate,
): Promise<RunningGateway> {
  const { config } = cp;
  const identity = loadGatewayIdentity(config.gateway.name, config.gateway);
  const gatewayId = await cp.gateways.enrollEmbedded(config.gateway.name, identity);
  const service = new LeaseService({
    db: cp.store.db,
    audit: cp.audit,
    kms: cp.kms,
    access: cp.access,
    proofs: cp.authenticator,
    signer: makeSigner(readPrivateKeyFile(config.controlPlane.signingKey)),
  });
  await endAbandonedSessions(cp, service, gatewayId, log);
  const client = new GatewayClient({ id: gatewayId, identity, plane: service });
  const control = new LocalGatewayControl({
    db: cp.store.db,
    service,
    client,
    authenticator: cp.authenticator,
    users: cp.users,
    access: cp.access,
    targets: cp.targets,
    audit: cp.audit,
  });
  const recordings = new DirRecordingStore(config.recordings.dir);
  let ssh: SshFrontEnd | undefined;
  let sshPort: number | undefined;
  const mysql: MysqlFrontEnd[] = [];
  let mysqlPort: number | undefined;
  const postgres: PostgresFrontEnd[] = [];
  let postgresPort: number | undefined;
  const close = async (): Promise<void> => {
    await Promise.all(postgres.map((frontEnd) => frontEnd.close()));
    await Promise.all(mysql.map((frontEnd) => frontEnd.close()));
    await ssh?.close();
  };
  try {
    if (config.ssh.enabled) {
      ssh = new SshFrontEnd({
        host: config.listen.host,
        port: config.ssh.port,
        hostKeys: config.ssh.hostKeys.map((path) => readFileSync(path)),
        allowPassword: config.ssh.allowPassword,
        control,
        recordings,
        gate,
        log: log.child({ frontEnd: 'ssh' }),
      });
      const address = await ssh.listen();
      sshPort = address.port;
      log.info({ host: address.address, port: address.port }, 'ssh listening');
    }
    if (config.mysql.enabled) {
      const tls = { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) };
      // One table of live connections for every MySQL listener: a KILL may come in on any of them.
      const connections = new Map<number, LiveConnection>();
      const listeners = [
        { port: config.mysql.port, target: undefined },
        ...Object.entries(config.mysql.targetPorts).map(([target, port]) => ({ port, target })),
      ];
      for (const listener of listeners) {
        const frontEnd = new MysqlFrontEnd({
          host: config.listen.host,
          port: listener.port,
          serverVersion: config.mysql.serverVersion,
          tls,
          baseDir: config.dataDir,
          allowPlaintext: config.mysql.allowPlaintext,
          control,
          gate,
          transcripts: new DbTranscriptStore(config.recordings.dir),
          connections,
          log: log.child({
            frontEnd: 'mysql',
            ...(listener.target === undefined ? {} : { listenerTarget: listener.target }),
          }),
          ...(listener.target === undefined ? {} : { fixedTarget: listener.target }),
        });
        mysql.push(frontEnd);
        const address = await frontEnd.listen();
        mysqlPort ??= address.port;
        log.info(
          {
            host: address.address,
            port: address.port,
            ...(listener.target === undefined ? {} : { target: listener.target }),
          },
          'mysql listening',
        );
      }
    }
    if (config.postgres.enabled) {
      // One cancel-key table for every PostgreSQL listener: a cancel may come in on any of them.
      const cancelKeys = new CancelKeyRegistry();
      const tls = { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) };
      const listeners = [
        { port: config.postgres.port, target: undefined },
        ...Object.entries(config.postgres.targetPorts).map(([target, port]) => ({ port, target })),
      ];
      for (const listener of listeners) {
        const frontEnd = new PostgresFrontEnd({
          host: config.listen.host,
          port: listener.port,
          tls,
          allowPlaintext: config.postgres.allowPlaintext,
          control,
          gate,
          transcripts: new DbTranscriptStore(config.recordings.dir),
          cancelKeys,
          baseDir: config.dataDir,
          log: log.child({
            frontEnd: 'postgres',
            ...(listener.target === undefined ? {} : { listenerTarget: listener.target }),
          }),
          ...(listener.target === undefined ? {} : { fixedTarget: listener.target }),
        });
        postgres.push(frontEnd);
        const address = await frontEnd.listen();
        postgresPort ??= address.port;
        log.info(
          {
            host: address.address,
            port: address.port,
            ...(listener.target === undefined ? {} : { target: listener.target }),
          },
          'postgres listening',
        );
      }
    }
  } catch (err) {
    // A listener that cannot start (port in use) stops `serve`: close the ones already open.
    await close();
    throw err;
  }
  return { gatewayId, sshPort, mysqlPort, postgresPort, close, [Symbol.asyncDispose]: close };
}

/**
 * Sessions this gateway left "active" when it last stopped without closing them (a crash,
 * SIGKILL): they end as `abandoned`, releasing their leases, so the record is complete.
 */
async function endAbandonedSessions(
  cp: ControlPlane,
  service: LeaseService,
  gatewayId: string,
  log: Logger,
): Promise<void> {
  const stale = await cp.store.db
    .selectFrom('sessions')
    .select(['sid', 'started_at'])
    .where('gateway_id', '=', gatewayId)
    .where('status', '=', 'active')
    .execute();
  const root = cp.config.recordings.dir;
  for (const { sid, started_at } of stale) {
    // What the recorders wrote up to the crash is pinned by the end event's hashes from now on.
    const files = await findSessionFiles(root, sid, started_at, Date.now()).catch(() => []);
    const hashes = await Promise.all(
      files.map((relPath) => sha256OfFile(join(root, ...relPath.split('/'))).catch(() => null)),
    );
    await service.endSession(sid, {
      status: 'abandoned',
      reason: 'gateway-restarted',
      recording: files.length === 0 ? null : JSON.stringify(files),
      recordingSha256: files.length === 0 ? null : JSON.stringify(hashes),
    });
  }
  if (stale.length > 0)
    log.warn({ count: stale.length }, 'ended sessions left open by the previous run as abandoned');
}
