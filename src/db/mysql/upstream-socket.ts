import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ChannelClosedError } from './packet-channel.js';
import { DB_SOCKET_OPTIONS } from '../socket-options.js';

/**
 * How the connection to the target is protected, in libpq's words (the same `sslmode` target
 * label as the PostgreSQL side): `disable`; `prefer` (TLS when offered, certificate not checked:
 * the mysql client's PREFERRED); `require` (TLS or fail, not checked); `verify-ca` (checked
 * against the CA); `verify-full` (and the host name).
 */
export type UpstreamTlsMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** The `sslmode` values {@link UpstreamTlsMode} accepts. */
export const UPSTREAM_TLS_MODES: readonly UpstreamTlsMode[] = [
  'disable',
  'prefer',
  'require',
  'verify-ca',
  'verify-full',
];

/** How to protect the connection to the target. */
export interface UpstreamTls {
  readonly mode: UpstreamTlsMode;
  readonly ca?: string | Buffer;
  readonly servername?: string;
}

/** Opens the TCP connection to the target (no delay, keep-alive), within `timeoutMs`. */
export function openSocket(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port, ...DB_SOCKET_OPTIONS });
    const timer = setTimeout(
      () => fail(new ConnectTimeoutError(`TCP connect timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    const onAbort = (): void => fail(new ChannelClosedError('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    function fail(err: Error): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    }
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

/** Starts TLS on `socket` as `options.tls` says (verify-ca: the chain; verify-full: also the name). */
export function startTls(
  socket: Socket,
  options: { readonly host: string; readonly tls?: UpstreamTls | undefined },
  timeoutMs: number,
): Promise<TLSSocket> {
  const mode = options.tls?.mode ?? 'prefer';
  const isChecked = mode === 'verify-ca' || mode === 'verify-full';
  const servername =
    options.tls?.servername ?? (isIpAddress(options.host) ? undefined : options.host);
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({
      socket,
      // With a socket given, `host` only names what the certificate must match (verify-full).
      host: options.host,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: isChecked,
      ...(options.tls?.ca === undefined ? {} : { ca: options.tls.ca }),
      ...(servername === undefined ? {} : { servername }),
      // verify-ca checks the chain only; verify-full also the name (Node's default check).
      ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
    });
    const timer = setTimeout(() => {
      secure.destroy();
      reject(new ConnectTimeoutError('TLS handshake timed out'));
    }, timeoutMs);
    timer.unref();
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    secure.once('error', onError);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      secure.off('error', onError);
      resolve(secure);
    });
  });
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

/** The connect or TLS handshake ran out of time (a read that did is a {@link ReadTimeoutError}). */
export class ConnectTimeoutError extends ChannelClosedError {}
