// Typed SFTP v3 messages (draft-ietf-secsh-filexfer-02 §4–§7). Handles are lower-case hex of
// their bytes; paths and names are UTF-8 with invalid bytes as U+FFFD; file data is never kept,
// only its length.

/** File attributes (filexfer-02 §5); a field is present when its flag bit was set. */
export interface SftpAttrs {
  readonly size?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly permissions?: number;
  readonly atime?: number;
  readonly mtime?: number;
  /** Names of `extended` attribute pairs (values dropped). */
  readonly extended?: readonly string[];
}

/** One `extension-pair` of INIT / VERSION (filexfer-02 §4; OpenSSH PROTOCOL §3.2). */
export interface SftpExtensionPair {
  readonly name: string;
  readonly data: string;
}

/** Arguments of an SSH_FXP_EXTENDED request, by the extension named (OpenSSH PROTOCOL §3). */
export type SftpExtendedRequest =
  | { readonly op: 'posix-rename'; readonly oldPath: string; readonly newPath: string }
  | { readonly op: 'hardlink'; readonly oldPath: string; readonly newPath: string }
  | { readonly op: 'statvfs'; readonly path: string }
  | { readonly op: 'fstatvfs'; readonly handle: string }
  | { readonly op: 'fsync'; readonly handle: string }
  | { readonly op: 'lsetstat'; readonly path: string; readonly attrs: SftpAttrs }
  | { readonly op: 'limits' }
  | { readonly op: 'expand-path'; readonly path: string }
  | { readonly op: 'home-directory'; readonly username: string }
  | {
      // draft-ietf-secsh-filexfer-extensions-00 §7; a length of 0 means "to end of file".
      readonly op: 'copy-data';
      readonly readHandle: string;
      readonly readOffset: number;
      readonly readLength: number;
      readonly writeHandle: string;
      readonly writeOffset: number;
    }
  /** An extension this package does not decode; `dataLength` bytes followed its name. */
  | { readonly op: 'other'; readonly dataLength: number };

/** A packet that could not be decoded as its type requires. */
export interface SftpMalformed {
  readonly kind: 'malformed';
  readonly type: number;
  /** The request id, when the packet got that far. */
  readonly id?: number;
  readonly reason: string;
}

/** A packet of a type this direction does not carry. */
export interface SftpUnknown {
  readonly kind: 'unknown';
  readonly type: number;
}

/** A client→server message (filexfer-02 §4, §6). */
export type SftpClientMessage =
  | {
      readonly kind: 'init';
      readonly version: number;
      readonly extensions: readonly SftpExtensionPair[];
    }
  | {
      readonly kind: 'open';
      readonly id: number;
      readonly path: string;
      /** SSH_FXF_* bits, see `SftpOpenFlag`. */
      readonly pflags: number;
      readonly attrs: SftpAttrs;
    }
  | { readonly kind: 'close'; readonly id: number; readonly handle: string }
  | {
      readonly kind: 'read';
      readonly id: number;
      readonly handle: string;
      readonly offset: number;
      readonly length: number;
    }
  | {
      readonly kind: 'write';
      readonly id: number;
      readonly handle: string;
      readonly offset: number;
      /** Bytes of file data carried (the data itself is not kept). */
      readonly dataLength: number;
    }
  | { readonly kind: 'lstat' | 'stat'; readonly id: number; readonly path: string }
  | { readonly kind: 'fstat'; readonly id: number; readonly handle: string }
  | {
      readonly kind: 'setstat';
      readonly id: number;
      readonly path: string;
      readonly attrs: SftpAttrs;
    }
  | {
      readonly kind: 'fsetstat';
      readonly id: number;
      readonly handle: string;
      readonly attrs: SftpAttrs;
    }
  | { readonly kind: 'opendir'; readonly id: number; readonly path: string }
  | { readonly kind: 'readdir'; readonly id: number; readonly handle: string }
  | { readonly kind: 'remove'; readonly id: number; readonly path: string }
  | {
      readonly kind: 'mkdir';
      readonly id: number;
      readonly path: string;
      readonly attrs: SftpAttrs;
    }
  | { readonly kind: 'rmdir'; readonly id: number; readonly path: string }
  | { readonly kind: 'realpath'; readonly id: number; readonly path: string }
  | {
      readonly kind: 'rename';
      readonly id: number;
      readonly oldPath: string;
      readonly newPath: string;
    }
  | { readonly kind: 'readlink'; readonly id: number; readonly path: string }
  | {
      // OpenSSH PROTOCOL §3.1: OpenSSH sends and reads targetpath first, the reverse of
      // filexfer-02 §6.10. Gatehouse relays to OpenSSH, so the fields follow its order.
      readonly kind: 'symlink';
      readonly id: number;
      readonly targetPath: string;
      readonly linkPath: string;
    }
  | {
      readonly kind: 'extended';
      readonly id: number;
      readonly name: string;
      readonly request: SftpExtendedRequest;
    }
  | SftpMalformed
  | SftpUnknown;

/** One entry of SSH_FXP_NAME (filexfer-02 §7). */
export interface SftpNameEntry {
  readonly filename: string;
  readonly longname: string;
  readonly attrs: SftpAttrs;
}

/** A server→client message (filexfer-02 §4, §7). */
export type SftpServerMessage =
  | {
      readonly kind: 'version';
      readonly version: number;
      readonly extensions: readonly SftpExtensionPair[];
    }
  | {
      readonly kind: 'status';
      readonly id: number;
      /** SSH_FX_* code, see `SftpStatusCode`. */
      readonly code: number;
      readonly message: string;
      readonly language: string;
    }
  | { readonly kind: 'handle'; readonly id: number; readonly handle: string }
  | { readonly kind: 'data'; readonly id: number; readonly dataLength: number }
  | { readonly kind: 'name'; readonly id: number; readonly entries: readonly SftpNameEntry[] }
  | { readonly kind: 'attrs'; readonly id: number; readonly attrs: SftpAttrs }
  | { readonly kind: 'extended-reply'; readonly id: number; readonly dataLength: number }
  | SftpMalformed
  | SftpUnknown;

/** The `kind` of a client message. */
export type SftpClientMessageKind = SftpClientMessage['kind'];

/** The `kind` of a server message. */
export type SftpServerMessageKind = SftpServerMessage['kind'];
