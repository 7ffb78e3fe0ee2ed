/**
 * A scripted MySQL server for unit tests of the upstream client: it speaks the connection phase
 * from the spec (greeting, SSLRequest, native and caching_sha2_password with its fast and full
 * paths, auth switch) and answers COM_PING. MariaDB here has neither TLS nor caching_sha2, so
 * those paths are exercised against this.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TLSSocket, createSecureContext } from 'node:tls';
import { PacketChannel } from '../packet-channel.js';
import {
  AuthPlugin,
  CachingSha2,
  Capability,
  Command,
  clearPasswordOf,
  decodeHandshakeResponse41,
  encodeAuthMoreData,
  encodeAuthSwitchRequest,
  encodeErr,
  encodeHandshakeV10,
  encodeOk,
  hasCapability,
  isCachingSha2ScrambleOf,
  isSslRequest,
  nativePasswordScramble,
  newScramble,
  rsaDecryptPassword,
  type HandshakeResponse41,
} from '../protocol/index.js';

/** Behaviour of a {@link FakeMysqlServer}. */
export interface FakeServerOptions {
  readonly password: string;
  /** Plugin named in the greeting. */
  readonly greetingPlugin: string;
  /** Plugin to switch to after the handshake response, if any. */
  readonly switchTo?: string;
  /** caching_sha2_password: the account is in the server's cache (fast path). */
  readonly isCached?: boolean;
  /** Offer TLS with this certificate. */
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly capabilities?: number;
  /** Send this ERR instead of a greeting. */
  readonly greetingError?: { code: number; message: string };
}

/** What the fake server saw. */
export interface FakeServerLog {
  readonly responses: HandshakeResponse41[];
  readonly passwordsSeen: string[];
  readonly usedTls: boolean[];
  readonly publicKeyRequests: number;
}

/** A running fake server. */
export interface FakeMysqlServer extends AsyncDisposable {
  readonly port: number;
  readonly log: FakeServerLog;
  close(): Promise<void>;
}

const DEFAULT_CAPS =
  Capability.LONG_PASSWORD |
  Capability.PROTOCOL_41 |
  Capability.SECURE_CONNECTION |
  Capability.PLUGIN_AUTH |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.CONNECT_WITH_DB |
  Capability.CONNECT_ATTRS |
  Capability.TRANSACTIONS |
  Capability.MULTI_STATEMENTS |
  Capability.MULTI_RESULTS |
  Capability.DEPRECATE_EOF |
  Capability.SESSION_TRACK;

