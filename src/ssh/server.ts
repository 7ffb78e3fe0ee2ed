import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ServerChannel } from 'ssh2';
import type { GatewayControl } from '../lease/gateway-control.js';
import {
  checkedWithin,
  clientAddressOf,
  refusalError,
  type Admission,
  type ConnectionGate,
  type RefusalReason,
} from '../listen/index.js';
import type { Logger } from '../log/index.js';
import type { RecordingStore } from '../recording/index.js';
import type { LoginName } from './addressing.js';
import { SshAuthenticator } from './auth.js';
import { ConnectionScope } from './connection-scope.js';
import { forwardDirectTcpip, handleGlobalRequest } from './forwarding.js';
import { handleSessionChannel } from './session-channel.js';
import type { UpstreamLink } from './upstream-link.js';

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
  /** Admits connections and gives each its login deadline (limits shared by every listener). */
  readonly gate: ConnectionGate;
}

/** How a connection reached us: directly, or as the inner hop of `ssh -J`. */
interface ConnectionOrigin {
  readonly clientAddr: string;
  /** The gate's record of a direct connection (a `-J` inner one has none: its outer one is logged in). */
  readonly admission?: Admission | undefined;
  /** The target a `-J` jump asked for (the inner login may not name one). */
  readonly jumpTarget?: string;
}

// Modern algorithms only (no SHA-1, no CBC); the same lists OpenSSH 9 prefers.
const ALGORITHMS: ssh2.Algorithms = {
  kex: [
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'ecdh-sha2-nistp256',
    'ecdh-sha2-nistp384',
    'ecdh-sha2-nistp521',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group14-sha256',
  ],
  cipher: [
    'chacha20-poly1305@openssh.com',
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
    'aes128-ctr',
    'aes192-ctr',
    'aes256-ctr',
  ],
  hmac: [
    'hmac-sha2-256-etm@openssh.com',
    'hmac-sha2-512-etm@openssh.com',
    'hmac-sha2-256',
    'hmac-sha2-512',
  ],
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
  /** Accepts TCP connections; the admitted ones are handed to {@link #ssh}. */
  readonly #listener: Server;
  readonly #ssh: ssh2.Server;
  /** Admitted sockets by `address:port` until ssh2 reports them (after the client's version line). */
  readonly #admissions = new Map<string, Admission>();

  constructor(options: SshFrontEndOptions) {
    this.#o = options;
    this.#ssh = this.#newServer((info) => ({
      clientAddr: clientAddressOf(info.ip),
      admission: this.#takeAdmission(info.ip, info.port),
    }));
    this.#listener = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#listener.on('error', (err: Error) => options.gate.reportListenerError('ssh', err));
  }

  /** Starts listening; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    this.#listener.listen(this.#o.port, this.#o.host);
    await once(this.#listener, 'listening');
    return this.#listener.address() as AddressInfo;
  }

  /** Stops accepting connections (open ones are ended by their sessions' close). */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#listener.close(() => resolve()));
  }

  /**
   * The gate's deadline runs from accept, so a client that never sends its version line (ssh2
   * reports a connection only after it) is closed on time too.
   */
  #accept(socket: Socket): void {
    const admission = this.#o.gate.admit(socket, { listener: 'ssh', refusal: refusalLine });
    if (admission === undefined) return;
    const key = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    this.#admissions.set(key, admission);
    socket.once('close', () => this.#admissions.delete(key));
    admission.onExpired(() => socket.destroy());
    this.#ssh.injectSocket(socket);
  }

  #takeAdmission(ip: string, port: number): Admission | undefined {
    const key = `${ip}:${port}`;
    const admission = this.#admissions.get(key);
    this.#admissions.delete(key);
    return admission;
  }

  #newServer(originOf: (info: ssh2.ClientInfo) => ConnectionOrigin): ssh2.Server {
    // Never listens itself: sockets come through injectSocket (the gate, or a `-J` channel).
    return new ssh2.Server(
      { hostKeys: [...this.#o.hostKeys], algorithms: ALGORITHMS, ident: 'Gatehouse' },
      (conn, info) => this.#onConnection(conn, originOf(info)),
    );
  }

  #onConnection(conn: Connection, origin: ConnectionOrigin): void {
    const log = this.#o.log.child({
      clientAddr: origin.clientAddr,
      ...(origin.jumpTarget === undefined ? {} : { jump: origin.jumpTarget }),
    });
    let scope: ConnectionScope | undefined;
    // SSH_MSG_DISCONNECT, then the gate closes the socket. An inner `-J` connection has no
    // admission: it gets the same deadline here.
    origin.admission?.onExpired(() => conn.end());
    const authTimer =
      origin.admission === undefined
        ? setTimeout(() => conn.end(), this.#o.gate.limits.loginTimeoutMs).unref()
        : undefined;
    const auth = new SshAuthenticator({
      control: {
        ...checkedWithin(this.#o.control, origin.admission?.whileChecking),
        audit: (event) => this.#o.control.audit(event),
      },
      clientAddr: origin.clientAddr,
      allowPassword: this.#o.allowPassword,
      log,
      onAuthenticated: (user, login) => {
        // The login is done once the control plane accepted it, however long that took.
        clearTimeout(authTimer);
        origin.admission?.established();
        const effective: LoginName =
          login.target === undefined && origin.jumpTarget !== undefined
            ? { ...login, target: origin.jumpTarget }
            : login;
        scope = new ConnectionScope({
          control: this.#o.control,
          user,
          login: effective,
          ctx: { clientAddr: origin.clientAddr, via: 'ssh' },
          recordings: this.#o.recordings,
          log: log.child({ user: user.user.name }),
          // ssh2's server connection has setNoDelay (lib/server.js); its typings leave it out.
          setNoDelay: (isOn) =>
            (conn as Connection & { setNoDelay(isOn: boolean): unknown }).setNoDelay(isOn),
        });
      },
      onGiveUp: () => conn.end(),
    });
    conn.on('authentication', (ctx) => auth.handle(ctx));
    conn.on('error', (err: Error) =>
      log.debug({ err: err.message }, 'ssh client connection error'),
    );
    conn.on('close', () => {
      clearTimeout(authTimer);
      auth.connectionClosed();
      scope?.closeAll('client-closed');
    });
    // ssh2 is ready only after an accepted proof: onAuthenticated ended the login deadline.
    conn.on('ready', () => {
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
      scope.denyRequest('direct-streamlocal@openssh.com', {
        socketPath: info.socketPath.slice(0, 256),
      });
      reject();
    });
  }

  #jump(
    scope: ConnectionScope,
    destination: string,
    accept: () => ServerChannel | undefined,
    reject: () => void,
    origin: ConnectionOrigin,
  ): void {
    void scope.control.reachable(scope.user).then(
      (reachable) => {
        if (!reachable.some((r) => r.target.name === destination && r.target.kind === 'ssh')) {
          scope.denyRequest('direct-tcpip', {
            destination,
            reason: 'jump-to-unknown-or-forbidden-target',
          });
          return reject();
        }
        const channel = accept();
        if (channel === undefined) return;
        const inner = this.#newServer(() => ({
          clientAddr: origin.clientAddr,
          jumpTarget: destination,
        }));
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

/**
 * A refused client is told in a text line before the version exchange, which RFC 4253 §4.2
 * allows a server to send (OpenSSH prints it when it gives up).
 */
function refusalLine(reason: RefusalReason): Buffer {
  const error = refusalError(reason);
  return Buffer.from(`Gatehouse: ${error.message}; ${error.hint ?? 'try again later'}\r\n`);
}
