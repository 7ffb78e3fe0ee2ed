import { isGatehouseError, type ErrorCode } from '../../core/errors.js';
import { ErrorCode as MysqlError, type ErrPacket } from './protocol/index.js';
import { UpstreamServerError } from './upstream-login.js';

/** Which MySQL error number and SQLSTATE each Gatehouse error becomes. */
const MAPPING: Partial<Record<ErrorCode, { code: number; sqlState: string }>> = {
  GH_AUTH_FAILED: MysqlError.ACCESS_DENIED,
  GH_PROOF_REPLAYED: MysqlError.ACCESS_DENIED,
  GH_ACCESS_DENIED: MysqlError.DBACCESS_DENIED,
  GH_UNKNOWN_TARGET: MysqlError.DBACCESS_DENIED,
  GH_GRANT_INVALID: MysqlError.DBACCESS_DENIED,
  GH_UPSTREAM_AUTH_FAILED: MysqlError.ACCESS_DENIED,
  GH_UPSTREAM_UNREACHABLE: MysqlError.TARGET_UNREACHABLE,
  GH_UPSTREAM_HOST_KEY_MISMATCH: MysqlError.TARGET_UNREACHABLE,
  // A login that names no target (or another than a dedicated listener's).
  GH_INVALID_ARGUMENT: MysqlError.ACCESS_DENIED,
  GH_TLS_REQUIRED: MysqlError.SECURE_TRANSPORT_REQUIRED,
  GH_PROTOCOL_VIOLATION: MysqlError.HANDSHAKE_ERROR,
  GH_TOO_MANY_CONNECTIONS: MysqlError.TOO_MANY_CONNECTIONS,
  GH_LOGIN_TIMEOUT: MysqlError.HANDSHAKE_ERROR,
  GH_READ_ONLY_TARGET: MysqlError.TABLEACCESS_DENIED,
  GH_SESSION_TERMINATED: MysqlError.CONNECTION_KILLED,
};

/**
 * The ERR packet a client sees for an error (STYLE.md: each adapter converts at its edge). Only
 * public fields go out: the catalogue message (with the user or target it is about) and hint;
 * an unexpected error becomes "internal error". A target's own refusal is passed on as is.
 */
export function errPacketFor(
  err: unknown,
  about: { readonly login?: string; readonly target?: string } = {},
): ErrPacket {
  if (err instanceof UpstreamServerError) return err.err;
  if (!isGatehouseError(err)) return { ...MysqlError.UNKNOWN, message: 'internal error' };
  const { code, sqlState } = MAPPING[err.code] ?? MysqlError.UNKNOWN;
  let message = err.message;
  if (
    (err.code === 'GH_AUTH_FAILED' || err.code === 'GH_PROOF_REPLAYED') &&
    about.login !== undefined
  ) {
    message = `${err.message} for user '${about.login}'`;
  } else if (
    (err.code === 'GH_ACCESS_DENIED' || err.code === 'GH_UNKNOWN_TARGET') &&
    about.target !== undefined
  ) {
    message = `${err.message} to target '${about.target}'`;
  }
  return { code, sqlState, message: err.hint === undefined ? message : `${message} (${err.hint})` };
}

/** A Gatehouse-made ERR packet. */
export function gatehouseErr(kind: { code: number; sqlState: string }, message: string): ErrPacket {
  return { code: kind.code, sqlState: kind.sqlState, message };
}
