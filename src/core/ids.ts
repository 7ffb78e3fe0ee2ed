import { randomBytes } from 'node:crypto';

/** A random identifier with a readable prefix, e.g. `usr_3f9a…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}
