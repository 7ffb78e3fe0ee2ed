import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatehouseOk, runGatehouse } from './support/cli.js';
import { TEST_PG_URL } from './support/stores.js';

type Driver = 'sqlite' | 'postgres';

/** Runs SQL against the store of a setup, bypassing Gatehouse (as an attacker would). */
async function tamper(driver: Driver, dir: string, schema: string, sqlText: string): Promise<void> {
  if (driver === 'sqlite') {
    const db = new SqliteDatabase(join(dir, 'gatehouse.db'));
    db.exec(sqlText);
    db.close();
    return;
  }
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  await client.query(`set search_path = ${schema}`);
  await client.query(sqlText);
  await client.end();
}

describe.each(['sqlite', 'postgres'] as const)('gatehouse CLI on %s', (driver) => {
  let dir: string;
  let env: Record<string, string>;
  const schema = `gh_cli_${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-cli-'));
    const storeArgs =
      driver === 'postgres' ? ['--store-url', TEST_PG_URL, '--store-schema', schema] : [];
    const init = await gatehouseOk(['init', '--data-dir', dir, '--admin', 'root', ...storeArgs]);
    expect(init.stdout).toMatch(/admin password \(shown once.*\): \S{20,}/);
    env = { GATEHOUSE_CONFIG: join(dir, 'gatehouse.yaml') };
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (driver === 'postgres') {
      const client = new pg.Client({ connectionString: TEST_PG_URL });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    }
  });

  it('init-writes-a-config-and-0600-keys-and-refuses-to-run-twice', async () => {
    expect(statSync(join(dir, 'keys', 'control-plane.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keys', 'kms-master.json')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'gatehouse.yaml'), 'utf8')).toContain('hostKeys');
    const again = await runGatehouse(['init', '--data-dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('a Gatehouse setup already exists');
  });

  it('user-target-grant-revoke-and-audit-tail-work-end-to-end', async () => {
    const keyFile = join(dir, 'alice.pub');
    writeFileSync(
      keyFile,
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop\n',
    );
    await gatehouseOk(['user', 'add', 'alice', '--password-stdin', '--ssh-key', keyFile], {
      env,
      stdin: 'canary-Pw-77441\n',
    });
    const users = await gatehouseOk(['user', 'list', '--json'], { env });
    const names = users.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { name: string }).name);
    expect(names).toEqual(['alice', 'root']);

    await gatehouseOk(
      [
        'target',
        'add',
        'web-1',
        '--kind',
        'ssh',
        '--host',
        '127.0.0.1',
        '--port',
        '22',
        '--username',
        'deploy',
        '--label',
        'env=prod',
      ],
      { env },
    );
    const targets = await gatehouseOk(['target', 'list', '--json'], { env });
    expect(JSON.parse(targets.stdout.trim())).toMatchObject({
      name: 'web-1',
      kind: 'ssh',
      labels: { env: 'prod' },
    });

    const granted = await gatehouseOk(
      ['grant', 'alice', 'web-1', '--for', '2h', '--reason', 'incident 42', '--json'],
      { env },
    );
    const grant = JSON.parse(granted.stdout) as { id: string; expiresAt: string };
    expect(Date.parse(grant.expiresAt) - Date.now()).toBeGreaterThan(7_100_000);
    await gatehouseOk(['grant', '@user', 'label:env=prod'], { env });
    expect(
      (await gatehouseOk(['grant', 'list', '--json'], { env })).stdout.trim().split('\n'),
    ).toHaveLength(2);
    await gatehouseOk(['revoke', grant.id], { env });
    expect(
      (await gatehouseOk(['grant', 'list', '--json'], { env })).stdout.trim().split('\n'),
    ).toHaveLength(1);

    const tail = await gatehouseOk(['audit', 'tail', '-n', '50', '--json'], { env });
    const types = tail.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).toEqual(
      expect.arrayContaining([
        'admin.init',
        'admin.user.add',
        'admin.target.add',
        'grant.create',
        'grant.revoke',
      ]),
    );
    expect(tail.stdout).not.toContain('canary-Pw-77441');

    const verify = await gatehouseOk(['audit', 'verify'], { env });
    expect(verify.stdout).toMatch(/audit chain OK/);
  }, 180_000); // a dozen CLI processes: slow when the suite runs files side by side

  it('bad-input-gets-a-clear-error-naming-it', async () => {
    const badPort = await runGatehouse(
      ['target', 'add', 'x', '--kind', 'ssh', '--host', 'h', '--port', 'abc', '--username', 'u'],
      { env },
    );
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('"abc" is not a port number');
    const unknownUser = await runGatehouse(['grant', 'nobody', 'web-1'], { env });
    expect(unknownUser.code).toBe(1);
    expect(unknownUser.stderr).toContain('user "nobody" does not exist');
    const noConfig = await runGatehouse(['user', 'list'], {
      env: { GATEHOUSE_CONFIG: join(dir, 'missing.yaml') },
    });
    expect(noConfig.code).toBe(1);
    expect(noConfig.stderr).toMatch(/configuration file not found/);
  });

  it('editing-an-audit-row-in-the-store-makes-verify-fail-and-name-it', async () => {
    await tamper(
      driver,
      dir,
      schema,
      `update audit_events set data = replace(data, 'incident 42', 'routine') where type = 'grant.create'`,
    );
    const verify = await runGatehouse(['audit', 'verify', '--json'], { env });
    expect(verify.code).toBe(1);
    const report = JSON.parse(verify.stdout) as {
      ok: boolean;
      problems: { seq?: number; kind: string }[];
    };
    expect(report.ok).toBe(false);
    const tail = await gatehouseOk(['audit', 'tail', '-n', '100', '--json'], { env });
    const edited = tail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; type: string })
      .find((r) => r.type === 'grant.create');
    expect(report.problems[0]?.seq).toBe(edited?.seq);
    const text = await runGatehouse(['audit', 'verify'], { env });
    expect(text.stdout).toContain(`#${edited?.seq}`);
  });
});
