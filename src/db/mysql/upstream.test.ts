import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../core/errors.js';
import { createTlsMaterial, type TlsMaterial } from '../../tls/index.js';
import {
  createMariadbAccount,
  type MariadbAccount,
} from '../../../test/support/mariadb-account.js';
import { PacketChannel } from './packet-channel.js';
import { AuthPlugin, Capability, Command, encodeSimpleCommand } from './protocol/index.js';
import { askedFor, startFakeMysqlServer } from './testing/fake-server.js';
import { connectUpstream, type UpstreamConnection, type UpstreamOptions } from './upstream.js';
import { UpstreamServerError } from './upstream-login.js';

const PASSWORD = 'leased-Pässword-1';
const CLIENT_CAPS =
  Capability.DEPRECATE_EOF |
  Capability.MULTI_STATEMENTS |
  Capability.MULTI_RESULTS |
  Capability.LOCAL_FILES |
  Capability.COMPRESS;

function options(port: number, extra: Partial<UpstreamOptions> = {}): UpstreamOptions {
  return {
    host: '127.0.0.1',
    port,
    username: 'leased',
    password: Buffer.from(PASSWORD),
    charset: 45,
    clientCapabilities: CLIENT_CAPS,
    connectTimeoutMs: 5000,
    ...extra,
  };
}

/** Proves the connection is in the command phase: COM_PING answered with OK. */
async function ping(conn: UpstreamConnection): Promise<number> {
  const channel = new PacketChannel(conn.socket, { maxPacketBytes: 1 << 20 });
  channel.write(encodeSimpleCommand(Command.PING), 0);
  const reply = await channel.read(5000);
  conn.socket.destroy();
  return reply.payload.readUInt8(0);
}

let tls: TlsMaterial;
beforeAll(async () => {
  tls = await createTlsMaterial({ names: ['localhost', '127.0.0.1'] });
});

