import { attrChange, type CutPath } from './audit-format.js';
import { OPERATION_OPS, type Operation } from './audit-operations.js';
import type { SftpAttrs, SftpClientMessage, SftpExtendedRequest } from './messages.js';

/** A client request the tracker keeps until its reply (INIT and bad packets have none). */
export type SftpRequest = Exclude<SftpClientMessage, { kind: 'init' | 'malformed' | 'unknown' }>;

/** Cuts a path to the tracker's maximum length. */
export type CutText = (path: string) => CutPath;

/** What the tracker remembers of a request until its reply comes. */
export type Pending =
  | Operation
  | { readonly op: 'open'; readonly path: CutPath; readonly pflags: number }
  | { readonly op: 'close'; readonly handle: string }
  | { readonly op: 'read'; readonly handle: string }
  | { readonly op: 'write'; readonly handle: string; readonly length: number }
  | { readonly op: 'other' };

const OTHER: Pending = { op: 'other' };

/** The pending form of `message`, its paths cut by `cut`. */
export function toPending(message: SftpRequest, cut: CutText): Pending {
  switch (message.kind) {
    case 'open':
      return { op: 'open', path: cut(message.path), pflags: message.pflags };
    case 'close':
      return { op: 'close', handle: message.handle };
    case 'read':
      return { op: 'read', handle: message.handle };
    case 'write':
      return { op: 'write', handle: message.handle, length: message.dataLength };
    case 'remove':
    case 'rmdir':
      return { op: message.kind, path: cut(message.path) };
    case 'mkdir':
      return {
        op: 'mkdir',
        path: cut(message.path),
        permissions: message.attrs.permissions,
      };
    case 'rename':
      return {
        op: 'rename',
        from: cut(message.oldPath),
        to: cut(message.newPath),
        posix: false,
      };
    case 'symlink':
      return {
        op: 'symlink',
        linkPath: cut(message.linkPath),
        targetPath: cut(message.targetPath),
      };
    case 'setstat':
      return setstatOf(cut(message.path), message.attrs, true);
    case 'fsetstat':
      return setstatOf({ handle: message.handle }, message.attrs, true);
    case 'extended':
      return toPendingExtended(message.request, cut);
    default:
      return OTHER;
  }
}

function toPendingExtended(request: SftpExtendedRequest, cut: CutText): Pending {
  switch (request.op) {
    case 'posix-rename':
      return {
        op: 'rename',
        from: cut(request.oldPath),
        to: cut(request.newPath),
        posix: true,
      };
    case 'hardlink':
      return { op: 'hardlink', from: cut(request.oldPath), to: cut(request.newPath) };
    case 'lsetstat':
      return setstatOf(cut(request.path), request.attrs, false);
    case 'copy-data':
      return {
        op: 'copy',
        readHandle: request.readHandle,
        writeHandle: request.writeHandle,
        length: request.readLength,
      };
    default:
      return OTHER;
  }
}

function setstatOf(
  target: CutPath | { readonly handle: string },
  attrs: SftpAttrs,
  followsLinks: boolean,
): Pending {
  return { op: 'setstat', target, attrs: attrChange(attrs), followsLinks };
}

/** What a pending request holds in paths: its weight against the pending-path budget. */
export function pathChars(pending: Pending): number {
  switch (pending.op) {
    case 'open':
    case 'remove':
    case 'rmdir':
    case 'mkdir':
      return pending.path.text.length;
    case 'rename':
    case 'hardlink':
      return pending.from.text.length + pending.to.text.length;
    case 'symlink':
      return pending.linkPath.text.length + pending.targetPath.text.length;
    case 'setstat':
      return 'handle' in pending.target ? 0 : pending.target.text.length;
    default:
      return 0;
  }
}

/** True when `pending` ends in an event of its own. */
export function isOperation(pending: Pending): pending is Operation {
  return OPERATION_OPS.has(pending.op);
}
