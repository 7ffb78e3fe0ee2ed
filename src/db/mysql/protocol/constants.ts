/**
 * MySQL client/server protocol constants (dev.mysql.com "Client/Server Protocol":
 * Capabilities Flags, SERVER_STATUS_flags_enum, Text Protocol commands, enum_field_types).
 * Wire facts only; no policy.
 */

/** Largest payload of one physical packet; a logical payload this long or longer is split. */
export const MAX_PACKET_PAYLOAD = 0xff_ff_ff;
/** Bytes of a packet header: int<3> payload length, int<1> sequence id. */
export const PACKET_HEADER_BYTES = 4;

/** Capability flags (int<4>; the upper half travels separately in the handshake). */
export const Capability = {
  LONG_PASSWORD: 1,
  FOUND_ROWS: 2,
  LONG_FLAG: 4,
  CONNECT_WITH_DB: 8,
  NO_SCHEMA: 16,
  COMPRESS: 32,
  ODBC: 64,
  LOCAL_FILES: 128,
  IGNORE_SPACE: 256,
  PROTOCOL_41: 512,
  INTERACTIVE: 1024,
  SSL: 2048,
  IGNORE_SIGPIPE: 4096,
  TRANSACTIONS: 8192,
  RESERVED: 16384,
  SECURE_CONNECTION: 32768,
  MULTI_STATEMENTS: 1 << 16,
  MULTI_RESULTS: 1 << 17,
  PS_MULTI_RESULTS: 1 << 18,
  PLUGIN_AUTH: 1 << 19,
  CONNECT_ATTRS: 1 << 20,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 1 << 21,
  CAN_HANDLE_EXPIRED_PASSWORDS: 1 << 22,
  SESSION_TRACK: 1 << 23,
  DEPRECATE_EOF: 1 << 24,
  OPTIONAL_RESULTSET_METADATA: 1 << 25,
  ZSTD_COMPRESSION_ALGORITHM: 1 << 26,
  QUERY_ATTRIBUTES: 1 << 27,
  MULTI_FACTOR_AUTHENTICATION: 1 << 28,
  SSL_VERIFY_SERVER_CERT: 2 ** 30,
  REMEMBER_OPTIONS: 2 ** 31,
} as const;

/** True when every bit of `flag` is set in `caps` (32-bit unsigned safe). */
export function hasCapability(caps: number, flag: number): boolean {
  return (caps & flag) >>> 0 === flag >>> 0;
}

/** Server status flags carried in OK and EOF packets. */
export const ServerStatus = {
  IN_TRANS: 0x0001,
  AUTOCOMMIT: 0x0002,
  MORE_RESULTS_EXISTS: 0x0008,
  QUERY_NO_GOOD_INDEX_USED: 0x0010,
  QUERY_NO_INDEX_USED: 0x0020,
  CURSOR_EXISTS: 0x0040,
  LAST_ROW_SENT: 0x0080,
  DB_DROPPED: 0x0100,
  NO_BACKSLASH_ESCAPES: 0x0200,
  METADATA_CHANGED: 0x0400,
  QUERY_WAS_SLOW: 0x0800,
  PS_OUT_PARAMS: 0x1000,
  IN_TRANS_READONLY: 0x2000,
  SESSION_STATE_CHANGED: 0x4000,
} as const;

/** Command bytes (first payload byte of a client packet in the command phase). */
export const Command = {
  SLEEP: 0x00,
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  CREATE_DB: 0x05,
  DROP_DB: 0x06,
  REFRESH: 0x07,
  SHUTDOWN: 0x08,
  STATISTICS: 0x09,
  PROCESS_INFO: 0x0a,
  CONNECT: 0x0b,
  PROCESS_KILL: 0x0c,
  DEBUG: 0x0d,
  PING: 0x0e,
  TIME: 0x0f,
  DELAYED_INSERT: 0x10,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  TABLE_DUMP: 0x13,
  CONNECT_OUT: 0x14,
  REGISTER_SLAVE: 0x15,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  DAEMON: 0x1d,
  BINLOG_DUMP_GTID: 0x1e,
  RESET_CONNECTION: 0x1f,
  CLONE: 0x20,
  /** MariaDB only. */
  STMT_BULK_EXECUTE: 0xfa,
} as const;

