import { describe, expect, it } from 'vitest';
import { parseExecIntent, parseLoginName } from './addressing.js';

describe('ssh addressing', () => {
  it('splits-user-and-target-in-every-login-form', () => {
    expect(parseLoginName('alice')).toEqual({ user: 'alice', target: undefined });
    expect(parseLoginName('alice+web-1')).toEqual({ user: 'alice', target: 'web-1' });
    expect(parseLoginName('alice:web-1')).toEqual({ user: 'alice', target: 'web-1' });
  });

  it('refuses-malformed-login-names', () => {
    for (const bad of [
      '',
      'Alice',
      'alice+',
      'alice+Web',
      '+web-1',
      'a'.repeat(300),
      'alice+web 1',
      'alice+web-1+x',
      'al\u0000ice',
    ]) {
      expect(parseLoginName(bad), bad).toBeUndefined();
    }
  });

  it('reads-the-target-from-the-first-word-of-an-exec-command', () => {
    expect(parseExecIntent('web-1', undefined)).toEqual({ target: 'web-1', command: undefined });
    expect(parseExecIntent('web-1 uptime -p', undefined)).toEqual({
      target: 'web-1',
      command: 'uptime -p',
    });
    expect(parseExecIntent('  web-1   ', undefined)).toEqual({
      target: 'web-1',
      command: undefined,
    });
    expect(parseExecIntent('rm -rf /', undefined)).toEqual({ target: 'rm', command: '-rf /' });
    expect(parseExecIntent('$(reboot)', undefined)).toBeUndefined();
  });

  it('runs-the-whole-command-when-the-login-named-the-target', () => {
    expect(parseExecIntent("scp -t '/tmp/x'", 'web-1')).toEqual({
      target: 'web-1',
      command: "scp -t '/tmp/x'",
    });
  });
});
