import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { GatehouseError } from '../../core/errors.js';
import { connectTimeoutMsOf } from '../../core/target-connect.js';
import type { GatewayUser, TargetSession } from '../../lease/gateway-control.js';
import type { ProofChecks } from '../../listen/index.js';
import { newProofNonce } from '../../lease/user-proof.js';
import type { Logger } from '../../log/index.js';
import type { DbRelayContext, DbRelayEnd, DbTransport } from '../session-flow.js';
import type { CancelKeyRegistry } from './cancel-keys.js';
import { ConnectionClosedError, type PacketReader } from './packet-reader.js';
import { errorResponseFor } from './pg-errors.js';
import {
  FRONTEND,
  PgProtocolError,
  parsePasswordMessage,
  parseSaslInitialResponse,
  serializeAuthenticationCleartext,
  serializeAuthenticationOk,
  serializeAuthenticationSasl,
  serializeAuthenticationSaslContinue,
  serializeAuthenticationSaslFinal,
  serializeBackendKeyData,
  serializeParameterStatus,
  serializeReadyForQuery,
  type CancelKey,
} from './protocol/index.js';
import { relayPg } from './relay.js';
import { SCRAM_SHA_256 } from './scram-client.js';
import { fingerprintSql } from './sql-parser.js';
import { upstreamStartupParams, type ClientStartup } from './startup-params.js';
import {
  connectPgUpstream,
  sendUpstreamCancel,
  upstreamTlsOf,
  type PgUpstream,
} from './upstream.js';

/** Longest authentication message accepted from a client (SASL or password). */
const MAX_AUTH_MESSAGE_BYTES = 16 * 1024;
/** Personal access tokens start with this (src/identity/tokens.ts). */
const TOKEN_PREFIX = 'ght_';

/** What a PostgreSQL transport is made from, once the client's StartupMessage is read. */
export interface PgTransportOptions {
  readonly socket: Socket | TLSSocket;
  readonly reader: PacketReader;
  readonly startup: ClientStartup;
  readonly clientAddr: string;
  readonly isTls: boolean;
  readonly cancelKeys: CancelKeyRegistry;
  /** Where relative paths in target labels (`sslrootcert`) start: the data dir. */
  readonly baseDir: string;
  readonly log: Logger;
}

/**
 * The PostgreSQL side of the shared flow (src/db/session-flow.ts): SCRAM-SHA-256 with the
 * control plane (or a cleartext password over TLS when asked for), the upstream login,
 * AuthenticationOk with the target's parameters and a gateway cancel key, the relay, and
 * errors as ErrorResponse with SQLSTATE and hint.
 */
export class PgTransport implements DbTransport<PgUpstream> {
  readonly protocol = 'postgres' as const;
  readonly dialect = 'postgres' as const;
  readonly clientAddr: string;
  readonly loginName: string;
  readonly fingerprint = fingerprintSql;
  readonly #o: PgTransportOptions;
  #upstream: PgUpstream | undefined;
  #cancelKey: CancelKey | undefined;
  #isLoggedIn = false;
  #onCancel: ((fromAddr: string) => void) | undefined;

  constructor(options: PgTransportOptions) {
    this.#o = options;
    this.clientAddr = options.clientAddr;
    this.loginName = options.startup.loginName;
  }

  async authenticate(user: string, control: ProofChecks): Promise<GatewayUser> {
    let authenticated: GatewayUser;
    try {
      authenticated = await this.#authenticate(user, control);
    } catch (err) {
      throw loginError(err);
    }
    return authenticated;
  }

