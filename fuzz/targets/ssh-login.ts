/**
 * The SSH username/target parser (src/ssh/addressing.ts) and the database login names
 * (src/db/login-name.ts): each client segment is a login name as ssh2 hands it over (UTF-8),
 * the next one the exec command. Neither may throw; what they return must be well-formed.
 */
import { parseDbLogin } from '../../src/db/login-name.js';
import {
  MAX_LOGIN_NAME_LENGTH,
  parseExecIntent,
  parseLoginName,
} from '../../src/ssh/addressing.js';
import type { FuzzTarget } from '../lib/engine.js';
import type { FuzzInput } from '../lib/input.js';
import { FuzzFinding } from '../lib/oracle.js';

/** The SSH addressing target. */
export const sshLoginTarget: FuzzTarget = {
  name: 'ssh-login',
  summary:
    'SSH login names (user, user+target, user:target), exec-command targets, user#target database logins',
  hints: {
    focus: 'c',
    dictionary: [
      '+',
      ':',
      '#',
      '@',
      ' ',
      '\t',
      '\n',
      '\0',
      '-',
      '.',
      '_',
      '..',
      'web-1',
      'alice',
      'é',
      '\u{1F600}',
      '\u2028',
      'A'.repeat(64),
      'a'.repeat(300),
    ].map((s) => Buffer.from(s, 'utf8')),
  },
  run: (input) => {
    try {
      runSshLogin(input);
    } catch (err) {
      if (err instanceof FuzzFinding) throw err;
      throw new FuzzFinding('unexpected-error', `addressing threw: ${String(err)}`, { cause: err });
    }
    return Promise.resolve();
  },
};

function runSshLogin(input: FuzzInput): void {
  const texts = input.segments.map((s) => s.data.toString('utf8'));
  for (let i = 0; i < texts.length; i++) {
    const login = texts[i] ?? '';
    const parsed = parseLoginName(login);
    if (parsed !== undefined) {
      if (login.length > MAX_LOGIN_NAME_LENGTH)
        throw new FuzzFinding('bad-output', 'an over-long login name was accepted');
      const joined =
        parsed.target === undefined
          ? parsed.user
          : `${parsed.user}${login.charAt(parsed.user.length)}${parsed.target}`;
      if (joined !== login)
        throw new FuzzFinding(
          'bad-output',
          `login ${JSON.stringify(login)} parsed as ${JSON.stringify(parsed)}`,
        );
    }
    const command = texts[i + 1];
    if (command !== undefined) {
      const intent = parseExecIntent(command, parsed?.target);
      if (intent !== undefined && intent.target === '')
        throw new FuzzFinding('bad-output', 'empty exec target accepted');
    }
    const db = parseDbLogin(login);
    if (db !== undefined && (db.user === '' || db.target === ''))
      throw new FuzzFinding(
        'bad-output',
        `db login ${JSON.stringify(login)} parsed as ${JSON.stringify(db)}`,
      );
    parseDbLogin(login, { fixedTarget: 'orders-db' });
  }
}
