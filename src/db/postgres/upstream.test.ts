import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PacketReader } from './packet-reader.js';
import { PgServerError } from './pg-errors.js';
import {
  parsePasswordMessage,
  parseStartupPacket,
  serializeAuthenticationCleartext,
  serializeAuthenticationMd5,
  serializeAuthenticationOk,
  serializeBackendKeyData,
  serializeErrorResponse,
  serializeParameterStatus,
  serializeReadyForQuery,
} from './protocol/index.js';
import { connectPgUpstream, type UpstreamTls } from './upstream.js';

/** How the fake server behaves. */
type Mode = 'md5' | 'cleartext' | 'no-database' | 'silent';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A PostgreSQL-speaking fake: refuses SSL, asks for a password the way `mode` says, checks it. */
async function fakeServer(mode: Mode, password: string): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((socket: Socket) => void serve(socket).catch(() => socket.destroy()));
  async function serve(socket: Socket): Promise<void> {
    const reader = new PacketReader(socket);
    let packet = parseStartupPacket(await reader.startupPacket());
    if (packet.kind === 'ssl-request') {
      socket.write('N');
      packet = parseStartupPacket(await reader.startupPacket());
    }
    if (packet.kind !== 'startup') return;
    const user = packet.params.get('user') ?? '';
    seen.push(`user=${user} app=${packet.params.get('application_name') ?? ''}`);
    if (mode === 'silent') return;
    if (mode === 'no-database') {
      socket.end(
        serializeErrorResponse([
          ['S', 'FATAL'],
          ['C', '3D000'],
          ['M', 'database "nope" does not exist'],
        ]),
      );
      return;
    }
    const salt = Buffer.from([1, 2, 3, 4]);
    socket.write(
      mode === 'md5' ? serializeAuthenticationMd5(salt) : serializeAuthenticationCleartext(),
    );
    const answer = parsePasswordMessage((await reader.message(1024)).body);
    const expected =
      mode === 'md5'
        ? `md5${md5(Buffer.concat([Buffer.from(md5(Buffer.from(password + user))), salt]))}`
        : password;
    if (answer !== expected) {
      socket.end(
        serializeErrorResponse([
          ['S', 'FATAL'],
          ['C', '28P01'],
          ['M', `password authentication failed for user "${user}"`],
        ]),
      );
      return;
    }
    socket.write(
      Buffer.concat([
        serializeAuthenticationOk(),
        serializeParameterStatus('server_version', '15.0'),
        serializeBackendKeyData({ pid: 42, secret: 7 }),
        serializeReadyForQuery('I'),
      ]),
    );
  }
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, seen };
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

const prefer: UpstreamTls = { mode: 'prefer' };

async function login(
  port: number,
  password: string,
  tls: UpstreamTls = prefer,
  timeoutMs?: number,
) {
  return connectPgUpstream({
    host: '127.0.0.1',
    port,
    password: Buffer.from(password),
    params: [
      ['user', 'leased'],
      ['database', 'app'],
      ['application_name', 'x [gatehouse:ses_1]'],
    ],
    tls,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

describe('upstream postgres login', () => {
  it('md5-and-cleartext-logins-work-and-give-parameters-and-the-key', async () => {
    for (const mode of ['md5', 'cleartext'] as const) {
      const server = await fakeServer(mode, 'leased-pw');
      const upstream = await login(server.port, 'leased-pw');
      expect(upstream.key).toEqual({ pid: 42, secret: 7 });
      expect(upstream.parameters).toEqual([['server_version', '15.0']]);
      expect(upstream.isTls).toBe(false);
      expect(server.seen).toEqual(['user=leased app=x [gatehouse:ses_1]']);
      upstream.socket.destroy();
    }
  });

  it('a-refused-password-is-upstream-auth-failed', async () => {
    const server = await fakeServer('md5', 'leased-pw');
    await expect(login(server.port, 'stale-pw')).rejects.toMatchObject({
      code: 'GH_UPSTREAM_AUTH_FAILED',
    });
  });

  it('a-target-error-during-login-is-passed-on-as-the-target-said-it', async () => {
    const server = await fakeServer('no-database', 'x');
    const err = await login(server.port, 'x').catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'GH_UPSTREAM_UNREACHABLE',
      message: 'database "nope" does not exist',
    });
    expect((err as { cause: unknown }).cause).toBeInstanceOf(PgServerError);
  });

  it('a-target-without-tls-is-refused-when-tls-is-required', async () => {
    const server = await fakeServer('md5', 'x');
    await expect(login(server.port, 'x', { mode: 'require' })).rejects.toMatchObject({
      code: 'GH_UPSTREAM_UNREACHABLE',
    });
  });

  it('a-closed-port-or-a-silent-server-is-unreachable', async () => {
    await expect(login(1, 'x')).rejects.toMatchObject({ code: 'GH_UPSTREAM_UNREACHABLE' });
    const server = await fakeServer('silent', 'x');
    await expect(login(server.port, 'x', prefer, 300)).rejects.toMatchObject({
      code: 'GH_UPSTREAM_UNREACHABLE',
    });
  });
});
