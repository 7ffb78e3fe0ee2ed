import { readAttrs } from './decode-fields.js';
import type { SftpExtendedRequest } from './messages.js';
import type { WireCursor } from './wire-cursor.js';

/** Reads the arguments of an SSH_FXP_EXTENDED request named `name` (OpenSSH PROTOCOL §3). */
export function readExtendedRequest(name: string, cursor: WireCursor): SftpExtendedRequest {
  switch (name) {
    case 'posix-rename@openssh.com':
      return { op: 'posix-rename', oldPath: cursor.text(), newPath: cursor.text() };
    case 'hardlink@openssh.com':
      return { op: 'hardlink', oldPath: cursor.text(), newPath: cursor.text() };
    case 'statvfs@openssh.com':
      return { op: 'statvfs', path: cursor.text() };
    case 'fstatvfs@openssh.com':
      return { op: 'fstatvfs', handle: cursor.handle() };
    case 'fsync@openssh.com':
      return { op: 'fsync', handle: cursor.handle() };
    case 'lsetstat@openssh.com':
      return { op: 'lsetstat', path: cursor.text(), attrs: readAttrs(cursor) };
    case 'limits@openssh.com':
      return { op: 'limits' };
    case 'expand-path@openssh.com':
      return { op: 'expand-path', path: cursor.text() };
    case 'home-directory':
      return { op: 'home-directory', username: cursor.text() };
    case 'copy-data':
      return {
        op: 'copy-data',
        readHandle: cursor.handle(),
        readOffset: cursor.uint64(),
        readLength: cursor.uint64(),
        writeHandle: cursor.handle(),
        writeOffset: cursor.uint64(),
      };
    default:
      return { op: 'other', dataLength: cursor.rest().byteLength };
  }
}
