import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { GatehouseError } from '../../core/errors.js';
import {
  DEFAULT_TARGET_CONNECT_TIMEOUT_MS,
  upstreamTimeoutError,
} from '../../core/target-connect.js';
import type { Target } from '../../core/types.js';
import { ConnectionClosedError, PacketReader } from './packet-reader.js';
import { PgServerError } from './pg-errors.js';
import {
  BACKEND,
  ERROR_FIELD,
  PgProtocolError,
  parseAuthentication,
  parseBackendKeyData,
  parseErrorFields,
  parseParameterStatus,
  parseReadyForQuery,
  serializeCancelRequest,
  serializePasswordMessage,
  serializeSaslInitialResponse,
  serializeSaslResponse,
  serializeSslRequest,
  serializeStartupMessage,
  SQLSTATE,
  type CancelKey,
  type TransactionStatus,
} from './protocol/index.js';
import { SCRAM_SHA_256, ScramSha256Client } from './scram-client.js';
import { DB_SOCKET_OPTIONS } from '../socket-options.js';

/** How long connecting and logging in to a target may take (one deadline for both). */
export const UPSTREAM_CONNECT_TIMEOUT_MS = DEFAULT_TARGET_CONNECT_TIMEOUT_MS;
/** Longest message accepted from a target while logging in. */
const MAX_LOGIN_MESSAGE_BYTES = 64 * 1024;
const SSL_ACCEPTED = 0x53; // 'S'
const SSL_REFUSED = 0x4e; // 'N'

/** TLS to the target, as libpq's `sslmode` (target labels `sslmode`, `sslrootcert`). */
export type UpstreamSslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** How to protect the connection to one target. */
export interface UpstreamTls {
  readonly mode: UpstreamSslMode;
  /** CA certificates (PEM) to verify the target with, else the system's. */
  readonly ca?: Buffer;
}

/** Where and how to log in. */
export interface PgUpstreamOptions {
  readonly host: string;
  readonly port: number;
  /** The leased account's password; not kept (the caller zeroes it). */
  readonly password: Buffer;
  /** StartupMessage parameters, `user` first. */
  readonly params: readonly (readonly [string, string])[];
  readonly tls: UpstreamTls;
  readonly timeoutMs?: number;
}

/** A logged-in connection to a target, ready for queries. */
export interface PgUpstream {
  readonly socket: Socket | TLSSocket;
  /** ParameterStatus messages as the target sent them (server_version, session_authorization, …). */
  readonly parameters: readonly (readonly [string, string])[];
  /** The target backend's cancel key. */
  readonly key: CancelKey | undefined;
  readonly status: TransactionStatus;
  /** Bytes the target sent after ReadyForQuery (normally none). */
  readonly leftover: Buffer;
  readonly isTls: boolean;
  readonly host: string;
  readonly port: number;
  readonly tls: UpstreamTls;
}

/**
 * Reads a target's TLS settings from its labels: `sslmode` (libpq's values, default prefer)
 * and `sslrootcert`, a CA file relative to `baseDir` (the data dir), e.g. `tls/orders-ca.pem`.
 */
export function upstreamTlsOf(target: Target, baseDir: string): UpstreamTls {
  const mode = target.labels['sslmode'] ?? 'prefer';
  if (!['disable', 'prefer', 'require', 'verify-ca', 'verify-full'].includes(mode)) {
    throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
      detail: `target ${target.name}: label sslmode=${mode} is not a libpq sslmode`,
    });
  }
  const caFile = target.labels['sslrootcert'];
  if (caFile === undefined) return { mode: mode as UpstreamSslMode };
  if (caFile.split('/').includes('..'))
    throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
      detail: `target ${target.name}: sslrootcert must stay inside the data dir`,
    });
  try {
    return { mode: mode as UpstreamSslMode, ca: readFileSync(resolve(baseDir, caFile)) };
  } catch (err) {
    throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
      detail: `target ${target.name}: cannot read sslrootcert ${caFile}`,
      cause: err,
    });
  }
}

/**
 * Connects to a PostgreSQL target and logs in with the leased password (SCRAM-SHA-256 with
 * the server's signature checked, MD5 or cleartext, as the server asks), over TLS when the
 * target offers it (`prefer`) or must (`require`, `verify-*`). Throws GH_UPSTREAM_UNREACHABLE,
 * GH_UPSTREAM_AUTH_FAILED, or a GatehouseError whose cause is the target's ErrorResponse.
 */
