/**
 * Wire constants of the PostgreSQL frontend/backend protocol, version 3.0
 * (postgresql.org/docs/current/protocol-message-formats.html).
 */

/** Protocol 3.0 as sent in StartupMessage: major 3 in the high 16 bits, minor 0. */
export const PROTOCOL_3_0 = 0x0003_0000;
/** PG protocol: SSLRequest code (1234 << 16 | 5679). */
export const SSL_REQUEST_CODE = 80_877_103;
/** PG protocol: GSSENCRequest code (1234 << 16 | 5680). */
export const GSSENC_REQUEST_CODE = 80_877_104;
/** PG protocol: CancelRequest code (1234 << 16 | 5678). */
export const CANCEL_REQUEST_CODE = 80_877_102;

/** The longest startup packet PostgreSQL accepts (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET_BYTES = 10_000;
/** The longest message PostgreSQL accepts (PQ_LARGE_MESSAGE_LIMIT, 1 GiB - 1). */
export const MAX_MESSAGE_BYTES = 0x3fff_ffff;

/** Type bytes of messages a client (frontend) sends after the startup packet. */
export const FRONTEND = {
  bind: 0x42, // 'B'
  close: 0x43, // 'C'
  describe: 0x44, // 'D'
  execute: 0x45, // 'E'
  functionCall: 0x46, // 'F'
  flush: 0x48, // 'H'
  parse: 0x50, // 'P'
  query: 0x51, // 'Q'
  sync: 0x53, // 'S'
  terminate: 0x58, // 'X'
  copyData: 0x64, // 'd'
  copyDone: 0x63, // 'c'
  copyFail: 0x66, // 'f'
  /** PasswordMessage, SASLInitialResponse and SASLResponse all use 'p'. */
  password: 0x70, // 'p'
} as const;

/** Type bytes of messages a server (backend) sends. */
export const BACKEND = {
  parseComplete: 0x31, // '1'
  bindComplete: 0x32, // '2'
  closeComplete: 0x33, // '3'
  notification: 0x41, // 'A'
  commandComplete: 0x43, // 'C'
  dataRow: 0x44, // 'D'
  errorResponse: 0x45, // 'E'
  copyInResponse: 0x47, // 'G'
  copyOutResponse: 0x48, // 'H'
  emptyQuery: 0x49, // 'I'
  backendKeyData: 0x4b, // 'K'
  noticeResponse: 0x4e, // 'N'
  authentication: 0x52, // 'R'
  parameterStatus: 0x53, // 'S'
  rowDescription: 0x54, // 'T'
  functionCallResponse: 0x56, // 'V'
  copyBothResponse: 0x57, // 'W'
  readyForQuery: 0x5a, // 'Z'
  copyDone: 0x63, // 'c'
  copyData: 0x64, // 'd'
  noData: 0x6e, // 'n'
  portalSuspended: 0x73, // 's'
  parameterDescription: 0x74, // 't'
  negotiateProtocolVersion: 0x76, // 'v'
} as const;

/** Authentication request codes (the Int32 after 'R'). */
export const AUTH = {
  ok: 0,
  kerberosV5: 2,
  cleartextPassword: 3,
  md5Password: 5,
  gss: 7,
  gssContinue: 8,
  sspi: 9,
  sasl: 10,
  saslContinue: 11,
  saslFinal: 12,
} as const;

/** Transaction status in ReadyForQuery: idle, in a transaction block, in a failed one. */
export type TransactionStatus = 'I' | 'T' | 'E';

/** ErrorResponse / NoticeResponse field codes. */
export const ERROR_FIELD = {
  severity: 'S',
  severityNonLocalized: 'V',
  code: 'C',
  message: 'M',
  detail: 'D',
  hint: 'H',
  position: 'P',
  internalPosition: 'p',
  internalQuery: 'q',
  where: 'W',
  schema: 's',
  table: 't',
  column: 'c',
  dataType: 'd',
  constraint: 'n',
  file: 'F',
  line: 'L',
  routine: 'R',
} as const;

/** SQLSTATE codes a proxy answers with itself (postgresql.org/docs/current/errcodes-appendix.html). */
export const SQLSTATE = {
  connectionFailure: '08006',
  connectionRejected: '08004',
  protocolViolation: '08P01',
  invalidAuthorization: '28000',
  invalidPassword: '28P01',
  insufficientPrivilege: '42501',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  idleSessionTimeout: '57P05',
  cannotConnectNow: '57P03',
  tooManyConnections: '53300',
  featureNotSupported: '0A000',
  systemError: '58000',
  internalError: 'XX000',
  invalidCatalogName: '3D000',
} as const;
