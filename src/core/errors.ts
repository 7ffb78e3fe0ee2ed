/**
 * The one error class of Gatehouse, with stable codes.
 *
 * Only `code`, `message` and `hint` are public: they may reach a client (SSH failure text,
 * PostgreSQL ErrorResponse, MySQL ERR packet, HTTP problem JSON). `detail` and `cause` are
 * for logs only. Messages follow the PostgreSQL style: short, lower case, no final period.
 */

/** Catalogue entry: the public message and, where one helps, the fix. */
export interface ErrorSpec {
  readonly message: string;
  readonly hint?: string;
}

/** Every error code Gatehouse can raise; docs/errors.md documents each (a test checks). */
export const ERROR_CATALOGUE = {
  GH_CONFIG_INVALID: {
    message: 'configuration is invalid',
    hint: 'fix the named key in the configuration file',
  },
  GH_CONFIG_NOT_FOUND: {
    message: 'configuration file not found',
    hint: 'run "gatehouse init --data-dir DIR" or pass --config FILE',
  },
  GH_ALREADY_INITIALIZED: {
    message: 'a Gatehouse setup already exists here',
    hint: 'choose another --data-dir; init never overwrites an existing setup',
  },
  GH_INVALID_ARGUMENT: { message: 'invalid argument' },
  GH_NOT_FOUND: { message: 'not found' },
  GH_ALREADY_EXISTS: { message: 'already exists' },
  GH_AUTH_FAILED: { message: 'permission denied' },
  GH_ACCESS_DENIED: {
    message: 'access denied',
    hint: 'ask an administrator for a grant on this target',
  },
  GH_UNKNOWN_TARGET: { message: 'access denied', hint: 'check the target name' },
  GH_STORE_UNAVAILABLE: {
    message: 'the store is unavailable',
    hint: 'check that the database named in store.url is reachable',
  },
  GH_SERVICE_UNAVAILABLE: {
    message: 'sign-in is temporarily unavailable',
    hint: "try again shortly (the reason is in Gatehouse's log)",
  },
  GH_AUDIT_WRITE_FAILED: {
    message: 'the audit event could not be written',
    hint: 'the action was refused because it could not be audited',
  },
  GH_AUDIT_CHAIN_BROKEN: { message: 'the audit chain does not verify' },
  GH_CRYPTO_FAILED: { message: 'decryption failed' },
  GH_KMS_UNAVAILABLE: {
    message: 'the key management service is unavailable',
    hint: 'check the kms section of the configuration',
  },
  GH_GATEWAY_REJECTED: { message: 'gateway not accepted' },
  GH_GRANT_INVALID: { message: 'session grant is not valid' },
  GH_PROOF_REPLAYED: { message: 'permission denied' },
  GH_NO_CREDENTIAL: {
    message: 'no credential is set for this target',
    hint: 'an administrator runs "gatehouse credential set TARGET"',
  },
  GH_ROTATION_FAILED: { message: 'credential rotation failed' },
  GH_UPSTREAM_UNREACHABLE: {
    message: 'the target cannot be reached',
    hint: 'the target may be down; try again later or tell an administrator',
  },
  GH_UPSTREAM_AUTH_FAILED: {
    message: 'the target refused the leased credential',
    hint: 'an administrator should check the credential set for this target',
  },
  GH_UPSTREAM_HOST_KEY_MISMATCH: {
    message: "the target's host key has changed",
    hint: 'this may be an attack; an administrator checks the target and runs "gatehouse target trust NAME"',
  },
  GH_UPSTREAM_HOST_KEY_NOT_PINNED: {
    message: "the target's host key is not pinned",
    hint: 'an administrator runs "gatehouse target trust NAME"',
  },
  GH_RECORDING_FAILED: {
    message: 'the session recording could not be written',
    hint: 'recorded sessions are refused until an administrator frees space on the recordings disk',
  },
  GH_RECORDING_INVALID: { message: 'the recording is not valid asciicast v3' },
  GH_AUTH_REQUIRED: {
    message: 'authentication required',
    hint: 'log in, or send a personal access token as "Authorization: Bearer ght_…"',
  },
  GH_FORBIDDEN: {
    message: 'not allowed for your role',
    hint: 'an administrator can give you the role this needs',
  },
  GH_CSRF_REJECTED: {
    message: 'request refused: missing or wrong CSRF token or origin',
    hint: 'reload the console and try again',
  },
  GH_SESSION_TERMINATED: { message: 'the session was terminated' },
  GH_READ_ONLY_TARGET: {
    message: 'the target is read-only',
    hint: 'only SELECT, SHOW, EXPLAIN and SET run on a read-only target',
  },
  GH_PROTOCOL_VIOLATION: { message: 'protocol violation' },
  GH_TLS_REQUIRED: {
    message: 'an encrypted connection is required',
    hint: 'connect with TLS, e.g. sslmode=verify-full (see "gatehouse ca")',
  },
  GH_TOO_MANY_CONNECTIONS: {
    message: 'too many connections',
    hint: 'try again in a moment',
  },
  GH_CLIENT_GONE: { message: 'the client left before its session started' },
  GH_LOGIN_TIMEOUT: {
    message: 'login timed out',
    hint: 'finish logging in sooner, or ask the operator to raise limits.loginTimeoutMs',
  },
  GH_INTERNAL: { message: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

/** A stable error code such as `GH_ACCESS_DENIED`. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Options for {@link GatehouseError}: public overrides and private facts. */
export interface GatehouseErrorOptions {
  /** Public message replacing the catalogue's; keep it free of secrets. */
  readonly message?: string;
  /** Public hint replacing the catalogue's. */
  readonly hint?: string;
  /** Private facts for logs; never sent to a client. */
  readonly detail?: string;
  readonly cause?: unknown;
}

/** The error type every Gatehouse module throws for expected failures. */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, options: GatehouseErrorOptions = {}) {
    const spec: ErrorSpec = ERROR_CATALOGUE[code];
    super(
      options.message ?? spec.message,
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.name = 'GatehouseError';
    this.code = code;
    this.hint = options.hint ?? spec.hint;
    this.detail = options.detail;
  }

  /** The fields that may be shown to a client. */
  toPublic(): { code: ErrorCode; message: string; hint?: string } {
    return this.hint === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, hint: this.hint };
  }
}

