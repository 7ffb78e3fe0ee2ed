import type { ErrorCode, GatehouseError } from '../../core/errors.js';
import {
  ERROR_FIELD,
  serializeErrorResponse,
  SQLSTATE,
  type ErrorFields,
} from './protocol/index.js';

/** An ErrorResponse the target sent while the gateway logged in (e.g. database does not exist). */
export class PgServerError extends Error {
  readonly fields: ErrorFields;

  constructor(fields: ErrorFields) {
    super(fields.get(ERROR_FIELD.message) ?? 'error from the target');
    this.name = 'PgServerError';
    this.fields = fields;
  }

  /** The SQLSTATE, e.g. `3D000`. */
  get code(): string {
    return this.fields.get(ERROR_FIELD.code) ?? SQLSTATE.internalError;
  }
}

const SQLSTATE_OF: Partial<Record<ErrorCode, string>> = {
  GH_AUTH_FAILED: SQLSTATE.invalidPassword,
  GH_PROOF_REPLAYED: SQLSTATE.invalidPassword,
  GH_ACCESS_DENIED: SQLSTATE.invalidAuthorization,
  GH_UNKNOWN_TARGET: SQLSTATE.invalidAuthorization,
  GH_GATEWAY_REJECTED: SQLSTATE.invalidAuthorization,
  GH_GRANT_INVALID: SQLSTATE.invalidAuthorization,
  GH_INVALID_ARGUMENT: SQLSTATE.invalidAuthorization,
  GH_TLS_REQUIRED: SQLSTATE.invalidAuthorization,
  GH_UPSTREAM_UNREACHABLE: SQLSTATE.connectionFailure,
  GH_UPSTREAM_AUTH_FAILED: SQLSTATE.connectionRejected,
  GH_NO_CREDENTIAL: SQLSTATE.connectionRejected,
  GH_READ_ONLY_TARGET: SQLSTATE.insufficientPrivilege,
  GH_SESSION_TERMINATED: SQLSTATE.adminShutdown,
  GH_PROTOCOL_VIOLATION: SQLSTATE.protocolViolation,
  GH_TOO_MANY_CONNECTIONS: SQLSTATE.tooManyConnections,
  GH_LOGIN_TIMEOUT: SQLSTATE.connectionFailure,
  GH_AUDIT_WRITE_FAILED: SQLSTATE.systemError,
  GH_RECORDING_FAILED: SQLSTATE.systemError,
  GH_STORE_UNAVAILABLE: SQLSTATE.systemError,
  GH_SERVICE_UNAVAILABLE: SQLSTATE.cannotConnectNow,
  GH_KMS_UNAVAILABLE: SQLSTATE.systemError,
};

/** Options of {@link errorResponseFor}. */
export interface PgErrorOptions {
  /** FATAL ends the connection (login, kill); ERROR ends one statement. */
  readonly severity: 'FATAL' | 'ERROR';
  /** The user name the client gave, for PostgreSQL's own wording of a failed login. */
  readonly loginName?: string;
  /** Overrides the SQLSTATE (e.g. 57P05 for an idle timeout). */
  readonly sqlstate?: string;
  readonly detail?: string;
}

/**
 * The ErrorResponse for a Gatehouse error: SQLSTATE by code, PostgreSQL-style message, and the
 * public hint. Only public fields are used; an upstream ErrorResponse behind the error (a
 * {@link PgServerError} cause) is passed on as the target said it.
 */
export function errorResponseFor(error: GatehouseError, options: PgErrorOptions): Buffer {
  const upstream = error.cause instanceof PgServerError ? error.cause : undefined;
  if (upstream !== undefined)
    return serializeErrorResponse(withSeverity(upstream.fields, options.severity));
  const sqlstate = options.sqlstate ?? SQLSTATE_OF[error.code] ?? SQLSTATE.internalError;
  const isLoginFailure = sqlstate === SQLSTATE.invalidPassword && options.loginName !== undefined;
  const fields: [string, string][] = [
    [ERROR_FIELD.severity, options.severity],
    [ERROR_FIELD.severityNonLocalized, options.severity],
    [ERROR_FIELD.code, sqlstate],
    // PostgreSQL's own wording, so scripts and drivers that look for it keep working.
    [
      ERROR_FIELD.message,
      isLoginFailure
        ? `password authentication failed for user "${options.loginName ?? ''}"`
        : error.message,
    ],
  ];
  if (options.detail !== undefined) fields.push([ERROR_FIELD.detail, options.detail]);
  const hint = isLoginFailure ? LOGIN_HINT : error.hint;
  if (hint !== undefined) fields.push([ERROR_FIELD.hint, hint]);
  return serializeErrorResponse(fields);
}

/** Hint of a failed login: how to use a token instead of the password. */
export const LOGIN_HINT =
  "check the Gatehouse password; to log in with a personal token, connect with options='-c gatehouse.auth=token' (PGOPTIONS)";

function withSeverity(fields: ErrorFields, severity: string): [string, string][] {
  const out = new Map(fields);
  out.set(ERROR_FIELD.severity, severity);
  out.set(ERROR_FIELD.severityNonLocalized, severity);
  return [...out];
}
