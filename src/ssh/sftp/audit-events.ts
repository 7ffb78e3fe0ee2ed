// What SftpAuditTracker reports. These are facts about one SFTP channel, with no user, session
// or policy in them: the SSH session adds those when it turns an event into an audit record.

/** A pflags bit of SSH_FXP_OPEN, spelled for the audit log. */
export type SftpOpenMode = 'read' | 'write' | 'append' | 'create' | 'truncate' | 'exclusive';

/**
 * How the server answered. `ok` is `null` when the answer is unknown: the channel ended first
 * (`status: 'no_reply'`), the request was dropped from a full table (`'evicted'`), or the reply
 * was not of a kind the request allows (`'unexpected_reply'`). The operation may have happened.
 */
export interface SftpOutcome {
  readonly ok: boolean | null;
  /** `ok`, an SSH_FX_* name such as `permission_denied`, or one of the unknown cases above. */
  readonly status: string;
  /** SSH_FX_* code, when a STATUS answered. */
  readonly code?: number;
  /** The server's error text (cut to 256 characters), when not ok. */
  readonly message?: string;
}

/** Present and `true` when a path in the event was cut to the tracker's maximum length. */
interface MayBeTruncated {
  readonly truncated?: true;
}

/** Attributes a SETSTAT asked for (extended attribute pairs are left out). */
export interface SftpAttrChange {
  readonly size?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly permissions?: number;
  readonly atime?: number;
  readonly mtime?: number;
}

/** Which stream an anomaly was seen on. */
export type SftpDirection = 'client' | 'server';

/** Why a file's tracking ended. */
export type SftpCloseReason = 'close' | 'channel-end' | 'evicted';

/** One high-level SFTP event. */
export type SftpAuditEvent =
  | ({
      readonly type: 'sftp.open';
      readonly path: string;
      readonly mode: readonly SftpOpenMode[];
      readonly pflags: number;
      /** Handle (hex) the server gave, on success. */
      readonly handle?: string;
    } & SftpOutcome &
      MayBeTruncated)
  | ({
      readonly type: 'sftp.close';
      readonly path: string;
      readonly handle: string;
      readonly mode: readonly SftpOpenMode[];
      /** Sum of DATA lengths the server sent for this handle. */
      readonly bytesRead: number;
      /** Sum of WRITE lengths the server acknowledged with SSH_FX_OK for this handle. */
      readonly bytesWritten: number;
      /** WRITE requests the server refused. */
      readonly writeErrors: number;
      /** From the server's HANDLE to its answer to CLOSE (or to the channel's end). */
      readonly durationMs: number;
      readonly reason: SftpCloseReason;
    } & SftpOutcome &
      MayBeTruncated)
  | ({ readonly type: 'sftp.remove'; readonly path: string } & SftpOutcome & MayBeTruncated)
  | ({
      readonly type: 'sftp.rename';
      readonly from: string;
      readonly to: string;
      /** Sent as `posix-rename@openssh.com` (replaces an existing target). */
      readonly posix: boolean;
    } & SftpOutcome &
      MayBeTruncated)
  | ({
      readonly type: 'sftp.mkdir';
      readonly path: string;
      readonly permissions?: number;
    } & SftpOutcome &
      MayBeTruncated)
  | ({ readonly type: 'sftp.rmdir'; readonly path: string } & SftpOutcome & MayBeTruncated)
  | ({
      readonly type: 'sftp.setstat';
      /** `null` for FSETSTAT on a handle the tracker does not know (e.g. a directory). */
      readonly path: string | null;
      readonly handle?: string;
      readonly attrs: SftpAttrChange;
      /** False for `lsetstat@openssh.com`, which changes a symlink itself. */
      readonly followsLinks: boolean;
    } & SftpOutcome &
      MayBeTruncated)
  | ({
      readonly type: 'sftp.symlink';
      /** The link created. */
      readonly linkPath: string;
      /** What it points to. */
      readonly targetPath: string;
    } & SftpOutcome &
      MayBeTruncated)
  | ({
      readonly type: 'sftp.hardlink';
      /** The existing file. */
      readonly from: string;
      /** The new name. */
      readonly to: string;
    } & SftpOutcome &
      MayBeTruncated)
  | ({
      // `copy-data`: the server copies between two open handles; no file data crosses the
      // channel, so it shows up here and not in a close event's byte counts.
      readonly type: 'sftp.copy';
      readonly from: string | null;
      readonly to: string | null;
      /** Bytes asked for; 0 means "to end of file". */
      readonly length: number;
    } & SftpOutcome &
      MayBeTruncated)
  | {
      // From here on this direction is not decoded: the audit of this channel is incomplete.
      readonly type: 'sftp.desync';
      readonly direction: SftpDirection;
      readonly offset: number;
      readonly reason: string;
    }
  | {
      readonly type: 'sftp.anomaly';
      readonly direction: SftpDirection;
      readonly packetType?: number;
      readonly reason: string;
    };

/** The `type` of an {@link SftpAuditEvent}. */
export type SftpAuditEventType = SftpAuditEvent['type'];

/** Counters of what the tracker could not follow; all zero on a clean session. */
export interface SftpAuditStats {
  /** Requests forgotten because the outstanding-request table was full. */
  readonly droppedRequests: number;
  /** Open files forgotten because the open-handle table was full. */
  readonly droppedHandles: number;
  /** Replies whose id matched no outstanding request. */
  readonly unmatchedResponses: number;
  /** Requests sent with an id that was still outstanding. */
  readonly reusedRequestIds: number;
  /** Malformed or unknown packets, both directions. */
  readonly badPackets: number;
  /** Anomalies counted but not reported as events (past the per-channel cap). */
  readonly suppressedAnomalies: number;
}