/** True when `err` is a GatehouseError, optionally with the given code. */
export function isGatehouseError(err: unknown, code?: ErrorCode): err is GatehouseError {
  return err instanceof GatehouseError && (code === undefined || err.code === code);
}

/** Converts anything thrown into a GatehouseError; unexpected errors become GH_INTERNAL. */
export function toGatehouseError(err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  return new GatehouseError('GH_INTERNAL', {
    detail: err instanceof Error ? err.message : String(err),
    cause: err,
  });
}

/**
 * The error with its public message naming the target: "the target cannot be reached" becomes
 * `target "web-1" cannot be reached`. Messages that do not start with "the target" stay as they
 * are. For errors of the upstream connection, where a user with several sessions open must see
 * which target failed.
 */
export function namingTarget(err: GatehouseError, target: string): GatehouseError {
  if (!err.message.startsWith('the target ')) return err;
  return new GatehouseError(err.code, {
    message: `target "${target}" ${err.message.slice('the target '.length)}`,
    ...(err.hint === undefined ? {} : { hint: err.hint }),
    ...(err.detail === undefined ? {} : { detail: err.detail }),
    cause: err.cause ?? err,
  });
}

/**
 * True when `err` is GH_STORE_UNAVAILABLE or was caused by it (e.g. GH_AUDIT_WRITE_FAILED for
 * an event the store could not take): Gatehouse could not decide, the client did nothing wrong.
 */
export function isStoreOutage(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    if (isGatehouseError(current, 'GH_STORE_UNAVAILABLE')) return true;
    current = current.cause;
  }
  return false;
}

/**
 * What a client of the gateway hears for a store failure during its login: "sign-in is
 * temporarily unavailable" (GH_SERVICE_UNAVAILABLE), not the operator's hint about
 * `store.url`. Other errors are returned as they are; the detail and cause stay for the log.
 */
export function forGatewayClient(err: GatehouseError): GatehouseError {
  if (!isStoreOutage(err)) return err;
  return new GatehouseError('GH_SERVICE_UNAVAILABLE', {
    detail: `${err.code}${err.detail === undefined ? '' : `: ${err.detail}`}`,
    cause: err,
  });
}
