import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { GatehouseError, toGatehouseError } from '../../core/errors.js';
import type { GatewayControl } from '../../lease/gateway-control.js';
import {
  eventNameOf,
  refusalError,
  type Admission,
  type ConnectionGate,
} from '../../listen/index.js';
import type { Logger } from '../../log/index.js';
import type { DbTranscriptStore } from '../../recording/db-transcript.js';
import { admissionHooksOf, runDbSession } from '../session-flow.js';
import type { CancelKeyRegistry } from './cancel-keys.js';
import { PacketReader } from './packet-reader.js';
import { errorResponseFor } from './pg-errors.js';
import {
  parseStartupPacket,
  PROTOCOL_3_0,
  serializeNegotiateProtocolVersion,
  type StartupPacket,
} from './protocol/index.js';
import { loadSqlParser } from './sql-parser.js';
import { readClientStartup } from './startup-params.js';
import { loginError, PgTransport } from './transport.js';
import { DB_SOCKET_OPTIONS } from '../socket-options.js';

/** SSLRequest/GSSENCRequest rounds before the StartupMessage must come. */
const MAX_NEGOTIATION_ROUNDS = 3;
const SSL_YES = Buffer.from('S');
const NO = Buffer.from('N');

/** Options of {@link PostgresFrontEnd}. */
export interface PostgresFrontEndOptions {
  readonly host: string;
  readonly port: number;
  /** The server certificate and key (PEM), e.g. those `gatehouse init` made. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer };
  /** Accept clients without TLS (config `postgres.allowPlaintext`). */
  readonly allowPlaintext: boolean;
  readonly control: GatewayControl;
  readonly transcripts: DbTranscriptStore;
  /** Shared by every PostgreSQL listener of the gateway, so a cancel finds its session. */
  readonly cancelKeys: CancelKeyRegistry;
  /** Where relative paths in target labels (`sslrootcert`) start: the data dir. */
  readonly baseDir: string;
  readonly log: Logger;
  /** A listener dedicated to one target: users log in with their plain name. */
  readonly fixedTarget?: string;
  /** Admits connections and gives each its login deadline (limits shared by every listener). */
  readonly gate: ConnectionGate;
}

/** A client connection after the first packets: its stream (TLS or not), reader and StartupMessage. */
interface Negotiated {
  readonly stream: Socket | TLSSocket;
  readonly reader: PacketReader;
  readonly params: ReadonlyMap<string, string>;
  readonly isTls: boolean;
}

/**
 * The PostgreSQL front end (DESIGN.md §7): `psql "host=bastion port=15432 user=alice#orders-db
 * sslmode=verify-full"` and any driver. It answers SSLRequest with the gateway certificate,
 * GSSENCRequest with "no", passes CancelRequest on through the gateway's own cancel keys, and
 * runs every other connection through the shared database session flow.
 */
export class PostgresFrontEnd {
  readonly #o: PostgresFrontEndOptions;
  readonly #server: Server;
  readonly #secureContext: SecureContext;
  readonly #sockets = new Set<Socket>();

