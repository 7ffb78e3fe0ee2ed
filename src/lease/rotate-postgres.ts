import pg from 'pg';
import { GatehouseError } from '../core/errors.js';
import type { Target } from '../core/types.js';
import { deriveScramVerifier } from '../identity/scram.js';
import {
  ROTATION_TIMEOUT_MS,
  rotationStatementError,
  type PasswordApplier,
  type PasswordSession,
} from './rotation-appliers.js';

/** PostgreSQL 10 is the first to accept a SCRAM-SHA-256 verifier in `ALTER ROLE … PASSWORD`. */
const MIN_SERVER_VERSION_NUM = 100_000;
// Base64, digits, `$` and `:`: nothing that can end or escape a string literal.
const VERIFIER_LITERAL_RE = /^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/;

/**
 * Changes a PostgreSQL target's leased password. The leased role sets its own password with
 * `ALTER ROLE CURRENT_USER PASSWORD '<SCRAM verifier>'`: the verifier is derived here, so the
 * plaintext never crosses the wire nor lands in the server log (`log_statement = all` shows
 * the verifier only). ALTER ROLE takes no bind parameters; the verifier is checked to be a
 * safe literal instead.
 */
export const postgresPasswordApplier: PasswordApplier = {
  async connect(target: Target, password: Buffer): Promise<PasswordSession> {
    const client = new pg.Client({
      host: target.host,
      port: target.port,
      user: target.username,
      database: target.database ?? 'postgres',
      // pg wants a string: this copy cannot be wiped, the caller's buffer is.
      password: password.toString('utf8'),
      connectionTimeoutMillis: ROTATION_TIMEOUT_MS,
      query_timeout: ROTATION_TIMEOUT_MS,
      application_name: 'gatehouse-rotation',
    });
    // A connection lost while idle is reported by the next query; no unhandled 'error' event.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw connectError(target, err);
    }
    const close = (): Promise<void> => client.end().catch(() => undefined);
    return {
      async setPassword(next: Buffer): Promise<void> {
        const version = await query(client, 'SHOW server_version_num');
        const versionNum = Number(version.rows[0]?.['server_version_num']);
        if (!(versionNum >= MIN_SERVER_VERSION_NUM)) {
          throw new GatehouseError('GH_ROTATION_FAILED', {
            detail: `server_version_num ${String(versionNum)}: SCRAM verifiers need PostgreSQL 10 or later`,
          });
        }
        const verifier = await deriveScramVerifier(next.toString('utf8'));
        if (!VERIFIER_LITERAL_RE.test(verifier)) {
          throw new GatehouseError('GH_INTERNAL', {
            detail: 'the SCRAM verifier is not a safe SQL literal',
          });
        }
        await query(client, `ALTER ROLE CURRENT_USER PASSWORD '${verifier}'`);
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  },
};

async function query(
  client: pg.Client,
  text: string,
): Promise<pg.QueryResult<Record<string, unknown>>> {
  try {
    return await client.query<Record<string, unknown>>(text);
  } catch (err) {
    // The server's reason only: never the statement, which holds the verifier.
    throw rotationStatementError(sqlStateOf(err), err);
  }
}

/** Class 28 (invalid authorization) is a refused password; other server errors refuse the connection. */
function connectError(target: Target, err: unknown): GatehouseError {
  const where = `${target.username}@${target.host}:${target.port}`;
  const sqlState = sqlStateOf(err);
  if (sqlState === undefined) {
    return new GatehouseError('GH_UPSTREAM_UNREACHABLE', {
      detail: `${where}: ${messageOf(err)}`,
      cause: err,
    });
  }
  const code = sqlState.startsWith('28') ? 'GH_UPSTREAM_AUTH_FAILED' : 'GH_ROTATION_FAILED';
  return new GatehouseError(code, {
    detail: `${where}: SQLSTATE ${sqlState}: ${messageOf(err)}`,
    cause: err,
  });
}

/** The SQLSTATE of an error the server sent; undefined for network errors and timeouts. */
function sqlStateOf(err: unknown): string | undefined {
  return err instanceof pg.DatabaseError && typeof err.code === 'string' ? err.code : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
