import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isGatehouseError } from '../../core/errors.js';
import { createTlsMaterial, type TlsMaterial } from '../../tls/index.js';
import {
  acceptClientLogin,
  ClientLoginError,
  type ClientLogin,
  type ClientLoginOptions,
} from './client-login.js';
import { Capability, ServerStatus } from './protocol/index.js';
import { connectUpstream } from './upstream.js';
import { UpstreamServerError } from './upstream-login.js';

let tls: TlsMaterial;
let server: Server | undefined;
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa = {
  privateKey,
  publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
};

beforeAll(async () => {
  tls = await createTlsMaterial({ names: ['localhost', '127.0.0.1'] });
});
afterEach(() => {
  server?.close();
  server = undefined;
});

/** Runs the gateway's connection phase on one accepted socket; `onLogin` decides the reply. */
async function gateway(
  options: Partial<ClientLoginOptions>,
  onLogin: (login: ClientLogin) => void,
): Promise<{ port: number; result: Promise<ClientLogin | ClientLoginError> }> {
  let resolveResult: (r: ClientLogin | ClientLoginError) => void = () => undefined;
  const result = new Promise<ClientLogin | ClientLoginError>(
    (resolve) => (resolveResult = resolve),
  );
  server = createServer((socket: Socket) => {
    acceptClientLogin(socket, {
      serverVersion: '8.0.36-gatehouse',
      connectionId: 7,
      tls: createSecureContext({ cert: tls.server.certPem, key: tls.server.keyPem }),
      allowPlaintext: false,
      rsa: undefined,
      timeoutMs: 5000,
      ...options,
    }).then(
      (login) => {
        resolveResult(login);
        onLogin(login);
      },
      (err: unknown) =>
        resolveResult(err instanceof ClientLoginError ? err : new ClientLoginError(String(err))),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, result };
}

const client = (port: number, extra: { tlsMode: 'disable' | 'verify-full'; password?: string }) =>
  connectUpstream({
    host: '127.0.0.1',
    port,
    username: 'alice#shop-db',
    password: Buffer.from(extra.password ?? 'pässword'),
    database: 'shop',
    charset: 224,
    clientCapabilities: Capability.DEPRECATE_EOF | Capability.MULTI_STATEMENTS,
    attributes: [['program_name', 'test']],
    tls:
      extra.tlsMode === 'verify-full'
        ? { mode: 'verify-full', ca: tls.ca.certPem }
        : { mode: 'disable' },
  });

describe('client login (connection phase as a server)', () => {
  it('caching-sha2-full-auth-over-tls-yields-the-password-and-the-handshake', async () => {
    const gw = await gateway({}, (login) =>
      login.reply({ ok: true, statusFlags: ServerStatus.AUTOCOMMIT }),
    );
    const conn = await client(gw.port, { tlsMode: 'verify-full' });
    const login = await gw.result;
    if (login instanceof ClientLoginError) throw login;
    expect(login.isTls).toBe(true);
    expect(login.secret.toString()).toBe('pässword');
    expect(login.response).toMatchObject({
      username: 'alice#shop-db',
      database: 'shop',
      charset: 224,
      attributes: [['program_name', 'test']],
    });
    expect(conn.greeting.serverVersion).toBe('8.0.36-gatehouse');
    expect(conn.connectionId).toBe(7);
    conn.socket.destroy();
  });

  it('without-tls-and-plaintext-not-allowed-the-client-gets-3159', async () => {
    const gw = await gateway({}, () => undefined);
    const err = await client(gw.port, { tlsMode: 'disable' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamServerError);
    expect((err as UpstreamServerError).err.code).toBe(3159);
    expect(await gw.result).toBeInstanceOf(ClientLoginError);
  });

  it('plaintext-allowed-uses-the-rsa-key-so-the-password-never-crosses-in-clear', async () => {
    const gw = await gateway({ allowPlaintext: true, rsa }, (login) =>
      login.reply({ ok: true, statusFlags: ServerStatus.AUTOCOMMIT }),
    );
    const conn = await client(gw.port, { tlsMode: 'disable', password: 'over-rsa' });
    const login = await gw.result;
    if (login instanceof ClientLoginError) throw login;
    expect(login.isTls).toBe(false);
    expect(login.secret.toString()).toBe('over-rsa');
    conn.socket.destroy();
  });

  it('an-empty-password-is-taken-at-once-without-asking-for-full-authentication', async () => {
    const gw = await gateway({}, (login) =>
      login.reply({
        ok: false,
        err: { code: 1045, sqlState: '28000', message: 'permission denied' },
      }),
    );
    const err = await client(gw.port, { tlsMode: 'verify-full', password: '' }).catch(
      (e: unknown) => e,
    );
    expect(isGatehouseError(err, 'GH_UPSTREAM_AUTH_FAILED')).toBe(true);
    const login = await gw.result;
    if (login instanceof ClientLoginError) throw login;
    expect(login.secret.length).toBe(0);
  });

  it('a-refusal-reaches-the-client-as-its-err-packet', async () => {
    const gw = await gateway({}, (login) =>
      login.reply({
        ok: false,
        err: { code: 1045, sqlState: '28000', message: 'permission denied' },
      }),
    );
    const err = await client(gw.port, { tlsMode: 'verify-full' }).catch((e: unknown) => e);
    expect(isGatehouseError(err, 'GH_UPSTREAM_AUTH_FAILED')).toBe(true);
  });
});
