import { SftpAttrFlag } from './constants.js';
import type { SftpAttrs, SftpExtensionPair } from './messages.js';
import { WireCursor } from './wire-cursor.js';

type MutableAttrs = { -readonly [K in keyof SftpAttrs]: SftpAttrs[K] };

/** Reads an ATTRS structure (filexfer-02 §5); unknown flag bits are ignored, as OpenSSH does. */
export function readAttrs(cursor: WireCursor): SftpAttrs {
  const flags = cursor.uint32();
  const attrs: MutableAttrs = {};
  if ((flags & SftpAttrFlag.SIZE) !== 0) attrs.size = cursor.uint64();
  if ((flags & SftpAttrFlag.UIDGID) !== 0) {
    attrs.uid = cursor.uint32();
    attrs.gid = cursor.uint32();
  }
  if ((flags & SftpAttrFlag.PERMISSIONS) !== 0) attrs.permissions = cursor.uint32();
  if ((flags & SftpAttrFlag.ACMODTIME) !== 0) {
    attrs.atime = cursor.uint32();
    attrs.mtime = cursor.uint32();
  }
  if ((flags & SftpAttrFlag.EXTENDED) !== 0) {
    const count = cursor.uint32();
    // Each pair is two strings of at least 4 bytes: refuse a count the packet cannot hold
    // before looping on it.
    if (count > cursor.remaining / 8) cursor.fail(`${count} extended attributes cannot fit`);
    const names: string[] = [];
    for (let i = 0; i < count && cursor.failure === undefined; i += 1) {
      names.push(cursor.text());
      cursor.bytes();
    }
    attrs.extended = names;
  }
  return attrs;
}

/**
 * Reads the extension pairs that end INIT and VERSION. A broken pair ends the list instead of
 * failing the message: OpenSSH's server does not read the client's pairs at all.
 */
export function readExtensionPairs(cursor: WireCursor): SftpExtensionPair[] {
  const pairs: SftpExtensionPair[] = [];
  const rest = new WireCursor(cursor.rest());
  while (rest.remaining > 0) {
    const name = rest.text();
    const data = rest.text();
    if (rest.failure !== undefined) break;
    pairs.push({ name, data });
  }
  return pairs;
}
