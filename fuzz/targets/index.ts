import type { FuzzTarget } from '../lib/engine.js';
import { asciicastTarget } from './asciicast.js';
import { configTarget } from './config.js';
import { mysqlTarget } from './mysql.js';
import { pgTarget } from './pg.js';
import { sftpTarget } from './sftp.js';
import { sshLoginTarget } from './ssh-login.js';

/** Every fuzz target, in the order a full run takes them. */
export const TARGETS: readonly FuzzTarget[] = [
  pgTarget,
  mysqlTarget,
  sshLoginTarget,
  sftpTarget,
  asciicastTarget,
  configTarget,
];

/** The target called `name`; throws with the list of names otherwise. */
export function targetNamed(name: string): FuzzTarget {
  const target = TARGETS.find((t) => t.name === name);
  if (target === undefined)
    throw new Error(`unknown fuzz target ${name}: one of ${TARGETS.map((t) => t.name).join(', ')}`);
  return target;
}
