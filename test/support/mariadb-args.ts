/** Where the `mariadb` client logs in through Gatehouse, and how. */
export interface MariadbLogin {
  /** Gatehouse's MySQL port. */
  readonly port: number;
  /** The login name, `user#target`. */
  readonly login: string;
  /** Gatehouse's init CA (`<dir>/tls/ca.crt`): TLS, the server's certificate checked against it. */
  readonly caPath?: string;
  /** `--connect-timeout` in seconds (the client's default otherwise). */
  readonly connectTimeoutS?: number;
}

/**
 * The `mariadb` client's arguments to log in through Gatehouse on loopback, before the
 * statement flags. No option files are read (`--no-defaults`), and no password: it goes in
 * MYSQL_PWD, never in process arguments.
 */
export function mariadbArgs(to: MariadbLogin): string[] {
  return [
    '--no-defaults',
    '-h',
    '127.0.0.1',
    '-P',
    String(to.port),
    '-u',
    to.login,
    ...(to.caPath === undefined
      ? []
      : ['--ssl', `--ssl-ca=${to.caPath}`, '--ssl-verify-server-cert']),
    ...(to.connectTimeoutS === undefined ? [] : [`--connect-timeout=${to.connectTimeoutS}`]),
  ];
}
