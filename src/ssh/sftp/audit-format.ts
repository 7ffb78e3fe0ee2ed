import type { SftpAttrChange, SftpOpenMode, SftpOutcome } from './audit-events.js';
import { SftpOpenFlag, SftpStatusCode, sftpStatusName } from './constants.js';
import type { SftpAttrs, SftpServerMessage } from './messages.js';

/** Longest server error text kept in an event. */
export const MAX_STATUS_MESSAGE_LENGTH = 256;

/** A path as the tracker keeps it: cut to a maximum length, remembering whether it was. */
export interface CutPath {
  readonly text: string;
  readonly isCut: boolean;
}

/** Cuts `path` to `max` UTF-16 units without splitting a surrogate pair. */
export function cutPath(path: string, max: number): CutPath {
  if (path.length <= max) return { text: path, isCut: false };
  let end = max;
  const last = path.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return { text: path.slice(0, end), isCut: true };
}

/** `{ truncated: true }` when any of `paths` was cut, else `{}` (spread into an event). */
export function truncatedFlag(...paths: Array<CutPath | undefined>): { truncated?: true } {
  return paths.some((p) => p?.isCut === true) ? { truncated: true } : {};
}

const MODE_BITS: ReadonlyArray<readonly [number, SftpOpenMode]> = [
  [SftpOpenFlag.READ, 'read'],
  [SftpOpenFlag.WRITE, 'write'],
  [SftpOpenFlag.APPEND, 'append'],
  [SftpOpenFlag.CREAT, 'create'],
  [SftpOpenFlag.TRUNC, 'truncate'],
  [SftpOpenFlag.EXCL, 'exclusive'],
];

/** The named pflags bits of an OPEN (unknown bits stay visible in the raw `pflags`). */
export function openModes(pflags: number): SftpOpenMode[] {
  return MODE_BITS.filter(([bit]) => (pflags & bit) !== 0).map(([, mode]) => mode);
}

/** The outcome a reply gives a request that expects a STATUS. */
export function statusOutcome(reply: SftpServerMessage): SftpOutcome {
  if (reply.kind !== 'status') return { ok: null, status: 'unexpected_reply' };
  const status = sftpStatusName(reply.code);
  if (reply.code === SftpStatusCode.OK) return { ok: true, status, code: reply.code };
  return {
    ok: false,
    status,
    code: reply.code,
    message: reply.message.slice(0, MAX_STATUS_MESSAGE_LENGTH),
  };
}

/** Outcome when no reply will come (`no_reply`) or the request was dropped (`evicted`). */
export function unknownOutcome(status: 'no_reply' | 'evicted'): SftpOutcome {
  return { ok: null, status };
}

/** The attributes of a SETSTAT worth an audit line (extended pairs are left out). */
export function attrChange(attrs: SftpAttrs): SftpAttrChange {
  const change: { -readonly [K in keyof SftpAttrChange]: SftpAttrChange[K] } = {};
  if (attrs.size !== undefined) change.size = attrs.size;
  if (attrs.uid !== undefined) change.uid = attrs.uid;
  if (attrs.gid !== undefined) change.gid = attrs.gid;
  if (attrs.permissions !== undefined) change.permissions = attrs.permissions;
  if (attrs.atime !== undefined) change.atime = attrs.atime;
  if (attrs.mtime !== undefined) change.mtime = attrs.mtime;
  return change;
}