describe('upstream login (scripted server)', () => {
  it('caching-sha2-fast-path-logs-in-with-the-scramble-only', async () => {
    await using server = await startFakeMysqlServer({
      password: PASSWORD,
      greetingPlugin: AuthPlugin.CACHING_SHA2,
      isCached: true,
    });
    const conn = await connectUpstream(
      options(server.port, { database: 'shop', attributes: [['gatehouse_user', 'alice']] }),
    );
    expect(await ping(conn)).toBe(0);
    expect(server.log.passwordsSeen).toEqual([]);
    const response = server.log.responses[0];
    expect(response).toMatchObject({
      username: 'leased',
      database: 'shop',
      authPluginName: 'caching_sha2_password',
      attributes: [['gatehouse_user', 'alice']],
    });
    expect(askedFor(response, Capability.LOCAL_FILES)).toBe(false);
    expect(askedFor(response, Capability.COMPRESS)).toBe(false);
    expect(askedFor(response, Capability.DEPRECATE_EOF)).toBe(true);
  });

  it('caching-sha2-full-path-over-tls-sends-the-password-inside-tls', async () => {
    await using server = await startFakeMysqlServer({
      password: PASSWORD,
      greetingPlugin: AuthPlugin.CACHING_SHA2,
      tls: { cert: tls.server.certPem, key: tls.server.keyPem },
    });
    const conn = await connectUpstream(
      options(server.port, { tls: { mode: 'verify-full', ca: tls.ca.certPem } }),
    );
    expect(conn.isTls).toBe(true);
    expect(await ping(conn)).toBe(0);
    expect(server.log.usedTls).toEqual([true]);
    expect(server.log.passwordsSeen).toEqual([PASSWORD]);
  });

  it('caching-sha2-full-path-without-tls-uses-the-servers-rsa-key', async () => {
    await using server = await startFakeMysqlServer({
      password: PASSWORD,
      greetingPlugin: AuthPlugin.CACHING_SHA2,
    });
    const conn = await connectUpstream(options(server.port, { tls: { mode: 'disable' } }));
    expect(await ping(conn)).toBe(0);
    expect(server.log.publicKeyRequests).toBe(1);
    expect(server.log.passwordsSeen).toEqual([PASSWORD]);
  });

  it('follows-an-auth-switch-from-native-to-caching-sha2', async () => {
    await using server = await startFakeMysqlServer({
      password: PASSWORD,
      greetingPlugin: AuthPlugin.NATIVE,
      switchTo: AuthPlugin.CACHING_SHA2,
      isCached: true,
    });
    expect(await ping(await connectUpstream(options(server.port)))).toBe(0);
  });

  it('refuses-a-clear-password-switch-without-tls', async () => {
    await using server = await startFakeMysqlServer({
      password: PASSWORD,
      greetingPlugin: AuthPlugin.NATIVE,
      switchTo: AuthPlugin.CLEAR,
    });
    const err = await connectUpstream(options(server.port)).catch((e: unknown) => e);
    expect(isGatehouseError(err, 'GH_UPSTREAM_UNREACHABLE')).toBe(true);
    expect(server.log.passwordsSeen).toEqual([]);
  });

  it('require-encrypts-without-checking-and-verify-ca-skips-the-name', async () => {
    await using server = await startFakeMysqlServer({
      password: PASSWORD,
      greetingPlugin: AuthPlugin.CACHING_SHA2,
      tls: { cert: tls.server.certPem, key: tls.server.keyPem },
    });
    const required = await connectUpstream(options(server.port, { tls: { mode: 'require' } }));
    expect(required.isTls).toBe(true);
    required.socket.destroy();
    const byCa = await connectUpstream(
      options(server.port, {
        tls: { mode: 'verify-ca', ca: tls.ca.certPem, servername: 'not-in-the-certificate' },
      }),
    );
    expect(byCa.isTls).toBe(true);
    byCa.socket.destroy();
    const byName = await connectUpstream(
      options(server.port, {
        tls: { mode: 'verify-full', ca: tls.ca.certPem, servername: 'not-in-the-certificate' },
      }),
    ).catch((e: unknown) => e);
    expect(isGatehouseError(byName, 'GH_UPSTREAM_UNREACHABLE')).toBe(true);
  });

  it('require-fails-when-the-target-offers-no-tls', async () => {
    await using server = await startFakeMysqlServer({
      password: PASSWORD,
      greetingPlugin: AuthPlugin.NATIVE,
    });
    const err = await connectUpstream(options(server.port, { tls: { mode: 'require' } })).catch(
      (e: unknown) => e,
    );
    expect(isGatehouseError(err, 'GH_UPSTREAM_UNREACHABLE')).toBe(true);
    expect(server.log.responses).toEqual([]);
  });

  it('verify-mode-rejects-a-certificate-from-another-ca', async () => {
    const other = await createTlsMaterial({ names: ['localhost'] });
    await using server = await startFakeMysqlServer({
      password: PASSWORD,
      greetingPlugin: AuthPlugin.CACHING_SHA2,
      tls: { cert: other.server.certPem, key: other.server.keyPem },
    });
    const err = await connectUpstream(
      options(server.port, { tls: { mode: 'verify-full', ca: tls.ca.certPem } }),
    ).catch((e: unknown) => e);
    expect(isGatehouseError(err, 'GH_UPSTREAM_UNREACHABLE')).toBe(true);
    expect(server.log.passwordsSeen).toEqual([]);
  });

  it('wrong-credential-is-upstream-auth-failed', async () => {
    await using server = await startFakeMysqlServer({
      password: 'something else',
      greetingPlugin: AuthPlugin.NATIVE,
    });
    const err = await connectUpstream(options(server.port)).catch((e: unknown) => e);
    expect(isGatehouseError(err, 'GH_UPSTREAM_AUTH_FAILED')).toBe(true);
  });

  it('a-greeting-error-is-passed-on-as-the-servers-error', async () => {
    await using server = await startFakeMysqlServer({
      password: PASSWORD,
      greetingPlugin: AuthPlugin.NATIVE,
      greetingError: { code: 1040, message: 'Too many connections' },
    });
    const err = await connectUpstream(options(server.port)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamServerError);
    expect((err as UpstreamServerError).err.code).toBe(1040);
  });

  it('refuses-a-server-lacking-a-format-capability-the-client-negotiated', async () => {
    await using server = await startFakeMysqlServer({
      password: PASSWORD,
      greetingPlugin: AuthPlugin.NATIVE,
      capabilities:
        Capability.LONG_PASSWORD |
        Capability.PROTOCOL_41 |
        Capability.SECURE_CONNECTION |
        Capability.PLUGIN_AUTH,
    });
    const err = await connectUpstream(options(server.port)).catch((e: unknown) => e);
    expect(isGatehouseError(err, 'GH_UPSTREAM_UNREACHABLE')).toBe(true);
  });

  it('a-closed-port-or-a-silent-server-is-unreachable', async () => {
    const silent = createServer(() => undefined).listen(0, '127.0.0.1');
    await new Promise((resolve) => silent.once('listening', resolve));
    const port = (silent.address() as AddressInfo).port;
    const err = await connectUpstream(options(port, { connectTimeoutMs: 300 })).catch(
      (e: unknown) => e,
    );
    expect(isGatehouseError(err, 'GH_UPSTREAM_UNREACHABLE')).toBe(true);
    await new Promise((resolve) => silent.close(resolve));
    const closed = await connectUpstream(options(port)).catch((e: unknown) => e);
    expect(isGatehouseError(closed, 'GH_UPSTREAM_UNREACHABLE')).toBe(true);
  });
});

describe('upstream login (MariaDB)', () => {
  let account: MariadbAccount;
  beforeAll(async () => {
    account = await createMariadbAccount({ password: PASSWORD, prefix: 'gh_up_' });
  });
  afterAll(async () => {
    await account.drop();
  });

  it('logs-in-with-mysql-native-password', async () => {
    const conn = await connectUpstream({
      ...options(account.port),
      host: account.host,
      username: account.user,
    });
    expect(conn.greeting.serverVersion).toMatch(/MariaDB/);
    expect(conn.isTls).toBe(false);
    expect(await ping(conn)).toBe(0);
  });

  it('a-wrong-leased-password-is-upstream-auth-failed', async () => {
    const err = await connectUpstream({
      ...options(account.port),
      host: account.host,
      username: account.user,
      password: Buffer.from('wrong'),
    }).catch((e: unknown) => e);
    expect(isGatehouseError(err, 'GH_UPSTREAM_AUTH_FAILED')).toBe(true);
  });

  it('an-unknown-database-is-the-servers-own-error', async () => {
    const err = await connectUpstream({
      ...options(account.port),
      host: account.host,
      username: account.user,
      database: 'no_such_db_gh',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamServerError);
    expect([1044, 1049]).toContain((err as UpstreamServerError).err.code);
  });
});