/** Starts a fake server on a free loopback port. */
export async function startFakeMysqlServer(options: FakeServerOptions): Promise<FakeMysqlServer> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const log = {
    responses: [] as HandshakeResponse41[],
    passwordsSeen: [] as string[],
    usedTls: [] as boolean[],
    publicKeyRequests: 0,
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    void serve(socket, options, { pem, privateKey }, log).catch(() => socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port: (server.address() as AddressInfo).port,
    log: {
      get responses() {
        return log.responses;
      },
      get passwordsSeen() {
        return log.passwordsSeen;
      },
      get usedTls() {
        return log.usedTls;
      },
      get publicKeyRequests() {
        return log.publicKeyRequests;
      },
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function serve(
  socket: Socket,
  o: FakeServerOptions,
  rsa: { pem: string; privateKey: KeyObject },
  log: {
    responses: HandshakeResponse41[];
    passwordsSeen: string[];
    usedTls: boolean[];
    publicKeyRequests: number;
  },
): Promise<void> {
  let channel = new PacketChannel(socket, { maxPacketBytes: 1 << 20 });
  if (o.greetingError !== undefined) {
    channel.write(
      encodeErr({
        code: o.greetingError.code,
        sqlState: 'HY000',
        message: o.greetingError.message,
      }),
      0,
    );
    socket.end();
    return;
  }
  let nonce = newScramble();
  const caps =
    ((o.capabilities ?? DEFAULT_CAPS) | (o.tls === undefined ? 0 : Capability.SSL)) >>> 0;
  channel.write(
    encodeHandshakeV10({
      serverVersion: '8.0.99-fake',
      connectionId: 77,
      authPluginData: nonce,
      capabilities: caps,
      charset: 45,
      statusFlags: 2,
      authPluginName: o.greetingPlugin,
    }),
    0,
  );
  let packet = await channel.read(5000);
  let isTls = false;
  if (isSslRequest(packet.payload) && o.tls !== undefined) {
    const leftover = channel.detach();
    if (leftover.length > 0) socket.unshift(leftover);
    const secure = new TLSSocket(socket, {
      isServer: true,
      secureContext: createSecureContext({ cert: o.tls.cert, key: o.tls.key }),
    });
    secure.on('error', () => undefined);
    channel = new PacketChannel(secure, { maxPacketBytes: 1 << 20 });
    isTls = true;
    packet = await channel.read(5000);
  }
  log.usedTls.push(isTls);
  const response = decodeHandshakeResponse41(packet.payload);
  log.responses.push(response);
  let seq = (packet.lastSeq + 1) & 0xff;
  let plugin = response.authPluginName ?? AuthPlugin.NATIVE;
  let data = response.authResponse;
  if (o.switchTo !== undefined) {
    nonce = newScramble();
    plugin = o.switchTo;
    seq = channel.write(encodeAuthSwitchRequest({ pluginName: plugin, pluginData: nonce }), seq);
    const reply = await channel.read(5000);
    seq = (reply.lastSeq + 1) & 0xff;
    data = reply.payload;
  }
  const password = Buffer.from(o.password);
  let isOk = false;
  if (plugin === AuthPlugin.NATIVE) {
    isOk = nativePasswordScramble(password, nonce).equals(data);
  } else if (plugin === AuthPlugin.CLEAR) {
    const seen = clearPasswordOf(data).toString();
    log.passwordsSeen.push(seen);
    isOk = seen === o.password;
  } else if (plugin === AuthPlugin.CACHING_SHA2) {
    if (o.isCached === true && isCachingSha2ScrambleOf(data, password, nonce)) {
      seq = channel.write(encodeAuthMoreData(Buffer.from([CachingSha2.FAST_AUTH_SUCCESS])), seq);
      isOk = true;
    } else {
      seq = channel.write(encodeAuthMoreData(Buffer.from([CachingSha2.PERFORM_FULL_AUTH])), seq);
      let reply = await channel.read(5000);
      seq = (reply.lastSeq + 1) & 0xff;
      let seen: string;
      if (isTls) seen = clearPasswordOf(reply.payload).toString();
      else {
        if (
          reply.payload.length === 1 &&
          reply.payload.readUInt8(0) === CachingSha2.REQUEST_PUBLIC_KEY
        ) {
          log.publicKeyRequests += 1;
          seq = channel.write(encodeAuthMoreData(Buffer.from(rsa.pem)), seq);
          reply = await channel.read(5000);
          seq = (reply.lastSeq + 1) & 0xff;
        }
        seen = rsaDecryptPassword(reply.payload, nonce, rsa.privateKey).toString();
      }
      log.passwordsSeen.push(seen);
      isOk = seen === o.password;
    }
  }
  if (!isOk) {
    channel.write(
      encodeErr({
        code: 1045,
        sqlState: '28000',
        message: `Access denied for user '${response.username}'`,
      }),
      seq,
    );
    channel.socket.end();
    return;
  }
  channel.write(encodeOk({ statusFlags: 2 }), seq);
  const target = channel.socket;
  channel.detach();
  target.resume();
  // Command phase: COM_PING answered, anything else refused.
  const commands = new PacketChannel(target, { maxPacketBytes: 1 << 20 });
  for (;;) {
    const cmd = await commands.read(60_000);
    const code = cmd.payload.readUInt8(0);
    if (code === Command.QUIT) return void target.end();
    if (code === Command.PING) commands.write(encodeOk({ statusFlags: 2 }), 1);
    else
      commands.write(encodeErr({ code: 1047, sqlState: '08S01', message: 'Unknown command' }), 1);
  }
}

/** True when a client asked for `flag` in its handshake response. */
export function askedFor(response: HandshakeResponse41 | undefined, flag: number): boolean {
  return response !== undefined && hasCapability(response.capabilities, flag);
}
