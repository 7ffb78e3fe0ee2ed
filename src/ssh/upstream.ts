/**
 * The upstream leg of an SSH session: Gatehouse's own ssh2 client to the target, logged in
 * as the leased account (DESIGN §3 step 5).
 *
 * What can be wiped and what cannot: the caller's credential buffer and our private copy are
 * zeroed as soon as the connection is ready or has failed. ssh2 copies a password into the
 * plaintext packet it builds (`Buffer.allocUnsafe`, possibly a slice of Node's shared pool)
 * and never zeroes it; it is encrypted into a new buffer and left for the garbage collector.
 * A private key is worse: ssh2's `parseKey` decodes it into a JS string and keeps a PEM
 * string of it inside the parsed key, which the client's authentication state references
 * for the life of the `Client`. Strings are immutable: that copy lives until the client is
 * garbage collected, so drop every reference to the client when the session ends.
 */
import ssh2 from 'ssh2';
import type {
  AuthenticationType,
  Client,
  ClientErrorExtensions,
  NextAuthHandler,
  ParsedKey,
  PasswordAuthMethod,
} from 'ssh2';
import { GatehouseError, toGatehouseError } from '../core/errors.js';
import { DEFAULT_TARGET_CONNECT_TIMEOUT_MS, upstreamTimeoutError } from '../core/target-connect.js';
import type { Logger } from '../log/index.js';
import {
  HostKeyMismatchError,
  hostKeyNotPinnedError,
  makeHostVerifier,
  upstreamAlgorithms,
  upstreamUnreachableError,
  type HostKeyVerifier,
} from './host-keys.js';

/** Time allowed from TCP connect to a logged-in session when none is given. */
export const DEFAULT_CONNECT_TIMEOUT_MS = DEFAULT_TARGET_CONNECT_TIMEOUT_MS;

/** The leased credential, as unsealed for this session; its buffer is zeroed by {@link connectUpstream}. */
export type UpstreamCredential =
  | { readonly kind: 'password'; readonly password: Buffer }
  | { readonly kind: 'ssh-key'; readonly privateKey: Buffer };

/** Options of {@link connectUpstream}. */
export interface ConnectUpstreamOptions {
  readonly host: string;
  readonly port: number;
  /** The leased account on the target. */
  readonly username: string;
  readonly credential: UpstreamCredential;
  /** The target's pinned host key line (`type base64`), or null when none is pinned. */
  readonly pinnedHostKey: string | null;
  /** With no pin: accept the presented key and hand it to `onFirstUse` (else refuse). */
  readonly trustOnFirstUse: boolean;
  /** Records the key trusted on first use; the connection goes on only once it resolves. */
  readonly onFirstUse?: (line: string) => void | Promise<void>;
  /** From TCP connect to a logged-in session; default {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
  readonly connectTimeoutMs?: number;
  /** SSH keepalive interval once connected; 0 or absent disables (3 unanswered end the connection). */
  readonly keepaliveIntervalMs?: number;
  /** The target's name, for hints (`gatehouse target trust NAME`). */
  readonly targetName?: string;
  readonly log?: Logger;
}

type SshError = Error & ClientErrorExtensions & { code?: unknown };

/**
 * Opens the upstream SSH connection and resolves with a logged-in ssh2 `Client`.
 *
 * Only the given credential is tried (no `none` probe, no agent, no keyboard-interactive),
 * once, and only after the host key passed the pin check. Rejects with a GatehouseError:
 * - GH_UPSTREAM_UNREACHABLE: refused, unreachable, timed out (`connectTimeoutMs` from the TCP
 *   connect to a logged-in session; the message says so), no common algorithm, closed;
 *   the detail names host:port;
 * - {@link HostKeyMismatchError} (GH_UPSTREAM_HOST_KEY_MISMATCH): the key is not the pinned
 *   one; it carries the presented fingerprint;
 * - GH_UPSTREAM_HOST_KEY_NOT_PINNED: no pin and no TOFU;
 * - GH_UPSTREAM_AUTH_FAILED: the target refused the credential.
 *
 * The credential's buffer is zeroed when the promise settles, whatever the outcome. The
 * resolved client keeps an `error` listener that logs, so a later upstream error never
 * crashes the process; end the session on the client's `close` event.
 */
