import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { createLocalKeyFile } from '../../lease/index.js';
import { loadGatewayIdentity } from '../../lease/gateway-identity.js';
import { cliActor, openControlPlane, type ControlPlane } from '../context.js';
import { configPathFor, writeInitFiles, type InitOptions } from '../init-files.js';
import type { CliIo } from '../output.js';
import { parsePort } from '../parse.js';

/** `gatehouse init` and `gatehouse serve`. */
export function registerInitCommands(program: Command, io: CliIo): void {
  program
    .command('init')
    .description(
      'create a new Gatehouse setup in a data dir (keys, certificates, store, admin user)',
    )
    .requiredOption('--data-dir <dir>', 'where the config, keys, store and recordings go')
    .option('--listen-host <host>', 'address the listeners bind to', '0.0.0.0')
    .option('--ssh-port <n>', 'SSH port', parsePort, 2222)
    .option('--pg-port <n>', 'PostgreSQL port', parsePort, 15432)
    .option('--mysql-port <n>', 'MySQL port', parsePort, 13306)
    .option('--web-port <n>', 'web console port', parsePort, 8080)
    .option('--admin <name>', 'name of the first admin user', 'admin')
    .option('--store-url <url>', 'use PostgreSQL at this URL as the store instead of SQLite')
    .option('--store-schema <schema>', 'PostgreSQL schema for the store (default public)')
    .action(async (o: InitCommandOptions) => {
      await initialize(io, o);
    });

  program
    .command('serve')
    .description('run Gatehouse: every configured listener, until SIGTERM or SIGINT')
    .option('--data-dir <dir>', 'use DIR/gatehouse.yaml, creating a new setup there on first run')
    .action(async (o: { dataDir?: string }, cmd: Command) => {
      let configPath: string | undefined;
      if (o.dataDir !== undefined) {
        configPath = configPathFor(o.dataDir);
        if (!existsSync(configPath)) {
          io.stderr.write(`no setup in ${o.dataDir}: creating one\n`);
          await initialize(io, { dataDir: o.dataDir, admin: 'admin' });
        }
      }
      // Loaded here, not at the top: the gateway (SSH, web, database front ends) is most of the
      // CLI's code, and every other command starts faster without it.
      const { runServe } = await import('../serve.js');
      await runServe(cmd, io, configPath);
    });
}

interface InitCommandOptions {
  dataDir: string;
  listenHost?: string;
  sshPort?: number;
  pgPort?: number;
  mysqlPort?: number;
  webPort?: number;
  admin: string;
  storeUrl?: string;
  storeSchema?: string;
}

async function initialize(io: CliIo, o: InitCommandOptions): Promise<void> {
  const initOptions: InitOptions = {
    dataDir: o.dataDir,
    ...(o.listenHost === undefined ? {} : { listenHost: o.listenHost }),
    ...(o.sshPort === undefined ? {} : { sshPort: o.sshPort }),
    ...(o.pgPort === undefined ? {} : { pgPort: o.pgPort }),
    ...(o.mysqlPort === undefined ? {} : { mysqlPort: o.mysqlPort }),
    ...(o.webPort === undefined ? {} : { webPort: o.webPort }),
    ...(o.storeUrl === undefined
      ? {}
      : {
          store: {
            driver: 'postgres',
            url: o.storeUrl,
            ...(o.storeSchema === undefined ? {} : { schema: o.storeSchema }),
          },
        }),
  };
  const configPath = await writeInitFiles(initOptions);
  const config = loadConfig(configPath);
  if (config.kms.provider === 'local') createLocalKeyFile(config.kms.keyFile);
  const password = randomBytes(18).toString('base64url');
  await using cp = await openControlPlane(config);
  await bootstrapStore(cp, { admin: o.admin, password });
  io.stdout.write(
    [
      `Gatehouse initialized in ${config.dataDir}`,
      `  config: ${configPath}`,
      `  admin user: ${o.admin}`,
      `  admin password (shown once; change it with "gatehouse user passwd ${o.admin} --password-stdin"): ${password}`,
      `  CA certificate for clients (sslmode=verify-full): ${config.tls.caCert}`,
      ...(config.web.enabled
        ? [
            `  web console: ${config.web.https ? 'https' : 'http'}://${['0.0.0.0', '::'].includes(config.listen.host) ? 'localhost' : config.listen.host}:${config.web.port}/ (sign in as ${o.admin})`,
          ]
        : []),
      '',
    ].join('\n'),
  );
}

async function bootstrapStore(
  cp: ControlPlane,
  options: { admin: string; password: string },
): Promise<void> {
  await cp.audit.append({
    type: 'admin.init',
    data: { by: cliActor(), dataDir: cp.config.dataDir },
  });
  await cp.users.add(options.admin, {
    actor: cliActor(),
    roles: ['admin', 'user'],
    password: options.password,
  });
  const gateway = cp.config.gateway;
  await cp.gateways.enrollEmbedded(gateway.name, loadGatewayIdentity(gateway.name, gateway));
}
