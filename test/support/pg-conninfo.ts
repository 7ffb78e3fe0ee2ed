/** Where `psql` (or any libpq client) logs in through Gatehouse, and how. */
export interface PgLogin {
  /** Gatehouse's PostgreSQL port. */
  readonly port: number;
  /** The login name, `user#target`. */
  readonly login: string;
  readonly dbname: string;
  /** libpq's `sslmode`; `verify-full` when not given. */
  readonly sslmode?: string | undefined;
  /** Gatehouse's init CA (`<dir>/tls/ca.crt`), as `sslrootcert`. */
  readonly caPath?: string;
  /** `connect_timeout` in seconds (libpq's default otherwise). */
  readonly connectTimeoutS?: number;
}

/**
 * The libpq connection string to log in through Gatehouse on loopback
 * (`host=… port=… user=… dbname=… sslmode=…`). No password: it goes in PGPASSWORD, never in
 * process arguments.
 */
export function pgConninfo(to: PgLogin): string {
  return [
    'host=127.0.0.1',
    `port=${to.port}`,
    `user=${to.login}`,
    `dbname=${to.dbname}`,
    `sslmode=${to.sslmode ?? 'verify-full'}`,
    ...(to.caPath === undefined ? [] : [`sslrootcert=${to.caPath}`]),
    ...(to.connectTimeoutS === undefined ? [] : [`connect_timeout=${to.connectTimeoutS}`]),
  ].join(' ');
}
