import { createHash } from 'node:crypto';
import mysql from 'mysql2/promise';
import { GatehouseError } from '../core/errors.js';
import type { Target } from '../core/types.js';
import {
  ROTATION_TIMEOUT_MS,
  rotationStatementError,
  type PasswordApplier,
  type PasswordSession,
} from './rotation-appliers.js';

/** MySQL server errors that mean "wrong user or password" (ER_ACCESS_DENIED_ERROR, …_NO_PASSWORD_ERROR). */
const ACCESS_DENIED_ERRNOS: ReadonlySet<number> = new Set([1045, 1698]);
// SHOW CREATE USER of an account whose only plugin is mysql_native_password (MariaDB 10.4+).
const NATIVE_ACCOUNT_RE =
  /\bIDENTIFIED (?:BY PASSWORD|VIA mysql_native_password USING) '\*[0-9A-F]{40}'/;
// Printable ASCII without quote and backslash: the only characters that end or escape a literal.
const SAFE_LITERAL_RE = /^[\x20-\x26\x28-\x5b\x5d-\x7e]+$/;

/**
 * Changes a MySQL or MariaDB target's leased password; the account changes its own, which
 * needs no privilege. Neither server takes bind parameters here, so literals are used, and
 * only characters that cannot break out of one are allowed.
 *
 * MariaDB: `SET PASSWORD = '*<hash>'` with the mysql_native_password hash computed here, so
 * the plaintext never crosses the wire nor reaches the general log (MariaDB logs
 * `PASSWORD('…')` in clear). An account with another plugin (ed25519, unix_socket OR …) is
 * refused rather than sent the plaintext.
 * MySQL: `ALTER USER CURRENT_USER() IDENTIFIED BY '…'`; the server hashes it with the
 * account's plugin and writes `<secret>` in its logs instead.
 */
export const mysqlPasswordApplier: PasswordApplier = {
  async connect(target: Target, password: Buffer): Promise<PasswordSession> {
    let conn: mysql.Connection;
    try {
      conn = await mysql.createConnection({
        host: target.host,
        port: target.port,
        user: target.username,
        // mysql2 wants a string: this copy cannot be wiped, the caller's buffer is.
        password: password.toString('utf8'),
        ...(target.database === null ? {} : { database: target.database }),
        connectTimeout: ROTATION_TIMEOUT_MS,
        multipleStatements: false,
      });
    } catch (err) {
      throw connectError(target, err);
    }
    // A connection lost while idle is reported by the next query; no unhandled 'error' event.
    conn.on('error', () => undefined);
    const close = (): Promise<void> => conn.end().catch(() => undefined);
    return {
      async setPassword(next: Buffer): Promise<void> {
        const version = String(firstValue(await query(conn, 'SELECT VERSION()')));
        if (/mariadb/i.test(version)) {
          const account = String(firstValue(await query(conn, 'SHOW CREATE USER CURRENT_USER()')));
          if (!NATIVE_ACCOUNT_RE.test(account) || / IDENTIFIED VIA .* OR /.test(account)) {
            throw new GatehouseError('GH_ROTATION_FAILED', {
              detail:
                'the leased account does not use mysql_native_password alone; only such accounts are rotated',
            });
          }
          await query(conn, `SET PASSWORD = '${nativePasswordHash(next)}'`);
          return;
        }
        const literal = next.toString('utf8');
        if (!SAFE_LITERAL_RE.test(literal)) {
          throw new GatehouseError('GH_ROTATION_FAILED', {
            detail: 'the password cannot be written as a safe SQL literal',
          });
        }
        await query(conn, `ALTER USER CURRENT_USER() IDENTIFIED BY '${literal}'`);
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  },
};

/** The mysql_native_password hash: `*` + upper-case hex of SHA1(SHA1(password)). */
export function nativePasswordHash(password: Buffer): string {
  const inner = createHash('sha1').update(password).digest();
  try {
    return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
  } finally {
    inner.fill(0); // SHA1(password) alone is enough to log in
  }
}

async function query(conn: mysql.Connection, sql: string): Promise<unknown> {
  try {
    const [rows] = await conn.query({ sql, timeout: ROTATION_TIMEOUT_MS });
    return rows;
  } catch (err) {
    // The server's reason only: mysql2 errors carry the statement (`err.sql`), never passed on.
    throw rotationStatementError(sqlStateOf(err), err);
  }
}

function firstValue(rows: unknown): unknown {
  if (!Array.isArray(rows)) return undefined;
  const row: unknown = rows[0];
  return row !== null && typeof row === 'object' ? Object.values(row)[0] : undefined;
}

function connectError(target: Target, err: unknown): GatehouseError {
  const where = `${target.username}@${target.host}:${target.port}`;
  const sqlState = sqlStateOf(err);
  if (sqlState === undefined) {
    return new GatehouseError('GH_UPSTREAM_UNREACHABLE', { detail: `${where}: ${messageOf(err)}` });
  }
  const errno = err !== null && typeof err === 'object' && 'errno' in err ? err.errno : undefined;
  const code =
    typeof errno === 'number' && ACCESS_DENIED_ERRNOS.has(errno)
      ? 'GH_UPSTREAM_AUTH_FAILED'
      : 'GH_ROTATION_FAILED';
  return new GatehouseError(code, { detail: `${where}: SQLSTATE ${sqlState}: ${messageOf(err)}` });
}

/** The SQLSTATE of an error the server sent; undefined for network errors and timeouts. */
function sqlStateOf(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object' || !('sqlState' in err)) return undefined;
  return typeof err.sqlState === 'string' && err.sqlState !== '' ? err.sqlState : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
