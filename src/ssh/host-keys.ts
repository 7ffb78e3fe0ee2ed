/**
 * Pinning of upstream SSH host keys: fingerprints and lines as OpenSSH prints them, the
 * ssh2 `hostVerifier` that enforces a pin (or trust on first use), and `fetchHostKey` for
 * `gatehouse target trust NAME`.
 */
import ssh2 from 'ssh2';
import type { Algorithms, ServerHostKeyAlgorithm } from 'ssh2';
import { GatehouseError } from '../core/errors.js';
import { sshKeyFingerprint } from '../identity/ssh-keys.js';

/** Host key types Gatehouse pins (no DSA, no certificates). */
export const HOST_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
] as const;
/** One of {@link HOST_KEY_TYPES}. */
export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

/** A host key as pinned: its type, its blob (RFC 4253 §6.6) and its fingerprint. */
export interface HostKey {
  readonly type: HostKeyType;
  readonly blob: Buffer;
  /** `type base64`, without comment. */
  readonly line: string;
  /** `SHA256:` + unpadded base64, as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
}

/** The signature algorithms a server may use with each key type (RFC 8332 for RSA; SHA-1 `ssh-rsa` left out). */
const SIGNATURE_ALGOS: Readonly<Record<HostKeyType, readonly ServerHostKeyAlgorithm[]>> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256'],
};

/**
 * Transport algorithms offered upstream: what OpenSSH 7.4+ (and 9.2's defaults) speak, minus
 * SHA-1 (group14-sha1, hmac-sha1, ssh-rsa signatures), CBC and compression.
 */
