import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { GatehouseError } from '../../core/errors.js';
import { connectTimeoutMsOf } from '../../core/target-connect.js';
import type { Target } from '../../core/types.js';
import type { GatewayUser, TargetSession } from '../../lease/gateway-control.js';
import type { ProofChecks } from '../../listen/index.js';
import { newProofNonce, type UserProof } from '../../lease/user-proof.js';
import type { Logger } from '../../log/index.js';
import { parseDbLogin } from '../login-name.js';
import { MAX_AUDITED_SQL_BYTES } from '../redact.js';
import type { DbRelayContext, DbRelayEnd, DbStop, DbTransport } from '../session-flow.js';
import type { ClientLogin } from './client-login.js';
import { MysqlCommandHandler, READ_ONLY_SQL, type CommandContext } from './command-handler.js';
import { errPacketFor, gatehouseErr } from './errors.js';
import { PacketChannel } from './packet-channel.js';
import {
  Capability,
  decodeErr,
  encodeQuery,
  ErrorCode as MysqlError,
  hasCapability,
  type ErrPacket,
} from './protocol/index.js';
import { MysqlRelay } from './relay.js';
import { StatementRegistry } from './statements.js';
import { connectUpstream, type UpstreamConnection, type UpstreamOptions } from './upstream.js';
import { UpstreamServerError } from './upstream-login.js';
import { UPSTREAM_TLS_MODES, type UpstreamTlsMode } from './upstream-socket.js';

/** A relayed connection, as other connections of the same user may need to name it (KILL). */
export interface LiveConnection {
  readonly user: string;
  readonly target: string;
  /** The target's thread id. */
  readonly upstreamId: number;
}

/** What a {@link MysqlTransport} is made from, once the client has logged in to the gateway. */
export interface MysqlTransportOptions {
  readonly login: ClientLogin;
  readonly clientAddr: string;
  /** The id the greeting gave the client (what its KILL statements name). */
  readonly connectionId: number;
  /** Where a target's `sslrootcert` label is read from (the data dir). */
  readonly baseDir: string;
  /** Live connections of this front end by gateway connection id. */
  readonly connections: Map<number, LiveConnection>;
  /** The one target of a dedicated listener. */
  readonly fixedTarget?: string | undefined;
  readonly log: Logger;
}

/** How much of each client command is looked at before it is forwarded (audit text and params). */
const COMMAND_HEAD_BYTES = MAX_AUDITED_SQL_BYTES + 64;
/** On read-only targets a query must be checked whole: longer ones are refused. */
const READ_ONLY_COMMAND_HEAD_BYTES = 1024 * 1024;
/** While a statement runs without traffic, the session is not idle. */
const BUSY_TOUCH_MS = 1_000;
/** Personal access tokens start with this (src/identity/tokens.ts). */
const TOKEN_PREFIX = 'ght_';
/** Connection attributes passed on from the client, at most. */
const MAX_RELAYED_ATTRIBUTES = 32;

/**
 * The MySQL side of the shared database flow (src/db/session-flow.ts): the password the client
 * gave during the connection phase (client-login.ts) as the user proof, the upstream login with
 * the leased credential, OK to the client, the relay, and errors as ERR packets.
 */
export class MysqlTransport implements DbTransport<UpstreamConnection> {
  readonly protocol = 'mysql' as const;
  readonly dialect = 'mysql' as const;
  readonly clientAddr: string;
  readonly loginName: string;
  readonly #o: MysqlTransportOptions;
  #upstream: UpstreamConnection | undefined;
  #relay: MysqlRelay<CommandContext> | undefined;
  #isReady = false;
  /** The target's own refusal of the login (e.g. unknown database), passed on as is. */
  #refusal: ErrPacket | undefined;
  #stopReason: string | undefined;

  constructor(options: MysqlTransportOptions) {
    this.#o = options;
    this.clientAddr = options.clientAddr;
    this.loginName = options.login.response.username.slice(0, 256);
  }

  async authenticate(user: string, control: ProofChecks): Promise<GatewayUser> {
    const secret = this.#o.login.secret;
    try {
      const proof = await proofOf(control, user, secret);
      return await control.authenticate(proof, {
        clientAddr: this.clientAddr,
        via: 'mysql',
        targetKind: 'mysql',
      });
    } finally {
      secret.fill(0);
    }
  }

