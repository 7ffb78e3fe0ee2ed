import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { GatehouseError } from '../core/errors.js';
import { generateKeyFile, writeSecretFile } from '../crypto/key-files.js';
import { generateOpenSshKeyPair } from '../crypto/ssh-key-pair.js';
import { createTlsMaterial } from '../tls/certificates.js';

/** What `gatehouse init` is asked for. */
export interface InitOptions {
  readonly dataDir: string;
  readonly listenHost?: string;
  readonly sshPort?: number;
  readonly pgPort?: number;
  readonly mysqlPort?: number;
  readonly webPort?: number;
  /** Extra config merged into the written file (tests use it for a PostgreSQL store). */
  readonly store?: Record<string, unknown>;
}

/** Files written by init, relative to the data dir (as the config names them). */
export const INIT_PATHS = {
  config: 'gatehouse.yaml',
  sshHostEd25519: 'keys/ssh_host_ed25519_key',
  sshHostRsa: 'keys/ssh_host_rsa_key',
  controlPlaneKey: 'keys/control-plane.key',
  gatewaySignKey: 'keys/gateway-sign.key',
  gatewaySealKey: 'keys/gateway-seal.key',
  kmsKeyFile: 'keys/kms-master.json',
  caCert: 'tls/ca.crt',
  caKey: 'keys/ca.key',
  serverCert: 'tls/server.crt',
  serverKey: 'keys/server.key',
  store: 'gatehouse.db',
  sink: 'audit/sink.jsonl',
  recordings: 'recordings',
} as const;

/** The config file path for a data dir. */
export function configPathFor(dataDir: string): string {
  return join(resolve(dataDir), INIT_PATHS.config);
}

/**
 * Writes keys, certificates and the config file of a new setup. Refuses to touch a data dir
 * that already holds a configuration. Key files are 0600 in a 0700 folder.
 */
export async function writeInitFiles(options: InitOptions): Promise<string> {
  const dir = resolve(options.dataDir);
  const configPath = configPathFor(dir);
  if (existsSync(configPath)) {
    throw new GatehouseError('GH_ALREADY_INITIALIZED', {
      message: `a Gatehouse setup already exists in ${dir}`,
    });
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const sub of ['keys', 'tls', 'audit', INIT_PATHS.recordings])
    mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
  const at = (p: string): string => join(dir, p);

  for (const [type, path] of [
    ['ed25519', INIT_PATHS.sshHostEd25519],
    ['rsa', INIT_PATHS.sshHostRsa],
  ] as const) {
    const pair = generateOpenSshKeyPair(type, { comment: 'gatehouse-host' });
    writeSecretFile(at(path), pair.privateKey);
    writeFileSync(`${at(path)}.pub`, `${pair.publicKey}\n`);
  }

  generateKeyFile(at(INIT_PATHS.controlPlaneKey), 'ed25519');
  generateKeyFile(at(INIT_PATHS.gatewaySignKey), 'ed25519');
  generateKeyFile(at(INIT_PATHS.gatewaySealKey), 'x25519');

  const listenHost = options.listenHost ?? '0.0.0.0';
  const names = unique([
    'localhost',
    '127.0.0.1',
    '::1',
    hostname(),
    ...(isWildcard(listenHost) ? [] : [listenHost]),
  ]);
  const tls = await createTlsMaterial({ names });
  writeFileSync(at(INIT_PATHS.caCert), tls.ca.certPem);
  writeSecretFile(at(INIT_PATHS.caKey), tls.ca.keyPem);
  writeFileSync(at(INIT_PATHS.serverCert), tls.server.certPem);
  writeSecretFile(at(INIT_PATHS.serverKey), tls.server.keyPem);

  const config = {
    dataDir: '.',
    listen: { host: listenHost },
    ssh: {
      port: options.sshPort ?? 2222,
      hostKeys: [INIT_PATHS.sshHostEd25519, INIT_PATHS.sshHostRsa],
    },
    postgres: { port: options.pgPort ?? 15432 },
    mysql: { port: options.mysqlPort ?? 13306 },
    web: { port: options.webPort ?? 8080 },
    tls: {
      caCert: INIT_PATHS.caCert,
      caKey: INIT_PATHS.caKey,
      cert: INIT_PATHS.serverCert,
      key: INIT_PATHS.serverKey,
    },
    store: options.store ?? { driver: 'sqlite', path: INIT_PATHS.store },
    kms: { provider: 'local', keyFile: INIT_PATHS.kmsKeyFile },
    controlPlane: { signingKey: INIT_PATHS.controlPlaneKey },
    gateway: {
      name: 'embedded',
      signingKey: INIT_PATHS.gatewaySignKey,
      sealingKey: INIT_PATHS.gatewaySealKey,
    },
    audit: { sinkFile: INIT_PATHS.sink },
    recordings: { dir: INIT_PATHS.recordings },
  };
  const header =
    '# Gatehouse configuration, written by "gatehouse init". Paths are relative to dataDir.\n';
  writeSecretFile(configPath, header + toYaml(config));
  return configPath;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}