export function connectUpstream(options: ConnectUpstreamOptions): Promise<Client> {
  const { host, port, log } = options;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const callerSecret =
    options.credential.kind === 'password'
      ? options.credential.password
      : options.credential.privateKey;

  // 1. Copy the credential into the form ssh2 takes; our copy is zeroed with the caller's.
  let auth: PreparedAuth;
  try {
    auth = prepareAuth(options.username, options.credential);
  } catch (err) {
    callerSecret.fill(0);
    return Promise.reject(toGatehouseError(err));
  }

  // 2. The host key check; the verifier leaves its verdict here for the error mapping.
  let hostKeyRefusal: GatehouseError | undefined;
  let hostVerifier: HostKeyVerifier;
  try {
    hostVerifier = makeHostVerifier(options.pinnedHostKey, {
      trustOnFirstUse: options.trustOnFirstUse,
      onFirstUse: async (line) => {
        log?.info({ host, port, hostKey: line }, 'upstream host key trusted on first use');
        await options.onFirstUse?.(line);
      },
      onMismatch: (_fingerprint, presented) => {
        hostKeyRefusal = new HostKeyMismatchError({
          presented,
          pinnedLine: options.pinnedHostKey ?? '',
          host,
          port,
          ...(options.targetName === undefined ? {} : { targetName: options.targetName }),
        });
      },
      onUnpinned: (presented) => {
        hostKeyRefusal = hostKeyNotPinnedError({
          presented,
          ...(options.targetName === undefined ? {} : { targetName: options.targetName }),
        });
      },
      onError: (err) => {
        hostKeyRefusal = toGatehouseError(err);
      },
    });
  } catch (err) {
    auth.wipe();
    callerSecret.fill(0);
    return Promise.reject(toGatehouseError(err));
  }

  // 3. Connect and log in.
  const client = new ssh2.Client();
  return new Promise<Client>((resolve, reject) => {
    let phase: 'connecting' | 'key exchange' | 'authentication' = 'connecting';
    let isSettled = false;
    let isAuthSent = false;
    let methodsLeft: readonly AuthenticationType[] = [];

    const settle = (err?: GatehouseError): void => {
      if (isSettled) return;
      isSettled = true;
      auth.wipe();
      callerSecret.fill(0);
      if (err === undefined) {
        log?.debug({ host, port }, 'upstream ssh session ready');
        resolve(client);
        return;
      }
      log?.debug(
        { host, port, code: err.code, detail: err.detail },
        'upstream ssh connection failed',
      );
      client.destroy();
      reject(err);
    };

    const authFailed = (detail: string): GatehouseError =>
      new GatehouseError('GH_UPSTREAM_AUTH_FAILED', {
        detail: `${options.username}@${host}:${port}: ${detail}`,
        ...(options.targetName === undefined
          ? {}
          : {
              hint: `an administrator should check the credential set for target ${options.targetName}`,
            }),
      });

    const classify = (err: SshError): GatehouseError => {
      if (hostKeyRefusal !== undefined) return hostKeyRefusal;
      if (err.level === 'client-authentication') {
        const allowed =
          methodsLeft.length === 0 ? '' : ` (the server allows: ${methodsLeft.join(', ')})`;
        return authFailed(`${auth.method} authentication was refused${allowed}`);
      }
      // A DISCONNECT from the server while it judges our credential (e.g. too many failures).
      if (typeof err.code === 'number' && isAuthSent)
        return authFailed(`the server disconnected: ${err.message}`);
      // ssh2's readyTimeout runs from the TCP connect to the end of authentication.
      if (err.level === 'client-timeout') {
        return upstreamTimeoutError(
          `${host}:${port}`,
          timeoutMs,
          `no session after ${timeoutMs} ms (stuck in ${phase})`,
          err,
        );
      }
      const code = typeof err.code === 'string' ? `${err.code}: ` : '';
      return upstreamUnreachableError(host, port, `${phase}: ${code}${err.message}`, err);
    };

    // Stays for the client's life: ssh2 emits `error` for socket and protocol faults (and for
    // exceptions thrown by callbacks it runs), and an `error` without listener kills the process.
    client.on('error', (err: SshError) => {
      if (!isSettled) settle(classify(err));
      else
        log?.warn(
          { host, port, err: { message: err.message, level: err.level } },
          'upstream ssh error',
        );
    });
    client.once('close', () =>
      settle(upstreamUnreachableError(host, port, `connection closed during ${phase}`)),
    );
    client.once('connect', () => {
      phase = 'key exchange';
    });
    client.once('handshake', () => {
      phase = 'authentication';
    });
    client.once('ready', () => settle());
    // An expired leased password: nobody can answer the server's change request here.
    client.once('change password', () =>
      settle(authFailed('the server says the password has expired')),
    );

    // ssh2 uses the return value: `false` means no method left.
    const authHandler = (
      left: AuthenticationType[] | null,
      _isPartial: boolean | null,
      next: NextAuthHandler,
    ): false | undefined => {
      if (left !== null) methodsLeft = left;
      if (isAuthSent || isSettled) return false;
      isAuthSent = true;
      next(auth.request);
      return undefined;
    };

    try {
      client.connect({
        host,
        port,
        username: options.username,
        readyTimeout: timeoutMs,
        keepaliveInterval: options.keepaliveIntervalMs ?? 0,
        keepaliveCountMax: 3,
        algorithms: upstreamAlgorithms(options.pinnedHostKey),
        hostVerifier,
        authHandler,
        // No `agent`, no `agentForward`: ssh2 uses an agent only when given one, and the
        // leased credential is the only one that may reach the target.
        tryKeyboard: false,
      });
    } catch (err) {
      settle(
        upstreamUnreachableError(host, port, err instanceof Error ? err.message : String(err), err),
      );
    }
  });
}

