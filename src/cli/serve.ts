import { once } from 'node:events';
import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { ConnectionGate } from '../listen/index.js';
import { createLogger } from '../log/index.js';
import { configFromCommand, openControlPlane } from './context.js';
import type { CliIo } from './output.js';
import { findActiveCredentialCreatedAt } from '../lease/rotation-versions.js';
import { RotationScheduler } from '../lease/rotation-scheduler.js';
import type { ControlPlane } from './context.js';
import { startEmbeddedGateway } from './gateway.js';
import { startWeb } from './web.js';
import { HEAP_SLACK_BYTES, keepHeapSlack } from './heap-growth.js';

/**
 * Runs Gatehouse until SIGTERM/SIGINT: opens the control plane (store, audit chain with its
 * checkpoint timer, KMS) and every configured front end, then closes them in reverse order.
 */
export async function runServe(
  cmd: Command,
  _io: CliIo,
  configPath: string | undefined,
): Promise<void> {
  using heapGrowth = keepHeapSlack();
  const config = configPath === undefined ? configFromCommand(cmd) : loadConfig(configPath);
  const logger = createLogger({ level: config.log.level });
  await using cp = await openControlPlane(config, { logger, isServing: true });
  cp.audit.start();
  await using _rotations = startRotationScheduler(cp);
  // One gate for every listener: the limits on connections still logging in are the process's.
  const gate = new ConnectionGate({ limits: config.limits, log: logger });
  await using _gateway = await startEmbeddedGateway(cp, logger, gate);
  await using _web = config.web.enabled ? await startWeb(cp, logger, gate) : undefined;
  logger.info(
    {
      dataDir: config.dataDir,
      store: config.store.driver,
      kms: config.kms.provider,
      heapSlackMiB: heapGrowth === undefined ? 'set by node flag' : HEAP_SLACK_BYTES / 2 ** 20,
    },
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
