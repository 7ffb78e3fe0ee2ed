import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { ConnectionGate } from '../listen/index.js';
import { createLogger } from '../log/index.js';
import { configFromCommand, openControlPlane } from './context.js';
import type { CliIo } from './output.js';
import { findActiveCredentialCreatedAt } from '../lease/rotation.js';
import { RotationScheduler } from '../lease/rotation-scheduler.js';
import type { ControlPlane } from './context.js';
import { startEmbeddedGateway, type ListenerRef } from './gateway.js';
import { startWeb } from './web.js';

/**
 * Runs Gatehouse until SIGTERM/SIGINT: opens the control plane (store, audit chain with its
 * checkpoint timer, KMS) and every configured front end, then closes them in reverse order.
 */
export async function runServe(
  cmd: Command,
  _io: CliIo,
  configPath: string | undefined,
): Promise<void> {
  const config = configPath === undefined ? configFromCommand(cmd) : loadConfig(configPath);
  const logger = createLogger({ level: config.log.level });
  if (cluster.isWorker) {
    await runWorker(config, logger.child({ worker: cluster.worker?.id }));
    return;
  }
  await using cp = await openControlPlane(config, { logger, isServing: true });
  cp.audit.start();
  await using _rotations = startRotationScheduler(cp);
  // One gate for every listener: the limits on connections still logging in are the process's.
  const gate = new ConnectionGate({ limits: config.limits, log: logger });
  const processes = Number(process.env['GATEHOUSE_PROCESSES'] ?? '1');
  const pool = new WorkerPool();
  await using _gateway = await startEmbeddedGateway(cp, logger, gate, {
    ...(processes > 1 ? { dispatch: (listener, socket) => pool.dispatch(listener, socket) } : {}),
  });
  await using _pool = pool;
  for (let i = 1; i < processes; i++) pool.fork();
  await using _web = config.web.enabled ? await startWeb(cp, logger, gate) : undefined;
  logger.info(
    { dataDir: config.dataDir, store: config.store.driver, kms: config.kms.provider },
    'gatehouse control plane ready',
  );

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping');
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  logger.info('gatehouse serving');
  await once(stop.signal, 'abort');
  logger.info('gatehouse stopped');
}

/** Rotates database credentials whose target asks for it (`rotate` option), in the background. */
function startRotationScheduler(cp: ControlPlane): RotationScheduler {
  const scheduler = new RotationScheduler({
    rotate: async (target) => {
      await cp.rotateCredential(target, { actor: 'scheduler' });
    },
    listTargets: () => cp.targets.list(),
    activeCreatedAt: (target) => findActiveCredentialCreatedAt(cp.store.db, target.id),
    onError: (err, target) =>
      cp.logger.warn(
        { target, err: err instanceof Error ? err.message : String(err) },
        'scheduled rotation failed',
      ),
  });
  scheduler.start();
  return scheduler;
}

/** Prototype: worker processes that serve some of the primary's database connections. */
class WorkerPool implements AsyncDisposable {
  readonly #ready: Worker[] = [];
  readonly #all = new Set<Worker>();
  #turn = 0;

  fork(): void {
    const worker = cluster.fork();
    this.#all.add(worker);
    worker.on('message', (message: { type?: string }) => {
      if (message.type === 'ready') this.#ready.push(worker);
    });
    worker.on('exit', () => {
      this.#all.delete(worker);
      const at = this.#ready.indexOf(worker);
      if (at >= 0) this.#ready.splice(at, 1);
    });
  }

  /** Round robin over the primary and the ready workers; false: the primary keeps it. */
  dispatch(listener: ListenerRef, socket: Socket): boolean {
    this.#turn = (this.#turn + 1) % (this.#ready.length + 1);
    const worker = this.#ready[this.#turn - 1];
    if (worker === undefined) return false;
    worker.send({ type: 'socket', listener }, socket, (err) => {
      if (err !== null) socket.destroy();
    });
    return true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(
      [...this.#all].map(async (worker) => {
        const exited = once(worker, 'exit');
        worker.process.kill('SIGTERM');
        await exited;
      }),
    );
  }
}

/** A worker process: the control plane and the database front ends, fed by the primary. */
async function runWorker(
  config: ReturnType<typeof loadConfig>,
  logger: ReturnType<typeof createLogger>,
): Promise<void> {
  await using cp = await openControlPlane(config, { logger, isServing: true });
  const gate = new ConnectionGate({ limits: config.limits, log: logger });
  await using gateway = await startEmbeddedGateway(cp, logger, gate, { worker: true });
  process.on('message', (message: { type?: string; listener?: ListenerRef }, socket?: Socket) => {
    if (message.type === 'socket' && message.listener !== undefined && socket !== undefined)
      gateway.adopt(message.listener, socket);
  });
  process.send?.({ type: 'ready' });
  logger.info('gatehouse worker serving');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('disconnect', () => resolve());
  });
  logger.info('gatehouse worker stopped');
}
