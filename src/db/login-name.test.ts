import { describe, expect, it } from 'vitest';
import { parseDbLogin } from './login-name.js';

describe('database login names', () => {
  it('user-hash-target-names-both', () => {
    expect(parseDbLogin('alice#orders-db')).toEqual({ user: 'alice', target: 'orders-db' });
    expect(parseDbLogin('alice#a#b')).toEqual({ user: 'alice', target: 'a#b' });
  });

  it('a-login-without-a-target-is-refused-on-the-shared-port', () => {
    expect(parseDbLogin('alice')).toBeUndefined();
    expect(parseDbLogin('alice#')).toBeUndefined();
    expect(parseDbLogin('#orders-db')).toBeUndefined();
  });

  it('a-dedicated-port-takes-the-plain-user-or-its-own-target-only', () => {
    expect(parseDbLogin('alice', { fixedTarget: 'orders-db' })).toEqual({
      user: 'alice',
      target: 'orders-db',
    });
    expect(parseDbLogin('alice#orders-db', { fixedTarget: 'orders-db' })).toEqual({
      user: 'alice',
      target: 'orders-db',
    });
    expect(parseDbLogin('alice#other', { fixedTarget: 'orders-db' })).toBeUndefined();
  });
});