/** A command's name for logs and audit (`COM_QUERY`…), or `COM_0x..` when unknown. */
export function commandName(code: number): string {
  for (const [name, value] of Object.entries(Command)) if (value === code) return `COM_${name}`;
  return `COM_0x${code.toString(16).padStart(2, '0')}`;
}

/** Column and parameter types (enum_field_types). */
export const FieldType = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  TIMESTAMP2: 17,
  DATETIME2: 18,
  TIME2: 19,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;

/** First byte of the server packets that are not data. */
export const Header = {
  OK: 0x00,
  /** AuthMoreData during authentication. */
  AUTH_MORE_DATA: 0x01,
  /** LOCAL INFILE request in a COM_QUERY response. */
  LOCAL_INFILE: 0xfb,
  /** EOF, or AuthSwitchRequest during authentication, or OK under CLIENT_DEPRECATE_EOF. */
  EOF: 0xfe,
  ERR: 0xff,
} as const;

/** Server error numbers (and the SQLSTATE servers send with them) used by Gatehouse. */
export const ErrorCode = {
  /** ER_CON_COUNT_ERROR: "Too many connections". */
  TOO_MANY_CONNECTIONS: { code: 1040, sqlState: '08004' },
  /** ER_HANDSHAKE_ERROR: "Bad handshake". */
  HANDSHAKE_ERROR: { code: 1043, sqlState: '08S01' },
  /** ER_DBACCESS_DENIED_ERROR. */
  DBACCESS_DENIED: { code: 1044, sqlState: '42000' },
  /** ER_ACCESS_DENIED_ERROR. */
  ACCESS_DENIED: { code: 1045, sqlState: '28000' },
  /** ER_UNKNOWN_COM_ERROR. */
  UNKNOWN_COM: { code: 1047, sqlState: '08S01' },
  /** ER_UNKNOWN_ERROR. */
  UNKNOWN: { code: 1105, sqlState: 'HY000' },
  /** ER_TABLEACCESS_DENIED_ERROR. */
  TABLEACCESS_DENIED: { code: 1142, sqlState: '42000' },
  /** ER_NOT_ALLOWED_COMMAND (LOAD DATA LOCAL). */
  NOT_ALLOWED_COMMAND: { code: 1148, sqlState: '42000' },
  /** ER_NET_PACKET_TOO_LARGE. */
  NET_PACKET_TOO_LARGE: { code: 1153, sqlState: '08S01' },
  /** ER_NOT_SUPPORTED_YET. */
  NOT_SUPPORTED_YET: { code: 1235, sqlState: '42000' },
  /** ER_CONNECTION_KILLED. */
  CONNECTION_KILLED: { code: 1927, sqlState: '70100' },
  /** ER_SECURE_TRANSPORT_REQUIRED. */
  SECURE_TRANSPORT_REQUIRED: { code: 3159, sqlState: 'HY000' },
  /**
   * A target that cannot be reached: ER_UNKNOWN_ERROR with SQLSTATE 08S01 (communication link
   * failure, which drivers map to a connection error). Not CR_CONN_HOST_ERROR (2003): that is a
   * client-side number, and MariaDB Connector/C reports an ERR packet carrying one as
   * "Received malformed packet".
   */
  TARGET_UNREACHABLE: { code: 1105, sqlState: '08S01' },
} as const;

/** Authentication plugin names. */
export const AuthPlugin = {
  NATIVE: 'mysql_native_password',
  CACHING_SHA2: 'caching_sha2_password',
  CLEAR: 'mysql_clear_password',
} as const;

/** caching_sha2_password AuthMoreData statuses and client requests. */
export const CachingSha2 = {
  /** Server: the scramble matched its cache; an OK follows. */
  FAST_AUTH_SUCCESS: 0x03,
  /** Server: send the password (over TLS) or ask for the RSA key. */
  PERFORM_FULL_AUTH: 0x04,
  /** Client: send me your RSA public key. */
  REQUEST_PUBLIC_KEY: 0x02,
} as const;

/** utf8mb4_general_ci: a collation id every MySQL and MariaDB server knows. */
export const UTF8MB4_GENERAL_CI = 45;