  constructor(options: PostgresFrontEndOptions) {
    this.#o = options;
    this.#secureContext = createSecureContext({
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: 'TLSv1.2',
    });
    this.#server = createServer(DB_SOCKET_OPTIONS, (socket) => this.#accept(socket));
    this.#server.on('error', (err: Error) => options.gate.reportListenerError('postgres', err));
  }

  /** Loads the SQL parser, then listens; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    await loadSqlParser();
    this.#server.listen(this.#o.port, this.#o.host);
    await once(this.#server, 'listening');
    return this.#server.address() as AddressInfo;
  }

  /** Stops listening and ends open connections (their sessions end as the client leaves). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #accept(socket: Socket): void {
    const admission = this.#o.gate.admit(socket, {
      listener: 'postgres',
      refusal: (reason) => errorResponseFor(refusalError(reason), { severity: 'FATAL' }),
    });
    if (admission === undefined) return;
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    const log = this.#o.log.child({ clientAddr: admission.clientAddr });
    // The stream to answer on: the socket, then TLS once its handshake is done (none meanwhile).
    let current: Socket | TLSSocket | undefined = socket;
    admission.onExpired(() => {
      if (current === undefined || !current.writable) socket.destroy();
      else
        current.end(
          errorResponseFor(new GatehouseError('GH_LOGIN_TIMEOUT'), { severity: 'FATAL' }),
        );
    });
    void this.#serve(socket, admission, log, (s) => (current = s)).catch((err: unknown) => {
      log.error(
        { err: err instanceof Error ? err.stack : String(err) },
        'postgres connection failed',
      );
      socket.destroy();
    });
  }

  async #serve(
    socket: Socket,
    admission: Admission,
    log: Logger,
    setCurrent: (s: Socket | TLSSocket | undefined) => void,
  ): Promise<void> {
    const { clientAddr } = admission;
    // 1. Negotiate: TLS, GSS encryption (declined), cancel, or the StartupMessage.
    let negotiated: Negotiated | undefined;
    try {
      negotiated = await this.#negotiate(socket, clientAddr, setCurrent);
    } catch (err) {
      const error = toGatehouseError(loginError(err));
      // Garbage and half-open connections come by the thousand in an attack: logged at a bounded rate.
      if (error.code !== 'GH_AUTH_FAILED')
        admission.report(eventNameOf(error.code), 'postgres connection refused', {
          detail: error.detail,
        });
      if (socket.writable) socket.end(errorResponseFor(error, { severity: 'FATAL' }));
      return;
    }
    if (negotiated === undefined) return;
    const { stream, reader, params, isTls } = negotiated;
    // 2. The client's parameters: who, which database, how to log in.
    let startup;
    try {
      startup = readClientStartup(params);
      if (!isTls && !this.#o.allowPlaintext) throw new GatehouseError('GH_TLS_REQUIRED');
      if (!isTls && startup.authMode === 'password')
        throw new GatehouseError('GH_TLS_REQUIRED', {
          detail: 'a cleartext password was asked for without TLS',
        });
    } catch (err) {
      const error = toGatehouseError(err);
      admission.report(eventNameOf(error.code), 'postgres connection refused', {
        detail: error.detail,
      });
      reader.detach();
      stream.end(errorResponseFor(error, { severity: 'FATAL' }));
      return;
    }
    // 3. The shared flow: authenticate, authorize, unlock, connect, audit, relay, end.
    const transport = new PgTransport({
      socket: stream,
      reader,
      startup,
      clientAddr,
      isTls,
      cancelKeys: this.#o.cancelKeys,
      baseDir: this.#o.baseDir,
      log,
    });
    await runDbSession(transport, {
      control: this.#o.control,
      transcripts: this.#o.transcripts,
      log: this.#o.log,
      fixedTarget: this.#o.fixedTarget,
      ...admissionHooksOf(admission, startup.loginName),
    });
  }

  async #negotiate(
    socket: Socket,
    clientAddr: string,
    setCurrent: (s: Socket | TLSSocket | undefined) => void,
  ): Promise<Negotiated | undefined> {
    let stream: Socket | TLSSocket = socket;
    let reader = new PacketReader(socket);
    let isTls = false;
    for (let round = 0; round < MAX_NEGOTIATION_ROUNDS; round++) {
      const packet: StartupPacket = parseStartupPacket(await reader.startupPacket());
      switch (packet.kind) {
        case 'ssl-request': {
          // Bytes sent before the handshake would be taken as encrypted (CVE-2021-23214).
          if (isTls || reader.buffered > 0)
            throw new GatehouseError('GH_PROTOCOL_VIOLATION', {
              detail: 'unexpected SSLRequest or data after it',
            });
          reader.detach();
          // Wrap in the same tick as the answer: the socket reads no byte of the handshake first.
          socket.write(SSL_YES);
          const tls = new TLSSocket(socket, { isServer: true, secureContext: this.#secureContext });
          setCurrent(undefined);
          await new Promise<void>((resolve, reject) => {
            tls.once('secure', resolve);
            tls.once('error', reject);
            tls.once('close', () =>
              reject(
                new GatehouseError('GH_AUTH_FAILED', {
                  detail: 'the client left during the TLS handshake',
                }),
              ),
            );
          });
          tls.on('error', () => undefined);
          setCurrent(tls);
          stream = tls;
          reader = new PacketReader(tls);
          isTls = true;
          break;
        }
        case 'gssenc-request':
          if (reader.buffered > 0)
            throw new GatehouseError('GH_PROTOCOL_VIOLATION', {
              detail: 'data after GSSENCRequest',
            });
          stream.write(NO);
          break;
        case 'cancel-request': {
          // PG protocol: no answer either way; the connection just closes.
          const sid = await this.#o.cancelKeys.cancel(packet.key, clientAddr);
          if (sid !== undefined)
            this.#o.log.info({ sid, clientAddr }, 'cancel request passed to the target');
          reader.detach();
          stream.end();
          return undefined;
        }
        case 'startup': {
          if (packet.version >>> 16 !== 3) {
            throw new GatehouseError('GH_PROTOCOL_VIOLATION', {
              message: `unsupported frontend protocol ${packet.version >>> 16}.${packet.version & 0xffff}: only 3.0 is`,
            });
          }
          // A newer 3.x or `_pq_.` options: answer with what this gateway speaks (3.0, none).
          const options = [...packet.params.keys()].filter((name) => name.startsWith('_pq_.'));
          if (packet.version !== PROTOCOL_3_0 || options.length > 0)
            stream.write(serializeNegotiateProtocolVersion(PROTOCOL_3_0, options));
          return { stream, reader, params: packet.params, isTls };
        }
      }
    }
    throw new GatehouseError('GH_PROTOCOL_VIOLATION', {
      detail: 'too many negotiation packets',
      message: 'protocol violation',
    });
  }
}
