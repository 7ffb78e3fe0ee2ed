import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readPrivateKeyFile } from '../crypto/key-files.js';
import type { ConnectionGate } from '../listen/index.js';
import type { Logger } from '../log/index.js';
import { fetchHostKey } from '../ssh/host-keys.js';
import { startWebConsole, type RunningWebConsole } from '../web/index.js';
import type { ControlPlane } from './context.js';

/** Starts the web console and API of `gatehouse serve` (HTTPS with the init certificate unless `web.https: false`). */
export async function startWeb(
  cp: ControlPlane,
  log: Logger,
  gate: ConnectionGate,
): Promise<RunningWebConsole> {
  const { config } = cp;
  const web = await startWebConsole(
    {
      ...cp,
      auditPublicKey: createPublicKey(readPrivateKeyFile(config.controlPlane.signingKey)),
      fetchHostKey,
    },
    {
      host: config.listen.host,
      port: config.web.port,
      tls: config.web.https
        ? { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) }
        : undefined,
      gate,
    },
  );
  log.info({ port: web.port, https: config.web.https }, 'web listening');
  return web;
}
