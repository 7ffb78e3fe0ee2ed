import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { GatehouseError } from '../core/errors.js';
import type { StoreConfig } from '../store/index.js';
import { configSchema, type Config } from './schema.js';

/** Where to find the config: `--config`, then `$GATEHOUSE_CONFIG`, then `./gatehouse.yaml`. */
export function resolveConfigPath(explicit: string | undefined, env = process.env): string {
  return resolve(explicit ?? env['GATEHOUSE_CONFIG'] ?? 'gatehouse.yaml');
}

/** Reads and validates a config file; relative paths are taken from the file's folder. */
export function loadConfig(path: string): Config {
  if (!existsSync(path)) {
    throw new GatehouseError('GH_CONFIG_NOT_FOUND', {
      message: `configuration file not found: ${path}`,
    });
  }
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new GatehouseError('GH_CONFIG_INVALID', {
      message: `${path}: not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
      cause: err,
    });
  }
  return parseConfig(raw, { baseDir: dirname(resolve(path)), source: path });
}

/** Validates a config object; errors name the key, e.g. `ssh.port: expected number`. */
export function parseConfig(raw: unknown, options: { baseDir: string; source?: string }): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    throw new GatehouseError('GH_CONFIG_INVALID', {
      message: `${options.source ?? 'configuration'}: ${formatIssues(result.error.issues)}`,
    });
  }
  return absolutize(result.data, options.baseDir);
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => (path === '' ? k : `${path}.${k}`));
        return `unknown key ${keys.map((k) => `"${k}"`).join(', ')}`;
      }
      return `${path === '' ? '(top level)' : path}: ${issue.message}`;
    })
    .join('; ');
}

function absolutize(config: Config, baseDir: string): Config {
  const dataDir = abs(baseDir, config.dataDir);
  const at = (p: string): string => abs(dataDir, p);
  return {
    ...config,
    dataDir,
    ssh: { ...config.ssh, hostKeys: config.ssh.hostKeys.map(at) },
    tls: {
      caCert: at(config.tls.caCert),
      cert: at(config.tls.cert),
      key: at(config.tls.key),
      ...(config.tls.caKey === undefined ? {} : { caKey: at(config.tls.caKey) }),
    },
    store:
      config.store.driver === 'sqlite'
        ? { ...config.store, path: at(config.store.path) }
        : config.store,
    kms:
      config.kms.provider === 'local'
        ? { ...config.kms, keyFile: at(config.kms.keyFile) }
        : config.kms,
    controlPlane: { signingKey: at(config.controlPlane.signingKey) },
    gateway: {
      ...config.gateway,
      signingKey: at(config.gateway.signingKey),
      sealingKey: at(config.gateway.sealingKey),
    },
    audit: { ...config.audit, sinkFile: at(config.audit.sinkFile) },
    recordings: { dir: at(config.recordings.dir) },
  };
}

function abs(base: string, p: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}

/** The store part of a config, in the shape `openStore` takes. */
export function storeConfigOf(config: Config): StoreConfig {
  return config.store;
}
