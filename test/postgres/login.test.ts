import { readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { freePort } from '../support/sshd.js';
import { cstr, int32, packet } from '../../src/db/postgres/protocol/testing/test-buffers.js';
import {
  ALICE_PASSWORD,
  LEASED_PASSWORD,
  LEASED_ROLE,
  startPgWorld,
  type PgWorld,
} from './fixture.js';

let world: PgWorld;
beforeAll(async () => {
  world = await startPgWorld();
}, 90_000);
afterAll(async () => {
  await world?.[Symbol.asyncDispose]();
});

/** The error a pg client gets when it cannot log in. */
async function loginError(
  config: pg.ClientConfig & { login?: string },
): Promise<{ code?: string; message: string; hint?: string }> {
  const client = new pg.Client(world.clientConfig(config));
  try {
    await client.connect();
  } catch (err) {
    return err as { code?: string; message: string; hint?: string };
  } finally {
    await client.end().catch(() => undefined);
  }
  throw new Error('login unexpectedly succeeded');
}

/**
 * Writes `steps` on a plain connection, each after the gateway answered the previous one, and
 * returns everything the gateway answers until it closes.
 */
function rawExchange(...steps: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = netConnect({ host: '127.0.0.1', port: world.gatehouse.pgPort }, () =>
      s.write(steps.shift() ?? Buffer.alloc(0)),
    );
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      const next = steps.shift();
      if (next !== undefined) s.write(next);
    });
    s.once('close', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
    setTimeout(() => s.destroy(), 5_000).unref();
  });
}

