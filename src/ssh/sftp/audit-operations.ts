import type { SftpAttrChange, SftpAuditEvent, SftpOutcome } from './audit-events.js';
import { truncatedFlag, type CutPath } from './audit-format.js';

/** A request whose reply ends in an event of its own. */
export type Operation =
  | { readonly op: 'remove' | 'rmdir'; readonly path: CutPath }
  | { readonly op: 'mkdir'; readonly path: CutPath; readonly permissions: number | undefined }
  | { readonly op: 'rename'; readonly from: CutPath; readonly to: CutPath; readonly posix: boolean }
  | { readonly op: 'hardlink'; readonly from: CutPath; readonly to: CutPath }
  | {
      readonly op: 'setstat';
      /** Or, for FSETSTAT, the handle whose path is looked up when the reply comes. */
      readonly target: CutPath | { readonly handle: string };
      readonly attrs: SftpAttrChange;
      readonly followsLinks: boolean;
    }
  | { readonly op: 'symlink'; readonly linkPath: CutPath; readonly targetPath: CutPath }
  | {
      readonly op: 'copy';
      readonly readHandle: string;
      readonly writeHandle: string;
      readonly length: number;
    };

/** The path of an open file's handle, if the tracker knows it. */
export type PathOfHandle = (handle: string) => CutPath | undefined;

/** The event that reports `operation` with the server's answer. */
export function operationEvent(
  operation: Operation,
  outcome: SftpOutcome,
  pathOf: PathOfHandle,
): SftpAuditEvent {
  switch (operation.op) {
    case 'remove':
    case 'rmdir':
      return {
        type: `sftp.${operation.op}`,
        path: operation.path.text,
        ...outcome,
        ...truncatedFlag(operation.path),
      };
    case 'mkdir':
      return {
        type: 'sftp.mkdir',
        path: operation.path.text,
        ...(operation.permissions === undefined ? {} : { permissions: operation.permissions }),
        ...outcome,
        ...truncatedFlag(operation.path),
      };
    case 'rename':
      return {
        type: 'sftp.rename',
        from: operation.from.text,
        to: operation.to.text,
        posix: operation.posix,
        ...outcome,
        ...truncatedFlag(operation.from, operation.to),
      };
    case 'hardlink':
      return {
        type: 'sftp.hardlink',
        from: operation.from.text,
        to: operation.to.text,
        ...outcome,
        ...truncatedFlag(operation.from, operation.to),
      };
    case 'setstat': {
      const path =
        'handle' in operation.target ? pathOf(operation.target.handle) : operation.target;
      return {
        type: 'sftp.setstat',
        path: path?.text ?? null,
        ...('handle' in operation.target ? { handle: operation.target.handle } : {}),
        attrs: operation.attrs,
        followsLinks: operation.followsLinks,
        ...outcome,
        ...truncatedFlag(path),
      };
    }
    case 'symlink':
      return {
        type: 'sftp.symlink',
        linkPath: operation.linkPath.text,
        targetPath: operation.targetPath.text,
        ...outcome,
        ...truncatedFlag(operation.linkPath, operation.targetPath),
      };
    case 'copy': {
      const from = pathOf(operation.readHandle);
      const to = pathOf(operation.writeHandle);
      return {
        type: 'sftp.copy',
        from: from?.text ?? null,
        to: to?.text ?? null,
        length: operation.length,
        ...outcome,
        ...truncatedFlag(from, to),
      };
    }
  }
}

/** The ops that are {@link Operation}s. */
export const OPERATION_OPS: ReadonlySet<string> = new Set([
  'remove',
  'rmdir',
  'mkdir',
  'rename',
  'hardlink',
  'setstat',
  'symlink',
  'copy',
]);