const MODERN_ALGORITHMS = {
  kex: [
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'ecdh-sha2-nistp256',
    'ecdh-sha2-nistp384',
    'ecdh-sha2-nistp521',
    'diffie-hellman-group-exchange-sha256',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group18-sha512',
    'diffie-hellman-group14-sha256',
  ],
  cipher: [
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
  compress: ['none'],
} as const satisfies Algorithms;

/**
 * The ssh2 `algorithms` option for an upstream connection. The pinned key's type goes first
 * among host key algorithms, as OpenSSH orders them from known_hosts: a server with several
 * host keys then shows the pinned one, and any other key it shows is a mismatch.
 */
export function upstreamAlgorithms(pinnedLine: string | null): Algorithms {
  return algorithmsPreferring(pinnedLine === null ? undefined : parseHostKeyLine(pinnedLine).type);
}

/** The OpenSSH public line `type base64` of a host key blob; throws GH_INVALID_ARGUMENT for a malformed blob. */
export function hostKeyLine(keyBlob: Buffer): string {
  return `${blobType(keyBlob)} ${keyBlob.toString('base64')}`;
}

/** Parses a host key blob as a server presents it (RFC 4253 §6.6). */
export function parseHostKeyBlob(keyBlob: Buffer): HostKey {
  const type = blobType(keyBlob);
  const blob = Buffer.from(keyBlob);
  return {
    type,
    blob,
    line: `${type} ${blob.toString('base64')}`,
    fingerprint: sshKeyFingerprint(blob),
  };
}

/** Parses a pinned line `type base64 [comment]`; throws GH_INVALID_ARGUMENT if it is not a usable host key. */
export function parseHostKeyLine(line: string): HostKey {
  const match = /^(\S+)[ \t]+([A-Za-z0-9+/]+={0,2})(?:[ \t].*)?$/.exec(line.trim());
  if (match === null) throw invalidHostKey('expected "type base64"');
  const [, type = '', base64 = ''] = match;
  const key = parseHostKeyBlob(Buffer.from(base64, 'base64'));
  if (key.type !== type)
    throw invalidHostKey(`the line says ${type.slice(0, 64)} but the key is ${key.type}`);
  const parsed = ssh2.utils.parseKey(key.line);
  if (parsed instanceof Error || parsed.isPrivateKey())
    throw invalidHostKey('the key blob is malformed');
  return key;
}

/** ssh2's asynchronous `hostVerifier`: it gets the raw host key blob and answers through `verify`. */
export type HostKeyVerifier = (key: Buffer, verify: (isPermitted: boolean) => void) => void;

/** Hooks of {@link makeHostVerifier}. */
export interface HostVerifierOptions {
  /** Accept an unpinned server's key (and report it to `onFirstUse`) instead of refusing it. */
  readonly trustOnFirstUse: boolean;
  /** Called with the key line on first use; the key is accepted once it resolves, refused if it throws. */
  readonly onFirstUse?: (line: string) => void | Promise<void>;
  /** Called when the server shows a key other than the pinned one; the key is refused. */
  readonly onMismatch?: (presentedFingerprint: string, presented: HostKey) => void;
  /** Called when no key is pinned and trust on first use is off; the key is refused. */
  readonly onUnpinned?: (presented: HostKey) => void;
  /** Called when a hook throws or the key cannot be parsed; the key is refused. */
  readonly onError?: (err: unknown) => void;
}

/**
 * Makes the ssh2 `hostVerifier` enforcing `pinnedLine`: the whole presented blob must equal
 * the pinned blob (not only its fingerprint). With no pin, the key is refused unless
 * `trustOnFirstUse`; a key trusted on first use is then pinned for this verifier, so a
 * re-key on the same connection must show the same key. Throws GH_INVALID_ARGUMENT when
 * `pinnedLine` is malformed. Hooks run guarded: ssh2 calls the verifier from its parser
 * loop, which would turn an exception into a generic connection error.
 */
export function makeHostVerifier(
  pinnedLine: string | null,
  options: HostVerifierOptions,
): HostKeyVerifier {
  let accepted: Buffer | null = pinnedLine === null ? null : parseHostKeyLine(pinnedLine).blob;
  const refuse = (verify: (isPermitted: boolean) => void, err: unknown): void => {
    try {
      options.onError?.(err);
    } finally {
      verify(false);
    }
  };
  return (key, verify) => {
    let presented: HostKey;
    try {
      presented = parseHostKeyBlob(key);
      if (accepted !== null) {
        if (presented.blob.equals(accepted)) {
          verify(true);
        } else {
          options.onMismatch?.(presented.fingerprint, presented);
          verify(false);
        }
        return;
      }
      if (!options.trustOnFirstUse) {
        options.onUnpinned?.(presented);
        verify(false);
        return;
      }
    } catch (err) {
      refuse(verify, err);
      return;
    }
    const onFirstUse = options.onFirstUse;
    const recorded = (async (): Promise<void> => {
      if (onFirstUse !== undefined) await onFirstUse(presented.line);
    })();
    recorded.then(
      () => {
        accepted ??= presented.blob;
        verify(accepted.equals(presented.blob));
      },
      (err: unknown) => refuse(verify, err),
    );
  };
}

/** A GatehouseError saying the target showed another host key than the pinned one. */
export class HostKeyMismatchError extends GatehouseError {
  /** Fingerprint of the key the server showed. */
  readonly presentedFingerprint: string;
  /** Line of the key the server showed, for an administrator who decides to re-pin it. */
  readonly presentedLine: string;
  readonly pinnedFingerprint: string;

  constructor(options: {
    presented: HostKey;
    pinnedLine: string;
    targetName?: string;
    host: string;
    port: number;
  }) {
    const pinned = parseHostKeyLine(options.pinnedLine);
    super('GH_UPSTREAM_HOST_KEY_MISMATCH', {
      hint: `an administrator checks the server and, if the change is expected, runs "gatehouse target trust ${options.targetName ?? 'NAME'}"`,
      detail: `${options.host}:${options.port} presented ${options.presented.fingerprint} (${options.presented.type}); pinned ${pinned.fingerprint} (${pinned.type})`,
    });
    this.name = 'HostKeyMismatchError';
    this.presentedFingerprint = options.presented.fingerprint;
    this.presentedLine = options.presented.line;
    this.pinnedFingerprint = pinned.fingerprint;
  }
}

/** The error for an unpinned target without trust on first use. */
export function hostKeyNotPinnedError(options: {
  presented?: HostKey;
  targetName?: string;
}): GatehouseError {
  return new GatehouseError('GH_UPSTREAM_HOST_KEY_NOT_PINNED', {
    hint: `an administrator runs "gatehouse target trust ${options.targetName ?? 'NAME'}"`,
    ...(options.presented === undefined
      ? {}
      : { detail: `the server presented ${options.presented.fingerprint}` }),
  });
}

/** GH_UPSTREAM_UNREACHABLE with a hint naming `host:port` and the reason in `detail`. */
export function upstreamUnreachableError(
  host: string,
  port: number,
  reason: string,
  cause?: unknown,
): GatehouseError {
  return new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
    // The client sees only the catalogue hint; the address is for the operator's log.
    detail: `${host}:${port}: ${reason}`,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Where {@link fetchHostKey} connects. */
export interface FetchHostKeyOptions {
  readonly host: string;
  readonly port: number;
  /** Whole exchange, from TCP connect to the end of the key exchange; default 10 s. */
  readonly timeoutMs?: number;
  /** Preferred key type when the server has several; default Ed25519, then ECDSA, then RSA. */
  readonly preferredType?: HostKeyType;
}

/**
 * Reads the host key a server presents, for `gatehouse target trust NAME`. Runs the key
 * exchange to its end, so the server has proven it holds the private key (its signature
 * over the exchange hash verified), then disconnects before any authentication.
 */
export function fetchHostKey(options: FetchHostKeyOptions): Promise<HostKey> {
  const { host, port } = options;
  const client = new ssh2.Client();
  let presented: HostKey | undefined;
  return new Promise<HostKey>((resolve, reject) => {
    let isSettled = false;
    const settle = (outcome: HostKey | GatehouseError): void => {
      if (isSettled) return;
      isSettled = true;
      client.end();
      client.destroy();
      if (outcome instanceof GatehouseError) reject(outcome);
      else resolve(outcome);
    };
    client.on('error', (err: Error & { level?: string }) => {
      settle(upstreamUnreachableError(host, port, `${err.level ?? 'ssh'}: ${err.message}`, err));
    });
    client.on('close', () =>
      settle(
        upstreamUnreachableError(host, port, 'connection closed before the key exchange ended'),
      ),
    );
    client.on('handshake', () => {
      if (presented === undefined)
        settle(upstreamUnreachableError(host, port, 'no host key was presented'));
      else settle(presented);
    });
    try {
      client.connect({
        host,
        port,
        username: 'gatehouse-trust',
        readyTimeout: options.timeoutMs ?? 10_000,
        algorithms: algorithmsPreferring(options.preferredType),
        hostVerifier: (key: Buffer): boolean => {
          try {
            presented = parseHostKeyBlob(key);
            return true;
          } catch {
            return false;
          }
        },
        // Never reached (we disconnect at the end of the key exchange); no method, no agent.
        authHandler: () => false,
      });
    } catch (err) {
      settle(
        upstreamUnreachableError(host, port, err instanceof Error ? err.message : String(err), err),
      );
    }
  });
}

function algorithmsPreferring(type: HostKeyType | undefined): Algorithms {
  const first = type === undefined ? [] : SIGNATURE_ALGOS[type];
  const all = HOST_KEY_TYPES.flatMap((t) => SIGNATURE_ALGOS[t]);
  return {
    kex: [...MODERN_ALGORITHMS.kex],
    cipher: [...MODERN_ALGORITHMS.cipher],
    hmac: [...MODERN_ALGORITHMS.hmac],
    compress: [...MODERN_ALGORITHMS.compress],
    serverHostKey: [...first, ...all.filter((algo) => !first.includes(algo))],
  };
}

/** The key type named at the start of a blob (RFC 4251 §5 string). */
function blobType(keyBlob: Buffer): HostKeyType {
  if (keyBlob.length < 4) throw invalidHostKey('the key blob is truncated');
  const length = keyBlob.readUInt32BE(0);
  if (length > 64 || 4 + length > keyBlob.length) throw invalidHostKey('the key blob is truncated');
  const type = keyBlob.subarray(4, 4 + length).toString('latin1');
  if (!isHostKeyType(type))
    throw invalidHostKey(`unsupported host key type "${type.replace(/[^\x20-\x7e]/g, '?')}"`);
  return type;
}

function isHostKeyType(value: string): value is HostKeyType {
  return (HOST_KEY_TYPES as readonly string[]).includes(value);
}

function invalidHostKey(detail: string): GatehouseError {
  return new GatehouseError('GH_INVALID_ARGUMENT', { message: 'invalid SSH host key', detail });
}
