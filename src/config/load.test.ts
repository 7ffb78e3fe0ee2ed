import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from './load.js';

const MINIMAL = {
  dataDir: '.',
  ssh: { hostKeys: ['keys/host'] },
  tls: { caCert: 'tls/ca.crt', cert: 'tls/s.crt', key: 'keys/s.key' },
  store: { driver: 'sqlite', path: 'g.db' },
  kms: { provider: 'local', keyFile: 'keys/kms.json' },
  controlPlane: { signingKey: 'keys/cp.key' },
  gateway: { signingKey: 'keys/gs.key', sealingKey: 'keys/gx.key' },
};

describe('config', () => {
  it('fills-defaults-and-makes-paths-absolute-from-the-data-dir', () => {
    const config = parseConfig(MINIMAL, { baseDir: '/srv/gh' });
    expect(config.ssh.port).toBe(2222);
    expect(config.postgres.port).toBe(15432);
    expect(config.mysql.port).toBe(13306);
    expect(config.web.port).toBe(8080);
    expect(config.listen.host).toBe('0.0.0.0');
    expect(config.store).toEqual({ driver: 'sqlite', path: '/srv/gh/g.db' });
    expect(config.audit.sinkFile).toBe('/srv/gh/audit/sink.jsonl');
  });

  it('an-unknown-key-fails-with-a-message-naming-it', () => {
    expect(() =>
      parseConfig({ ...MINIMAL, ssh: { ...MINIMAL.ssh, prot: 22 } }, { baseDir: '/' }),
    ).toThrow(/unknown key "ssh.prot"/);
    expect(() => parseConfig({ ...MINIMAL, sotre: {} }, { baseDir: '/' })).toThrow(
      /unknown key "sotre"/,
    );
  });

  it('a-bad-value-fails-with-a-message-naming-the-key', () => {
    expect(() =>
      parseConfig({ ...MINIMAL, ssh: { ...MINIMAL.ssh, port: 'x' } }, { baseDir: '/' }),
    ).toThrow(/ssh\.port: /);
    expect(() => parseConfig({ ...MINIMAL, web: { port: 70000 } }, { baseDir: '/' })).toThrow(
      /web\.port: /,
    );
    expect(() => parseConfig({ ...MINIMAL, store: { driver: 'mongo' } }, { baseDir: '/' })).toThrow(
      /store\.driver: /,
    );
  });

  it('a-postgres-store-is-accepted', () => {
    const config = parseConfig(
      { ...MINIMAL, store: { driver: 'postgres', url: 'postgres://x@h/db', schema: 'gh' } },
      { baseDir: '/' },
    );
    expect(config.store).toMatchObject({ driver: 'postgres', schema: 'gh' });
  });

  it('invalid-yaml-and-missing-files-say-so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-cfg-'));
    writeFileSync(join(dir, 'bad.yaml'), 'ssh: [unclosed');
    expect(() => loadConfig(join(dir, 'bad.yaml'))).toThrow(/not valid YAML/);
    expect(() => loadConfig(join(dir, 'none.yaml'))).toThrow(/configuration file not found/);
  });
});
