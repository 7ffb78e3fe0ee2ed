// SFTP (draft-ietf-secsh-filexfer-02, version 3) for the SSH relay: framing and decoding of the
// bytes (packet-reader, decode, messages) apart from what the audit makes of them
// (audit-tracker, audit-events); audit-tap joins the two for one channel.
export {
  SFTP_MAX_HANDLE_BYTES,
  SFTP_MAX_PACKET_LENGTH,
  SFTP_VERSION,
  SftpAttrFlag,
  SftpOpenFlag,
  SftpPacketType,
  SftpStatusCode,
  sftpStatusName,
} from './constants.js';
export {
  SFTP_BULK_HEAD_BYTES,
  SftpPacketReader,
  type SftpDesync,
  type SftpFrame,
  type SftpPacket,
  type SftpPacketReaderOptions,
} from './packet-reader.js';
export type * from './messages.js';
export { decodeClientPacket, decodeServerPacket } from './decode.js';
export type * from './audit-events.js';
export {
  SFTP_MAX_ANOMALY_EVENTS,
  SFTP_MAX_AUDIT_PATH_LENGTH,
  SFTP_MAX_OPEN_HANDLES,
  SFTP_MAX_PENDING_REQUESTS,
  SftpAuditTracker,
  type SftpAuditTrackerOptions,
} from './audit-tracker.js';
export { SftpAuditTap, type SftpAuditTapOptions } from './audit-tap.js';
