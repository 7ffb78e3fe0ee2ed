import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ServerChannel } from 'ssh2';
import type { GatewayControl } from '../lease/gateway-control.js';
import type { Logger } from '../log/index.js';
import type { RecordingStore } from '../recording/index.js';
import type { LoginName } from './addressing.js';
import { SshAuthenticator } from './auth.js';
import { ConnectionScope } from './connection-scope.js';
import { forwardDirectTcpip, handleGlobalRequest } from './forwarding.js';
import { handleSessionChannel } from './session-channel.js';
import type { UpstreamLink } from './upstream-link.js';

/** A client that has not authenticated by then is disconnected. */
export const AUTH_TIMEOUT_MS = 60_000;
/** Channels one connection may open over its life (sessions and forwards). */
const MAX_CHANNELS_PER_CONNECTION = 10_000;

/** Options of {@link SshFrontEnd}. */
export interface SshFrontEndOptions {
  readonly host: string;
  readonly port: number;
  /** Host private keys (OpenSSH or PEM). */
  readonly hostKeys: readonly Buffer[];
  readonly allowPassword: boolean;
  readonly control: GatewayControl;
  readonly recordings: RecordingStore;
  readonly log: Logger;
  readonly authTimeoutMs?: number;
}

/** How a connection reached us: directly, or as the inner hop of `ssh -J`. */
interface ConnectionOrigin {
  readonly clientAddr: string;
  /** The target a `-J` jump asked for (the inner login may not name one). */
  readonly jumpTarget?: string;
}

// Modern algorithms only (no SHA-1, no CBC); the same lists OpenSSH 9 prefers.
const ALGORITHMS: ssh2.Algorithms = {
  kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256', 'ecdh-sha2-nistp384', 'ecdh-sha2-nistp521', 'diffie-hellman-group16-sha512', 'diffie-hellman-group14-sha256'],
  cipher: ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr'],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'],
  serverHostKey: ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ecdsa-sha2-nistp256'],
  compress: ['none'],
};

/**
 * The SSH front end (DESIGN.md §3, §7): `ssh alice@bastion web-1`, `alice+web-1@bastion`,
 * `-J`, scp/sftp/rsync, port forwarding. It authenticates through the control plane, opens a
 * leased upstream connection per target, and relays, records and audits every channel.
 */
export class SshFrontEnd {
  readonly #o: SshFrontEndOptions;
  readonly #server: ssh2.Server;

  constructor(options: SshFrontEndOptions) {
    this.#o = options;
    this.#server = this.#newServer((info) => ({ clientAddr: info.ip }));
    this.#server.on('error', (err: Error) => options.log.error({ err: err.message }, 'ssh listener error'));
  }

  /** Starts listening; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    this.#server.listen(this.#o.port, this.#o.host);
    await once(this.#server, 'listening');
    return this.#server.address() as AddressInfo;
  }

  /** Stops accepting connections (open ones are ended by their sessions' close). */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #newServer(originOf: (info: ssh2.ClientInfo) => ConnectionOrigin): ssh2.Server {
    return new ssh2.Server(
      { hostKeys: [...this.#o.hostKeys], algorithms: ALGORITHMS, ident: 'Gatehouse' },
      (conn, info) => this.#onConnection(conn, originOf(info)),
    );
  }

  #onConnection(conn: Connection, origin: ConnectionOrigin): void {
    const log = this.#o.log.child({ clientAddr: origin.clientAddr, ...(origin.jumpTarget === undefined ? {} : { jump: origin.jumpTarget }) });
    let scope: ConnectionScope | undefined;
    const authTimer = setTimeout(() => conn.end(), this.#o.authTimeoutMs ?? AUTH_TIMEOUT_MS);
    authTimer.unref();
    const auth = new SshAuthenticator({
      control: this.#o.control,
      clientAddr: origin.clientAddr,
      allowPassword: this.#o.allowPassword,
      log,
      onAuthenticated: (user, login) => {
        const effective: LoginName = login.target === undefined && origin.jumpTarget !== undefined ? { ...login, target: origin.jumpTarget } : login;
        scope = new ConnectionScope({
          control: this.#o.control,
          user,
          login: effective,
          ctx: { clientAddr: origin.clientAddr, via: 'ssh' },
          recordings: this.#o.recordings,
          log: log.child({ user: user.user.name }),
          // ssh2's server connection has setNoDelay (lib/server.js); its typings leave it out.
          setNoDelay: (isOn) => (conn as Connection & { setNoDelay(isOn: boolean): unknown }).setNoDelay(isOn),
        });
      },
      onGiveUp: () => conn.end(),
    });
    conn.on('authentication', (ctx) => auth.handle(ctx));
    conn.on('error', (err: Error) => log.debug({ err: err.message }, 'ssh client connection error'));
    conn.on('close', () => {
      clearTimeout(authTimer);
      auth.connectionClosed();
      scope?.closeAll('client-closed');
    });
    conn.on('ready', () => {
      clearTimeout(authTimer);
      if (scope !== undefined) this.#serve(conn, scope, origin);
      else conn.end();
    });
  }

  #serve(conn: Connection, scope: ConnectionScope, origin: ConnectionOrigin): void {
    let channels = 0;
    const forwards = new Map<string, UpstreamLink>();
    const isWithinLimit = (): boolean => ++channels <= MAX_CHANNELS_PER_CONNECTION;
    conn.on('session', (accept, reject) => {
      if (!isWithinLimit()) return reject();
      handleSessionChannel(scope, accept(), channels);
    });
    conn.on('tcpip', (accept, reject, info) => {
      if (!isWithinLimit()) return reject();
      if (scope.login.target === undefined && origin.jumpTarget === undefined) {
        // `ssh -J alice@bastion web-1`: terminate the inner SSH here, as any other session.
        return this.#jump(scope, info.destIP, accept, reject, origin);
      }
      void forwardDirectTcpip(scope, info, accept, reject).catch(() => reject());
    });
    conn.on('request', (accept, reject, name, info) => {
      handleGlobalRequest(scope, conn, { name, info }, accept, reject, forwards);
    });
    conn.on('openssh.streamlocal', (_accept, reject, info) => {
      scope.denyRequest('direct-streamlocal@openssh.com', { socketPath: info.socketPath.slice(0, 256) });
      reject();
    });
  }

  #jump(scope: ConnectionScope, destination: string, accept: () => ServerChannel | undefined, reject: () => void, origin: ConnectionOrigin): void {
    void scope.control.reachable(scope.user).then(
      (reachable) => {
        if (!reachable.some((r) => r.target.name === destination && r.target.kind === 'ssh')) {
          scope.denyRequest('direct-tcpip', { destination, reason: 'jump-to-unknown-or-forbidden-target' });
          return reject();
        }
        const channel = accept();
        if (channel === undefined) return;
        const inner = this.#newServer(() => ({ clientAddr: origin.clientAddr, jumpTarget: destination }));
        const socketLike = Object.assign(channel, {
          remoteAddress: origin.clientAddr,
          remotePort: 0,
          remoteFamily: origin.clientAddr.includes(':') ? 'IPv6' : 'IPv4',
          setNoDelay: () => channel,
          setKeepAlive: () => channel,
        });
        // ssh2 only needs a duplex with net.Socket's address fields and no-op socket options.
        inner.injectSocket(socketLike as unknown as Parameters<ssh2.Server['injectSocket']>[0]);
      },
      () => reject(),
    );
  }
}