describe('postgres login through the gateway', () => {
  it('psql-with-verify-full-and-the-init-ca-runs-as-the-leased-role', async () => {
    const run = await world.psql(['-At', '-c', 'select current_user, current_database()']);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe(`${LEASED_ROLE}|app`);
  });

  it('psql-with-sslmode-require-works-too', async () => {
    const run = await world.psql(['-At', '-c', 'select 42'], { sslmode: 'require' });
    expect(run.stdout.trim()).toBe('42');
  });

  it('the-target-sees-the-bastion-address-and-the-session-id-in-application-name', async () => {
    const client = await world.connect({ application_name: 'billing-report' });
    const { rows } = await client.query<{
      application_name: string;
      client_addr: string;
      usename: string;
    }>(
      'select application_name, host(client_addr) as client_addr, usename from pg_stat_activity where pid = pg_backend_pid()',
    );
    await client.end();
    expect(rows[0]?.usename).toBe(LEASED_ROLE);
    expect(rows[0]?.client_addr).toBe('127.0.0.1');
    expect(rows[0]?.application_name).toMatch(/^billing-report \[gatehouse:ses_[0-9a-f]{24}\]$/);
    const sid = /gatehouse:(ses_[0-9a-f]+)/.exec(rows[0]?.application_name ?? '')?.[1];
    const start = (await world.auditEvents()).find(
      (e) => e.type === 'session.start' && e.sid === sid,
    );
    expect(start).toMatchObject({
      user: 'alice',
      target: 'orders-db',
      data: { via: 'postgres', account: LEASED_ROLE },
    });
  });

  it('gatehouse-ca-prints-the-ca-that-verifies-the-gateway', async () => {
    const [printed, path] = await Promise.all([
      world.gatehouse.cli(['ca']),
      world.gatehouse.cli(['ca', '--path']),
    ]);
    expect(printed.stdout.trim()).toBe(readFileSync(world.caPath, 'utf8').trim());
    expect(printed.stderr).toMatch(/SHA-256 fingerprint/);
    expect(path.stdout.trim()).toBe(world.caPath);
  });

  it('the-gateway-talks-tls-to-the-target-and-verifies-it-when-told-to', async () => {
    for (const login of ['alice#orders-db', 'alice#orders-tls']) {
      const client = await world.connect({ login });
      const { rows } = await client.query<{ ssl: boolean }>(
        'select ssl from pg_stat_ssl where pid = pg_backend_pid()',
      );
      expect(rows[0]?.ssl, login).toBe(true);
      await client.end();
    }
    // A target whose certificate the configured CA did not sign is not talked to.
    const err = await loginError({ login: 'alice#orders-badca' });
    expect(err.code).toBe('08006');
  });

  it('a-plaintext-connection-is-refused-with-a-hint', async () => {
    const run = await world.psql(['-c', 'select 1'], { sslmode: 'disable' });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/an encrypted connection is required/);
    expect(run.stderr).toMatch(/HINT: {2}connect with TLS/);
    const err = await loginError({ ssl: false });
    expect(err.code).toBe('28000');
  });

  it('a-wrong-password-is-28P01-and-audited', async () => {
    const err = await loginError({ password: 'wrong' });
    expect(err.code).toBe('28P01');
    expect(err.message).toBe('password authentication failed for user "alice#orders-db"');
    const run = await world.psql(['-c', 'select 1'], { password: 'wrong' });
    expect(run.stderr).toMatch(/password authentication failed for user "alice#orders-db"/);
    const failures = (await world.auditEvents()).filter(
      (e) => e.type === 'auth.failure' && e.user === 'alice',
    );
    expect(failures.at(-1)?.data).toMatchObject({
      method: 'postgres-scram',
      reason: 'bad-password',
    });
  });

  it('an-unknown-user-looks-like-a-wrong-password', async () => {
    const err = await loginError({ login: 'mallory#orders-db' });
    expect(err.code).toBe('28P01');
  });

  it('a-login-without-a-target-gets-28000-and-the-form-to-use', async () => {
    const err = await loginError({ login: 'alice' });
    expect(err.code).toBe('28000');
    expect(err.message).toBe('the user name must name a target');
    expect(err.hint).toBe('connect as user#target, e.g. alice#orders-db');
  });

  it('no-grant-unknown-target-and-an-ssh-target-are-all-the-same-denial', async () => {
    for (const login of ['alice#hidden-db', 'alice#no-such-db', 'alice#web-1']) {
      const err = await loginError({ login });
      expect(err.code, login).toBe('28000');
      expect(err.message, login).toBe('access denied');
    }
    const denials = (await world.auditEvents()).filter(
      (e) => e.type === 'access.denied' && e.user === 'alice',
    );
    expect(denials.map((e) => e.target)).toEqual(
      expect.arrayContaining(['hidden-db', 'no-such-db', 'web-1']),
    );
    expect(denials.find((e) => e.target === 'web-1')?.data).toMatchObject({ reason: 'wrong-kind' });
  });

  it('a-target-that-is-down-is-08006-with-a-hint', async () => {
    const err = await loginError({ login: 'alice#down-db' });
    expect(err.code).toBe('08006');
    expect(err.message).toBe('target "down-db" cannot be reached');
    expect(err.hint).toMatch(/the target may be down/);
  });

  it('another-database-than-the-targets-is-refused', async () => {
    const err = await loginError({ database: 'postgres' });
    expect(err.code).toBe('28000');
    expect(err.message).toBe('target "orders-db" serves database "app" only');
  });

  it('a-personal-token-logs-in-with-gatehouse-auth-token', async () => {
    const run = await world.psql(['-At', '-c', 'select current_user'], {
      login: 'bob#orders-db',
      password: world.bobToken,
      env: { PGOPTIONS: '-c gatehouse.auth=token' },
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe(LEASED_ROLE);
    // Without the option, SCRAM against a user who has no verifier fails like a wrong password.
    const err = await loginError({ login: 'bob#orders-db', password: world.bobToken });
    expect(err.code).toBe('28P01');
    expect(err.hint).toMatch(/gatehouse.auth=token/);
  });

  it('the-leased-password-is-not-a-gatehouse-password', async () => {
    const err = await loginError({ password: LEASED_PASSWORD });
    expect(err.code).toBe('28P01');
  });

  it('gssenc-is-declined-and-the-client-may-go-on', async () => {
    const answer = await rawExchange(
      packet(int32(80877104)),
      packet(int32(196608), cstr('user'), cstr('alice#orders-db'), Buffer.of(0)),
    );
    expect(answer.subarray(0, 1).toString()).toBe('N');
    // Then plaintext is refused with an ErrorResponse, not a dropped connection.
    expect(answer.subarray(1, 2).toString()).toBe('E');
    expect(answer.toString('latin1')).toContain('28000');
  });

  it('data-sent-before-the-answer-to-gssenc-or-ssl-is-a-protocol-violation', async () => {
    const startup = packet(int32(196608), cstr('user'), cstr('alice#orders-db'), Buffer.of(0));
    for (const code of [80877104, 80877103]) {
      const answer = await rawExchange(Buffer.concat([packet(int32(code)), startup]));
      expect(answer.subarray(0, 1).toString()).toBe('E');
      expect(answer.toString('latin1')).toContain('08P01');
    }
  });

  it('an-absurd-startup-length-is-a-protocol-violation', async () => {
    const answer = await rawExchange(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(answer.subarray(0, 1).toString()).toBe('E');
    expect(answer.toString('latin1')).toContain('08P01');
  });

  it('the-newcomer-walkthrough-with-the-real-cli-works', async () => {
    const { cluster, gatehouse } = world;
    await Promise.all([
      gatehouse.cli(['user', 'add', 'carol', '--password-stdin'], { stdin: 'carol-pw-123\n' }),
      gatehouse.cli([
        'target',
        'add',
        'orders-cli',
        '--kind',
        'postgres',
        '--host',
        cluster.host,
        '--port',
        String(cluster.port),
        '--username',
        LEASED_ROLE,
        '--database',
        'app',
      ]),
    ]);
    await Promise.all([
      gatehouse.cli(['credential', 'set', 'orders-cli', '--password-stdin'], {
        stdin: `${LEASED_PASSWORD}\n`,
      }),
      gatehouse.cli(['grant', 'carol', 'orders-cli', '--for', '1h']),
    ]);
    const run = await world.psql(['-At', '-c', 'select current_user'], {
      login: 'carol#orders-cli',
      password: 'carol-pw-123',
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe(LEASED_ROLE);
    expect(ALICE_PASSWORD).not.toBe('carol-pw-123');
  });

  // Last: it restarts the gateway with a changed configuration.
  it('a-port-dedicated-to-one-target-takes-the-plain-user-name', async () => {
    const port = await freePort();
    const config = parseYaml(readFileSync(world.gatehouse.configPath, 'utf8')) as {
      postgres: Record<string, unknown>;
    };
    config.postgres['targetPorts'] = { 'orders-db': port };
    writeFileSync(world.gatehouse.configPath, toYaml(config));
    await world.gatehouse.stop();
    await world.gatehouse.restart();
    const run = await world.psql(['-At', '-c', 'select current_user'], {
      conninfo: world
        .conninfo({ login: 'alice' })
        .replace(`port=${world.gatehouse.pgPort}`, `port=${port}`),
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe(LEASED_ROLE);
    const other = await loginError({ port, login: 'alice#orders-ro' });
    expect(other.code).toBe('28000');
    expect(other.message).toBe('this port serves target "orders-db" only');
  });
});
