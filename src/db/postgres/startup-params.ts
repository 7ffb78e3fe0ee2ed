import { GatehouseError } from '../../core/errors.js';

/** Longest `application_name` PostgreSQL keeps (NAMEDATALEN - 1 bytes). */
export const MAX_APPLICATION_NAME_BYTES = 63;
/** Startup parameters passed on at most. */
const MAX_PASSED_PARAMS = 64;
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_.]{0,62}$/;
// Handled by the gateway, never passed as given.
const RESERVED = new Set(['user', 'database', 'options', 'replication', 'application_name']);
// Settings that would lift the read-only guard or change who runs the statements.
const READ_ONLY_GUARDED = new Set([
  'default_transaction_read_only',
  'transaction_read_only',
  'role',
  'session_authorization',
]);
/** Prefix of the gateway's own settings in `options` (`-c gatehouse.auth=token`). */
const GATEHOUSE_PREFIX = 'gatehouse.';

/** How the client asked to log in. */
export type PgAuthMode = 'scram' | 'password';

/** What the gateway takes from a client's StartupMessage. */
export interface ClientStartup {
  readonly loginName: string;
  /** The database asked for; undefined when none (or PostgreSQL's default, the user name). */
  readonly database: string | undefined;
  readonly applicationName: string | undefined;
  /** `scram` (default) or `password` (`-c gatehouse.auth=token|password`: cleartext over TLS). */
  readonly authMode: PgAuthMode;
  /** Settings to pass to the target: GUC parameters and `-c` options. */
  readonly settings: ReadonlyMap<string, string>;
}

/**
 * Reads a StartupMessage's parameters: the login name, database, application name, the
 * gateway's own `gatehouse.*` options, and the settings to pass on. Replication connections
 * and `_pq_.` protocol options are not supported (the caller negotiates the latter away).
 */
export function readClientStartup(params: ReadonlyMap<string, string>): ClientStartup {
  const loginName = params.get('user');
  if (loginName === undefined || loginName === '') {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: 'no user name in the startup packet',
      hint: 'connect as user#target, e.g. alice#orders-db',
    });
  }
  const replication = params.get('replication');
  if (
    replication !== undefined &&
    !['false', 'off', '0', 'no'].includes(replication.toLowerCase())
  ) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: 'replication connections are not supported',
    });
  }
  const settings = new Map<string, string>();
  for (const [name, value] of params) {
    if (RESERVED.has(name) || name.startsWith('_pq_.') || !SETTING_NAME.test(name)) continue;
    if (settings.size < MAX_PASSED_PARAMS) settings.set(name, value);
  }
  let authMode: PgAuthMode = 'scram';
  for (const [name, value] of parseOptions(params.get('options') ?? '')) {
    if (name.toLowerCase().startsWith(GATEHOUSE_PREFIX)) {
      if (name.toLowerCase() === 'gatehouse.auth' && (value === 'token' || value === 'password'))
        authMode = 'password';
      continue;
    }
    if (SETTING_NAME.test(name) && settings.size < MAX_PASSED_PARAMS) settings.set(name, value);
  }
  const database = params.get('database');
  return {
    loginName,
    // libpq sends the user name as the database when none is given.
    database:
      database === undefined || database === '' || database === loginName ? undefined : database,
    applicationName: params.get('application_name'),
    authMode,
    settings,
  };
}

/**
 * The StartupMessage parameters for the target: the leased account, the database, an
 * `application_name` that keeps the client's and shows the Gatehouse session id to the DBA
 * (`psql [gatehouse:ses_…]`), the client's settings, and on a read-only target
 * `default_transaction_read_only=on` with the settings that would lift it removed.
 */
export function upstreamStartupParams(
  client: ClientStartup,
  options: {
    readonly account: string;
    readonly database: string;
    readonly sid: string;
    readonly isReadOnly: boolean;
  },
): [string, string][] {
  const out: [string, string][] = [
    ['user', options.account],
    ['database', options.database],
    ['application_name', applicationNameFor(client.applicationName, options.sid)],
  ];
  const settings = new Map(client.settings);
  if (options.isReadOnly) {
    for (const name of [...settings.keys()])
      if (READ_ONLY_GUARDED.has(name.toLowerCase())) settings.delete(name);
    settings.set('default_transaction_read_only', 'on');
  }
  // Settings travel as startup parameters, which PostgreSQL applies like `-c name=value`.
  for (const [name, value] of settings) out.push([name, value]);
  return out;
}

/** `<client app> [gatehouse:<sid>]`, the client's part cut so the whole fits 63 bytes. */
export function applicationNameFor(clientApp: string | undefined, sid: string): string {
  const tag = `[gatehouse:${sid}]`;
  const app = (clientApp ?? '').replace(/[^\x20-\x7e]/g, '?').trim();
  const room = MAX_APPLICATION_NAME_BYTES - tag.length - 1;
  return app === '' || room <= 0 ? tag : `${app.slice(0, room)} ${tag}`;
}

/**
 * Parses the `options` startup parameter like the server does: words split on unescaped
 * white space, `\` escapes the next character; `-c name=value`, `-cname=value` and
 * `--name=value` set a parameter. Other switches are ignored.
 */
export function parseOptions(options: string): [string, string][] {
  const words: string[] = [];
  let word = '';
  let hasWord = false;
  for (let i = 0; i < options.length; i++) {
    const c = options[i] ?? '';
    if (c === '\\' && i + 1 < options.length) {
      word += options[i + 1];
      hasWord = true;
      i += 1;
    } else if (/\s/.test(c)) {
      if (hasWord) words.push(word);
      word = '';
      hasWord = false;
    } else {
      word += c;
      hasWord = true;
    }
  }
  if (hasWord) words.push(word);
  const out: [string, string][] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? '';
    let setting: string | undefined;
    if (w === '-c') setting = words[++i];
    else if (w.startsWith('-c')) setting = w.slice(2);
    else if (w.startsWith('--')) setting = w.slice(2);
    if (setting === undefined) continue;
    const eq = setting.indexOf('=');
    if (eq <= 0) continue;
    out.push([setting.slice(0, eq).replaceAll('-', '_'), setting.slice(eq + 1)]);
  }
  return out;
}