  async connectUpstream(session: TargetSession): Promise<UpstreamConnection> {
    if (session.credential.kind !== 'password')
      throw new GatehouseError('GH_NO_CREDENTIAL', {
        detail: `credential kind ${session.credential.kind}`,
      });
    const { target } = session;
    const response = this.#o.login.response;
    let upstream: UpstreamConnection;
    try {
      upstream = await connectUpstream({
        host: target.host,
        port: target.port,
        username: session.credential.username,
        password: session.credential.secret,
        database:
          response.database !== undefined && response.database !== ''
            ? response.database
            : (target.database ?? undefined),
        charset: response.charset,
        clientCapabilities: response.capabilities,
        attributes: relayedAttributes(this.#o.login, session.user.name, session.sid),
        tls: upstreamTlsOf(target, this.#o.baseDir),
        connectTimeoutMs: connectTimeoutMsOf(target),
        signal: session.signal,
      });
    } catch (err) {
      if (!(err instanceof UpstreamServerError)) throw err;
      this.#refusal = err.err;
      throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
        detail: `the target refused the login: ${err.err.code} ${err.err.message}`,
        cause: err,
      });
    }
    this.#upstream = upstream;
    // Read-only targets: the target itself refuses the writes the gateway's check would miss.
    if (target.options.readOnly) await runUpstreamQuery(upstream, READ_ONLY_SQL);
    return upstream;
  }

  makeReady(upstream: UpstreamConnection, session: TargetSession): Promise<void> {
    this.#o.login.reply({ ok: true, statusFlags: upstream.statusFlags });
    this.#isReady = true;
    this.#o.connections.set(this.#o.connectionId, {
      user: session.user.name,
      target: session.target.name,
      upstreamId: upstream.connectionId,
    });
    return Promise.resolve();
  }

  relay(upstream: UpstreamConnection, context: DbRelayContext): Promise<DbRelayEnd> {
    const { session, auditor, signal } = context;
    const { target } = session;
    const handler = new MysqlCommandHandler({
      targetName: target.name,
      isReadOnly: target.options.readOnly,
      statements: new StatementRegistry(),
      auditor,
      onRecorded: () => {
        // The audit trail is behind: stop reading commands until it catches up (bounded memory).
        if (!auditor.isBackedUp || relay.isClientPausedFor('audit')) return;
        relay.pauseClient('audit');
        void auditor.whenDrained().then(() => relay.resumeClient('audit'));
      },
      resolveKill: (id) => {
        const other = this.#o.connections.get(id);
        return other !== undefined &&
          other.user === session.user.name &&
          other.target === target.name
          ? other.upstreamId
          : undefined;
      },
    });
    const relay = new MysqlRelay<CommandContext>({
      client: this.#o.login.socket,
      upstream: upstream.socket,
      clientLeftover: this.#o.login.takeLeftover(),
      upstreamLeftover: upstream.leftover,
      isDeprecateEof: hasCapability(upstream.capabilities, Capability.DEPRECATE_EOF),
      commandHeadBytes: target.options.readOnly ? READ_ONLY_COMMAND_HEAD_BYTES : COMMAND_HEAD_BYTES,
      handler,
      onActivity: context.touch,
      targetLostErr: gatehouseErr(
        MysqlError.TARGET_UNREACHABLE,
        `the connection to target "${target.name}" was lost`,
      ),
      onProblem: (problem, err) =>
        context.log.warn({ err: err === undefined ? undefined : describe(err) }, problem),
    });
    this.#relay = relay;
    // A statement that runs long without traffic is not idleness.
    const busy = setInterval(() => {
      if (relay.isBusy) context.touch();
    }, BUSY_TOUCH_MS).unref();
    const onStop = (): void =>
      relay.close((signal.reason as DbStop | undefined)?.reason ?? 'terminated');
    if (signal.aborted) onStop();
    else signal.addEventListener('abort', onStop, { once: true });
    if (this.#stopReason !== undefined) relay.close(this.#stopReason);
    relay.start();
    return relay.closed.then((reason) => {
      clearInterval(busy);
      signal.removeEventListener('abort', onStop);
      const stop = signal.aborted ? (signal.reason as DbStop | undefined) : undefined;
      return {
        reason,
        status: stop?.status ?? statusOf(reason),
        bytesFromClient: relay.stats.bytesFromClient,
        bytesToClient: relay.stats.bytesFromTarget,
      };
    });
  }

  sendError(error: GatehouseError): Promise<void> {
    // Once relaying, an ERR outside a command would desynchronize the client: it just closes.
    if (this.#isReady) return Promise.resolve();
    const target = parseDbLogin(this.loginName, { fixedTarget: this.#o.fixedTarget })?.target;
    this.#o.login.reply({
      ok: false,
      err:
        this.#refusal ??
        errPacketFor(error, { login: this.loginName, ...(target === undefined ? {} : { target }) }),
    });
    return Promise.resolve();
  }

  isClientGone(): boolean {
    return this.#o.login.socket.destroyed;
  }

  close(): void {
    this.#o.connections.delete(this.#o.connectionId);
    this.#relay?.close('closed');
    this.#upstream?.socket.destroy();
    const socket = this.#o.login.socket;
    if (!socket.destroyed) setTimeout(() => socket.destroy(), 1_000).unref();
  }

  /** Ends the session from the gateway's side (shutdown). */
  stop(reason: string): void {
    this.#stopReason = reason;
    if (this.#relay !== undefined) this.#relay.close(reason);
    else if (!this.#isReady) this.#o.login.socket.destroy();
  }
}

/**
 * TLS to a target from its labels, as on the PostgreSQL side: `sslmode` (`disable`, `prefer`
 * (default), `require`, `verify-ca`, `verify-full`) and `sslrootcert`, a CA file relative to the
 * data dir (else the system's CAs).
 */
export function upstreamTlsOf(
  target: Target,
  baseDir: string,
): NonNullable<UpstreamOptions['tls']> {
  const mode = target.labels['sslmode'] ?? 'prefer';
  if (!(UPSTREAM_TLS_MODES as readonly string[]).includes(mode)) {
    throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
      detail: `target ${target.name}: label sslmode=${mode} is not one of ${UPSTREAM_TLS_MODES.join(', ')}`,
    });
  }
  const caFile = target.labels['sslrootcert'];
  if (caFile === undefined) return { mode: mode as UpstreamTlsMode };
  if (caFile.split('/').includes('..'))
    throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
      detail: `target ${target.name}: sslrootcert must stay inside the data dir`,
    });
  try {
    return { mode: mode as UpstreamTlsMode, ca: readFileSync(resolve(baseDir, caFile)) };
  } catch (err) {
    throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
      detail: `target ${target.name}: cannot read sslrootcert ${caFile}`,
      cause: err,
    });
  }
}