export async function connectPgUpstream(options: PgUpstreamOptions): Promise<PgUpstream> {
  const timeoutMs = options.timeoutMs ?? UPSTREAM_CONNECT_TIMEOUT_MS;
  const startedAt = Date.now();
  let socket: Socket | TLSSocket = await openTcp(options.host, options.port, timeoutMs);
  // One deadline from the TCP connect to ReadyForQuery: a server that accepts and never speaks.
  let isTimedOut = false;
  const timer = setTimeout(
    () => {
      isTimedOut = true;
      socket.destroy(new Error('login timed out'));
    },
    Math.max(1, timeoutMs - (Date.now() - startedAt)),
  );
  try {
    let isTls = false;
    if (options.tls.mode !== 'disable') {
      const upgraded = await negotiateTls(socket, options);
      isTls = upgraded !== undefined;
      if (upgraded !== undefined) socket = upgraded;
    }
    const reader = new PacketReader(socket);
    const user = options.params.find(([name]) => name === 'user')?.[1] ?? '';
    socket.write(serializeStartupMessage(options.params));
    await authenticate(socket, reader, user, options.password);
    const parameters: [string, string][] = [];
    let key: CancelKey | undefined;
    for (;;) {
      const m = await reader.message(MAX_LOGIN_MESSAGE_BYTES);
      if (m.type === BACKEND.parameterStatus) parameters.push([...parseParameterStatus(m.body)]);
      else if (m.type === BACKEND.backendKeyData) key = parseBackendKeyData(m.body);
      else if (m.type === BACKEND.errorResponse) throw serverError(m.body);
      else if (m.type === BACKEND.readyForQuery) {
        const status = parseReadyForQuery(m.body);
        const leftover = reader.detach();
        // Until the relay takes it, a reset must not be an unhandled 'error' (the relay sees 'close').
        socket.on('error', () => undefined);
        return {
          socket,
          parameters,
          key,
          status,
          leftover,
          isTls,
          host: options.host,
          port: options.port,
          tls: options.tls,
        };
      }
      // NoticeResponse and anything newer: not needed to start.
    }
  } catch (err) {
    socket.destroy();
    if (isTimedOut)
      throw upstreamTimeoutError(
        `${options.host}:${options.port}`,
        timeoutMs,
        'no ReadyForQuery in time',
        err,
      );
    throw asUpstreamError(err, options);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends a CancelRequest for `key` to the target (over TLS when the session used it). Best
 * effort, as in PostgreSQL: the server answers nothing; errors are returned, not thrown.
 */
export async function sendUpstreamCancel(
  to: {
    readonly host: string;
    readonly port: number;
    readonly tls: UpstreamTls;
    readonly isTls: boolean;
  },
  key: CancelKey,
): Promise<Error | undefined> {
  let socket: Socket | TLSSocket | undefined;
  try {
    socket = await openTcp(to.host, to.port, 5_000);
    if (to.isTls) socket = (await negotiateTls(socket, { host: to.host, tls: to.tls })) ?? socket;
    const s = socket;
    await new Promise<void>((resolve, reject) =>
      s.end(serializeCancelRequest(key), () => resolve()).once('error', reject),
    );
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  } finally {
    const s = socket;
    if (s !== undefined) setTimeout(() => s.destroy(), 1_000).unref();
  }
}

function openTcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port, ...DB_SOCKET_OPTIONS });
    let isTimedOut = false;
    const timer = setTimeout(() => {
      isTimedOut = true;
      socket.destroy(new Error('TCP connect timed out'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      if (isTimedOut) reject(upstreamTimeoutError(`${host}:${port}`, timeoutMs, err.message, err));
      else
        reject(
          new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
            detail: `${host}:${port}: ${err.message}`,
            cause: err,
          }),
        );
    });
  });
}

