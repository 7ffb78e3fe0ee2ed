import { once } from 'node:events';
import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { createLogger } from '../log/index.js';
import { configFromCommand, openControlPlane } from './context.js';
import type { CliIo } from './output.js';

/**
 * Runs Gatehouse until SIGTERM/SIGINT: opens the control plane (store, audit chain with its
 * checkpoint timer, KMS) and every configured front end, then closes them in reverse order.
 */
export async function runServe(cmd: Command, _io: CliIo, configPath: string | undefined): Promise<void> {
  const config = configPath === undefined ? configFromCommand(cmd) : loadConfig(configPath);
  const logger = createLogger({ level: config.log.level });
  await using cp = await openControlPlane(config, { logger });
  cp.audit.start();
  logger.info({ dataDir: config.dataDir, store: config.store.driver, kms: config.kms.provider }, 'gatehouse control plane ready');

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