  async #authenticate(user: string, control: ProofChecks): Promise<GatewayUser> {
    const ctx = { clientAddr: this.clientAddr, via: 'postgres' };
    if (this.#o.startup.authMode === 'password') {
      // Asked for with `-c gatehouse.auth=token`: the gateway sees the secret, so only over TLS.
      this.#o.socket.write(serializeAuthenticationCleartext());
      const secret = parsePasswordMessage(await this.#authMessage());
      const proof = secret.startsWith(TOKEN_PREFIX)
        ? { kind: 'token' as const, token: secret, user, nonce: newProofNonce(), ts: Date.now() }
        : {
            kind: 'password' as const,
            user,
            password: secret,
            nonce: newProofNonce(),
            ts: Date.now(),
          };
      return control.authenticate(proof, ctx);
    }
    // SCRAM-SHA-256 without channel binding: the exchange runs in the control plane, against
    // its verifier, so the gateway never sees the password.
    this.#o.socket.write(serializeAuthenticationSasl([SCRAM_SHA_256]));
    const initial = parseSaslInitialResponse(await this.#authMessage());
    if (initial.mechanism !== SCRAM_SHA_256 || initial.data === undefined)
      throw new GatehouseError('GH_AUTH_FAILED', {
        detail: `client chose SASL mechanism ${initial.mechanism.slice(0, 40)}`,
      });
    const scram = await control.startScram(user, ctx);
    const serverFirst = await scram.start(initial.data.toString('utf8'));
    this.#o.socket.write(serializeAuthenticationSaslContinue(Buffer.from(serverFirst)));
    const clientFinal = (await this.#authMessage()).toString('utf8');
    const done = await scram.finish(clientFinal);
    this.#o.socket.write(serializeAuthenticationSaslFinal(Buffer.from(done.serverFinal)));
    return done.user;
  }

  async connectUpstream(session: TargetSession): Promise<PgUpstream> {
    const { target } = session;
    const startup = this.#o.startup;
    if (
      target.database !== null &&
      startup.database !== undefined &&
      startup.database !== target.database
    ) {
      throw new GatehouseError('GH_ACCESS_DENIED', {
        message: `target "${target.name}" serves database "${target.database}" only`,
        hint: `connect with dbname=${target.database}`,
        detail: `client asked for database ${startup.database}`,
      });
    }
    if (session.credential.kind !== 'password')
      throw new GatehouseError('GH_NO_CREDENTIAL', {
        detail: `credential kind ${session.credential.kind}`,
      });
    const upstream = await connectPgUpstream({
      host: target.host,
      port: target.port,
      password: session.credential.secret,
      params: upstreamStartupParams(startup, {
        account: session.credential.username,
        database: target.database ?? startup.database ?? session.credential.username,
        sid: session.sid,
        isReadOnly: target.options.readOnly,
      }),
      tls: upstreamTlsOf(target, this.#o.baseDir),
      timeoutMs: connectTimeoutMsOf(target),
    });
    this.#upstream = upstream;
    const targetKey = upstream.key;
    this.#cancelKey = this.#o.cancelKeys.register({
      sid: session.sid,
      onCancel: (fromAddr) => this.#onCancel?.(fromAddr),
      cancel: async () => {
        if (targetKey === undefined) return;
        const err = await sendUpstreamCancel(upstream, targetKey);
        if (err !== undefined)
          this.#o.log.info({ err: err.message }, 'cancel request to the target failed');
      },
    });
    return upstream;
  }

  makeReady(upstream: PgUpstream): Promise<void> {
    const key = this.#cancelKey;
    const parts = [
      serializeAuthenticationOk(),
      ...upstream.parameters.map(([name, value]) => serializeParameterStatus(name, value)),
    ];
    if (key !== undefined) parts.push(serializeBackendKeyData(key));
    parts.push(serializeReadyForQuery(upstream.status));
    this.#o.socket.write(Buffer.concat(parts));
    this.#isLoggedIn = true;
    return Promise.resolve();
  }

  relay(upstream: PgUpstream, context: DbRelayContext): Promise<DbRelayEnd> {
    this.#onCancel = (fromAddr) => context.auditor.recordCancel({ fromAddr });
    return relayPg({
      client: this.#o.socket,
      clientLeftover: this.#o.reader.detach(),
      upstream: upstream.socket,
      upstreamLeftover: upstream.leftover,
      auditor: context.auditor,
      isReadOnly: context.session.target.options.readOnly,
      targetName: context.session.target.name,
      signal: context.signal,
      touch: context.touch,
      log: context.log,
    });
  }

  async sendError(error: GatehouseError): Promise<void> {
    const socket = this.#o.socket;
    if (!socket.writable) return;
    const bytes = errorResponseFor(error, {
      severity: 'FATAL',
      ...(this.#isLoggedIn ? {} : { loginName: this.loginName }),
    });
    await new Promise<void>((resolve) => socket.end(bytes, () => resolve()));
  }

  isClientGone(): boolean {
    return this.#o.socket.destroyed;
  }

  close(): void {
    if (this.#cancelKey !== undefined) this.#o.cancelKeys.forget(this.#cancelKey);
    this.#o.reader.detach();
    const socket = this.#o.socket;
    if (!socket.destroyed) setTimeout(() => socket.destroy(), 1_000).unref();
    this.#upstream?.socket.destroy();
  }

  async #authMessage(): Promise<Buffer> {
    const m = await this.#o.reader.message(MAX_AUTH_MESSAGE_BYTES);
    if (m.type !== FRONTEND.password)
      throw new PgProtocolError(`expected an authentication message, got type ${m.type}`);
    return m.body;
  }
}

/** Turns a failed read during login into a Gatehouse error (a client leaving is not a bug). */
export function loginError(err: unknown): unknown {
  if (err instanceof PgProtocolError)
    return new GatehouseError('GH_PROTOCOL_VIOLATION', { detail: err.message });
  if (err instanceof ConnectionClosedError)
    return new GatehouseError('GH_AUTH_FAILED', { detail: 'the client left during login' });
  return err;
}