// PG protocol: SSLRequest, then one byte; 'S' starts the TLS handshake at once.
async function negotiateTls(
  socket: Socket,
  options: { readonly host: string; readonly tls: UpstreamTls },
): Promise<TLSSocket | undefined> {
  const reader = new PacketReader(socket);
  socket.write(serializeSslRequest());
  const answer = await reader.byte();
  // Bytes after 'S' before the handshake would be injected into the session (CVE-2021-23222).
  if (answer === SSL_ACCEPTED && reader.buffered > 0)
    throw new PgProtocolError('target sent data after accepting SSL');
  socket.pause();
  reader.detach();
  if (answer !== SSL_ACCEPTED) {
    if (answer !== SSL_REFUSED)
      throw new PgProtocolError(`unexpected answer ${answer} to SSLRequest`);
    if (options.tls.mode !== 'prefer')
      throw new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
        detail: `${options.host}: the target does not accept TLS (sslmode=${options.tls.mode})`,
      });
    return undefined;
  }
  const isVerifying = options.tls.mode === 'verify-ca' || options.tls.mode === 'verify-full';
  const tls = tlsConnect({
    socket,
    // `host` is what verify-full checks the certificate against; SNI takes names only.
    host: options.host,
    ...(isHostName(options.host) ? { servername: options.host } : {}),
    rejectUnauthorized: isVerifying,
    ...(options.tls.ca === undefined ? {} : { ca: options.tls.ca }),
    ...(options.tls.mode === 'verify-full' ? {} : { checkServerIdentity: () => undefined }),
  });
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', () => {
      tls.off('error', reject);
      resolve();
    });
    tls.once('error', reject);
  });
  return tls;
}

async function authenticate(
  socket: Socket | TLSSocket,
  reader: PacketReader,
  user: string,
  password: Buffer,
): Promise<void> {
  let scram: ScramSha256Client | undefined;
  try {
    for (;;) {
      const m = await reader.message(MAX_LOGIN_MESSAGE_BYTES);
      if (m.type === BACKEND.errorResponse) throw serverError(m.body);
      if (m.type === BACKEND.negotiateProtocolVersion || m.type === BACKEND.noticeResponse)
        continue;
      if (m.type !== BACKEND.authentication)
        throw new PgProtocolError(`unexpected message ${m.type} during login`);
      const request = parseAuthentication(m.body);
      switch (request.kind) {
        case 'ok':
          if (scram !== undefined)
            throw new PgProtocolError('login ended before the SCRAM exchange finished');
          return;
        case 'cleartext-password':
          socket.write(serializePasswordMessage(password));
          break;
        case 'md5-password': {
          // PG protocol: "md5" + md5(md5(password + user) + salt), hex.
          const inner = createHash('md5').update(password).update(user).digest('hex');
          const outer = createHash('md5').update(inner).update(request.salt).digest('hex');
          socket.write(serializePasswordMessage(Buffer.from(`md5${outer}`)));
          break;
        }
        case 'sasl':
          if (!request.mechanisms.includes(SCRAM_SHA_256))
            throw new PgProtocolError(
              `no supported SASL mechanism in ${request.mechanisms.join(', ')}`,
            );
          scram = new ScramSha256Client(password);
          socket.write(serializeSaslInitialResponse(SCRAM_SHA_256, Buffer.from(scram.clientFirst)));
          break;
        case 'sasl-continue':
          if (scram === undefined) throw new PgProtocolError('SASLContinue without SASL');
          socket.write(
            serializeSaslResponse(
              Buffer.from(await scram.clientFinal(request.data.toString('utf8'))),
            ),
          );
          break;
        case 'sasl-final':
          if (scram === undefined || !scram.isServerFinalValid(request.data.toString('utf8')))
            throw new GatehouseError('GH_UPSTREAM_AUTH_FAILED', {
              detail: 'the target could not prove it knows the SCRAM verifier',
            });
          scram.dispose();
          scram = undefined;
          break;
        default:
          throw new PgProtocolError(`unsupported authentication method ${request.code}`);
      }
    }
  } finally {
    scram?.dispose();
  }
}

function serverError(body: Buffer): GatehouseError {
  const fields = parseErrorFields(body, { isTruncated: true });
  const cause = new PgServerError(fields);
  const code = fields.get(ERROR_FIELD.code);
  if (code === SQLSTATE.invalidPassword || code === SQLSTATE.invalidAuthorization)
    return new GatehouseError('GH_UPSTREAM_AUTH_FAILED', {
      detail: `the target said: ${cause.message}`,
    });
  return new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
    message: cause.message,
    detail: `the target said: ${code ?? '?'} ${cause.message}`,
    cause,
  });
}

function asUpstreamError(err: unknown, options: PgUpstreamOptions): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const where = `${options.host}:${options.port}`;
  if (err instanceof ConnectionClosedError)
    return new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
      detail: `${where} closed the connection during login`,
      cause: err,
    });
  const message = err instanceof Error ? err.message : String(err);
  return new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
    detail: `${where}: ${message}`,
    cause: err,
  });
}

function isHostName(host: string): boolean {
  return !/^[\d.]+$/.test(host) && !host.includes(':');
}
