// Wire constants of SFTP version 3 (draft-ietf-secsh-filexfer-02), the version OpenSSH speaks,
// and of OpenSSH's extensions (PROTOCOL §3 in openssh-portable).

/** The only protocol version this package decodes (filexfer-02 §4). */
export const SFTP_VERSION = 3;

/**
 * Largest value of a packet's length field we accept (type byte + body). OpenSSH's client and
 * server both refuse anything above 256 KiB (`SFTP_MAX_MSG_LENGTH`), so a longer packet ends
 * the session anyway: treating it as undecodable costs no real traffic.
 */
export const SFTP_MAX_PACKET_LENGTH = 256 * 1024;

/** filexfer-02 §6.2: "The file handle strings MUST NOT be longer than 256 bytes." */
export const SFTP_MAX_HANDLE_BYTES = 256;

/** Packet type numbers (filexfer-02 §3). */
export const SftpPacketType = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** Error/status codes of SSH_FXP_STATUS (filexfer-02 §7). */
export const SftpStatusCode = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/** Lower-case names of {@link SftpStatusCode}, indexed by code. */
const STATUS_NAMES = [
  'ok',
  'eof',
  'no_such_file',
  'permission_denied',
  'failure',
  'bad_message',
  'no_connection',
  'connection_lost',
  'op_unsupported',
] as const;

/** The name of a status code as the audit log spells it (`permission_denied`, `unknown_17`). */
export function sftpStatusName(code: number): string {
  return STATUS_NAMES[code] ?? `unknown_${code}`;
}

/** `pflags` bits of SSH_FXP_OPEN (filexfer-02 §6.3). */
export const SftpOpenFlag = {
  READ: 0x01,
  WRITE: 0x02,
  APPEND: 0x04,
  CREAT: 0x08,
  TRUNC: 0x10,
  EXCL: 0x20,
} as const;

/** `flags` bits of an ATTRS structure (filexfer-02 §5). */
export const SftpAttrFlag = {
  SIZE: 0x01,
  UIDGID: 0x02,
  PERMISSIONS: 0x04,
  ACMODTIME: 0x08,
  EXTENDED: 0x8000_0000,
} as const;