function statusOf(reason: string): DbRelayEnd['status'] {
  if (reason === 'gateway-shutdown') return 'terminated';
  if (reason === 'protocol-error' || reason === 'target-requested-local-file') return 'failed';
  // The target closed a session the client had not quit (restart, crash, KILL): abnormal.
  if (reason === 'target-closed' || reason === 'target-error') return 'failed';
  return 'ended';
}

/**
 * The user proof for what was typed at the password prompt: a personal token (`ght_…`) or the
 * password; users with TOTP append their 6-digit code to the password (`secret123456`).
 */
async function proofOf(control: ProofChecks, user: string, secret: Buffer): Promise<UserProof> {
  const text = secret.toString('utf8');
  const nonce = newProofNonce();
  const ts = Date.now();
  if (text.startsWith(TOKEN_PREFIX)) {
    // A token has a fixed length (src/identity/tokens.ts); a TOTP code may follow it.
    const withCode = /^(ght_[A-Za-z0-9_-]{43})(\d{6})$/.exec(text);
    if (withCode !== null)
      return { kind: 'token', token: withCode[1] ?? '', totp: withCode[2] ?? '', user, nonce, ts };
    return { kind: 'token', token: text, user, nonce, ts };
  }
  if (await control.needsTotp(user)) {
    const match = /^(.*)(\d{6})$/s.exec(text);
    if (match !== null)
      return { kind: 'password', user, password: match[1] ?? '', totp: match[2] ?? '', nonce, ts };
  }
  return { kind: 'password', user, password: text, nonce, ts };
}

/** The client's connection attributes (bounded) plus who is behind the leased account. */
function relayedAttributes(login: ClientLogin, user: string, sid: string): [string, string][] {
  const fromClient = (login.response.attributes ?? [])
    .filter(([key]) => !key.startsWith('gatehouse_'))
    .slice(0, MAX_RELAYED_ATTRIBUTES)
    .map(([key, value]): [string, string] => [key.slice(0, 64), value.slice(0, 256)]);
  return [...fromClient, ['gatehouse_user', user], ['gatehouse_sid', sid]];
}

/** Runs one statement of the gateway's own on the target before the relay starts. */
async function runUpstreamQuery(upstream: UpstreamConnection, sql: string): Promise<void> {
  const channel = new PacketChannel(upstream.socket, { maxPacketBytes: 1024 * 1024 });
  channel.write(encodeQuery(sql), 0);
  const reply = await channel.read(10_000).finally(() => channel.detach());
  if (reply.payload.readUInt8(0) !== 0) {
    const err = decodeErr(reply.payload);
    throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
      message: 'the target could not be made read-only',
      detail: `${sql}: ${err.code} ${err.message}`,
    });
  }
}

function describe(err: unknown): string {
  if (typeof err === 'string') return err;
  return err instanceof Error ? err.message : 'unknown error';
}