/**
 * Wraps a callback handed to ssh2 (`exec`, `shell`, `sftp`, `forwardOut` callbacks, stream
 * handlers run from its parser) so an exception, or a rejected promise, goes to `onError`.
 * Unwrapped, ssh2 catches it in its packet loop, emits it as a connection `error` and ends
 * the connection: the bug looks like an upstream failure and its stack is lost.
 */
export function guardUpstreamCallback<A extends unknown[]>(
  fn: (...args: A) => void | Promise<void>,
  onError: (err: unknown) => void,
): (...args: A) => void {
  const report = (err: unknown): void => {
    try {
      onError(err);
    } catch {
      // The reporter failed too: nothing is left to tell.
    }
  };
  return (...args: A): void => {
    try {
      const result = fn(...args);
      if (result instanceof Promise) result.catch(report);
    } catch (err) {
      report(err);
    }
  };
}

/** What ssh2 gets for the one authentication attempt, and how to zero our copy. */
interface PreparedAuth {
  readonly method: 'password' | 'publickey';
  readonly request: Parameters<NextAuthHandler>[0];
  wipe(): void;
}

function prepareAuth(username: string, credential: UpstreamCredential): PreparedAuth {
  if (credential.kind === 'password') {
    const password = Buffer.from(credential.password);
    // ssh2 takes a Buffer password from an auth handler and copies it into the packet
    // (client.js: "typeof password !== 'string' && !Buffer.isBuffer(password)"); its typings
    // say string. A Buffer, unlike a string, can be zeroed afterwards.
    const request = { type: 'password', username, password } as unknown as PasswordAuthMethod;
    return { method: 'password', request, wipe: () => password.fill(0) };
  }
  const copy = Buffer.from(credential.privateKey);
  try {
    const key = parsePrivateKey(copy);
    return {
      method: 'publickey',
      request: { type: 'publickey', username, key },
      wipe: () => copy.fill(0),
    };
  } catch (err) {
    copy.fill(0);
    throw err;
  }
}

function parsePrivateKey(data: Buffer): ParsedKey {
  // Typed as one key, but OpenSSH's format may hold several: ssh2's client takes the first.
  const parsed: ParsedKey | readonly ParsedKey[] | Error = ssh2.utils.parseKey(data);
  const key: ParsedKey | Error | undefined = isKeyList(parsed) ? parsed[0] : parsed;
  if (key === undefined || key instanceof Error || !key.isPrivateKey()) {
    const reason = key instanceof Error ? key.message : 'no private key found';
    throw new GatehouseError('GH_UPSTREAM_AUTH_FAILED', {
      detail: `the leased private key cannot be used: ${reason}`,
      hint: 'an administrator should set an unencrypted OpenSSH or PEM private key for this target',
    });
  }
  return key;
}

function isKeyList(
  parsed: ParsedKey | readonly ParsedKey[] | Error,
): parsed is readonly ParsedKey[] {
  return Array.isArray(parsed);
}
