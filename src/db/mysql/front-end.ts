import { generateKeyPair, randomInt, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { promisify } from 'node:util';
import type { GatewayControl } from '../../lease/gateway-control.js';
import { refusalError, type Admission, type ConnectionGate } from '../../listen/index.js';
import type { Logger } from '../../log/index.js';
import type { DbTranscriptStore } from '../../recording/db-transcript.js';
import { admissionHooksOf, runDbSession } from '../session-flow.js';
import { acceptClientLogin, ClientLoginError } from './client-login.js';
import { errPacketFor } from './errors.js';
import { encodeErr, encodePacket } from './protocol/index.js';
import { MysqlTransport, type LiveConnection } from './transport.js';
import { DB_SOCKET_OPTIONS } from '../socket-options.js';

/** How long shutdown waits for open sessions to record their end. */
const SHUTDOWN_WAIT_MS = 5_000;

/** Options of {@link MysqlFrontEnd}. */
export interface MysqlFrontEndOptions {
  readonly host: string;
  readonly port: number;
  /** Version string in the greeting (drivers parse it: keep it MySQL-like, e.g. `8.0.36-gatehouse`). */
  readonly serverVersion: string;
  /** Certificate and key (PEM) for TLS with clients: the init certificate. */
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Accept password logins without TLS (caching_sha2_password then uses an RSA key). */
  readonly allowPlaintext: boolean;
  readonly control: GatewayControl;
  readonly transcripts: DbTranscriptStore;
  readonly log: Logger;
  /** A listener dedicated to one target: users log in with their plain name. */
  readonly fixedTarget?: string | undefined;
  /** Where a target's `sslrootcert` label is read from (the data dir). */
  readonly baseDir: string;
  /** Admits connections and gives each its login deadline (limits shared by every listener). */
  readonly gate: ConnectionGate;
  /**
   * Live connections by gateway connection id, shared by every MySQL listener of the gateway
   * so that a KILL sent to one finds a session on another (Ctrl-C in `mysql`).
   */
  readonly connections?: Map<number, LiveConnection>;
}

/**
 * The MySQL front end (DESIGN.md §3, §7): `mysql -h bastion -P 13306 -u 'alice#shop-db' -p --ssl`
 * and any driver. Each connection goes through the connection phase here (client-login.ts),
 * then through the shared database flow with a {@link MysqlTransport}: authenticated by the
 * control plane, logged in to the target with the leased credential, relayed with prepared
 * statements, multiple result sets and large packets, audited statement by statement.
 */
export class MysqlFrontEnd {
  readonly #o: MysqlFrontEndOptions;
  readonly #server: Server;
  readonly #secureContext: SecureContext;
  readonly #connections: Map<number, LiveConnection>;
  readonly #sockets = new Set<Socket>();
  readonly #sessions = new Map<MysqlTransport, Promise<void>>();
  #nextConnectionId: number;
  #rsa: { readonly privateKey: KeyObject; readonly publicKeyPem: string } | undefined;

  constructor(options: MysqlFrontEndOptions) {
    this.#o = options;
    this.#connections = options.connections ?? new Map<number, LiveConnection>();
    this.#secureContext = createSecureContext({
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: 'TLSv1.2',
    });
    // Gateway connection ids live far above a target's thread ids, so a KILL naming one is unambiguous.
    this.#nextConnectionId = 0x8000_0000 + randomInt(0x0100_0000);
    this.#server = createServer(DB_SOCKET_OPTIONS, (socket) => this.#accept(socket));
    this.#server.on('error', (err: Error) => options.gate.reportListenerError('mysql', err));
  }

  /** Starts listening; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    if (this.#o.allowPlaintext) this.#rsa = await newRsaKey();
    this.#server.listen(this.#o.port, this.#o.host);
    await once(this.#server, 'listening');
    return this.#server.address() as AddressInfo;
  }

  /** Stops accepting, ends open sessions (recorded as terminated) and waits for them briefly. */
  async close(): Promise<void> {
    const closing = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const transport of this.#sessions.keys()) transport.stop('gateway-shutdown');
    await Promise.race([
      Promise.all(this.#sessions.values()),
      new Promise((resolve) => setTimeout(resolve, SHUTDOWN_WAIT_MS).unref()),
    ]);
    for (const socket of this.#sockets) socket.destroy();
    await closing;
  }

  #accept(socket: Socket): void {
    const admission = this.#o.gate.admit(socket, {
      listener: 'mysql',
      // In place of the greeting, as a server at max_connections does.
      refusal: (reason) => encodePacket(encodeErr(errPacketFor(refusalError(reason))), 0),
    });
    if (admission === undefined) return;
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    const connectionId = this.#nextConnectionId;
    this.#nextConnectionId =
      this.#nextConnectionId >= 0xffff_fff0 ? 0x8000_0000 : this.#nextConnectionId + 1;
    const log = this.#o.log.child({ clientAddr: admission.clientAddr, conn: connectionId });
    void this.#serve(socket, connectionId, admission, log).catch((err: unknown) => {
      log.error({ err: err instanceof Error ? err.stack : String(err) }, 'mysql connection failed');
      socket.destroy();
    });
  }

  async #serve(
    socket: Socket,
    connectionId: number,
    admission: Admission,
    log: Logger,
  ): Promise<void> {
    const { clientAddr } = admission;
    // During the connection phase the login's own deadline (the same) answers with an ERR packet
    // in sequence; later (authenticating, reaching the target) the gate just closes the socket.
    let isConnectionPhase = true;
    admission.onExpired(() => {
      if (!isConnectionPhase) socket.destroy();
    });
    // 1. The connection phase: greeting, TLS, the login name and the password.
    let login;
    try {
      login = await acceptClientLogin(socket, {
        serverVersion: this.#o.serverVersion,
        connectionId,
        tls: this.#secureContext,
        allowPlaintext: this.#o.allowPlaintext,
        rsa: this.#rsa,
        timeoutMs: this.#o.gate.limits.loginTimeoutMs,
      });
    } catch (err) {
      admission.report('login-not-completed', 'mysql login not completed', {
        err: err instanceof Error ? err.message : String(err),
      });
      if (!(err instanceof ClientLoginError) || err.err === undefined) socket.destroy();
      return;
    } finally {
      isConnectionPhase = false;
    }
    // 2. The shared flow: authenticate, authorize, unlock, connect, audit, relay, end.
    const transport = new MysqlTransport({
      login,
      clientAddr,
      connectionId,
      baseDir: this.#o.baseDir,
      connections: this.#connections,
      fixedTarget: this.#o.fixedTarget,
      log,
    });
    const running = runDbSession(transport, {
      control: this.#o.control,
      transcripts: this.#o.transcripts,
      log,
      fixedTarget: this.#o.fixedTarget,
      ...admissionHooksOf(admission, transport.loginName),
    });
    this.#sessions.set(transport, running);
    try {
      await running;
    } finally {
      this.#sessions.delete(transport);
    }
  }
}

/** A per-process RSA key pair for caching_sha2_password without TLS (only with `allowPlaintext`). */
async function newRsaKey(): Promise<{ privateKey: KeyObject; publicKeyPem: string }> {
  const { publicKey, privateKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
  });
  return { privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}
