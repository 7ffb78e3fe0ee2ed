import { describe, expect, it } from 'vitest';
import { isGatehouseError } from '../core/errors.js';
import { hashPassword, MAX_PASSWORD_BYTES, needsRehash, verifyPasswordHash } from './passwords.js';

describe('password hashes', () => {
  it('hash-is-self-describing-scrypt-and-verifies', async () => {
    const stored = await hashPassword('correct horse');
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(await verifyPasswordHash('correct horse', stored)).toBe(true);
    expect(await verifyPasswordHash('correct horsf', stored)).toBe(false);
  });

  it('same-password-gets-a-fresh-salt-each-time', async () => {
    const [a, b] = await Promise.all([hashPassword('pw'), hashPassword('pw')]);
    expect(a).not.toBe(b);
  });

  it('unicode-password-verifies-in-either-normal-form', async () => {
    const stored = await hashPassword('caf\u00e9');
    expect(await verifyPasswordHash('cafe\u0301', stored)).toBe(true);
  });

  it('malformed-or-tampered-hash-never-verifies', async () => {
    const stored = await hashPassword('pw');
    const parts = stored.split('$');
    for (const bad of [
      '',
      'plain',
      `bcrypt$${parts.slice(1).join('$')}`,
      ['scrypt', '1048577', ...parts.slice(2)].join('$'), // N not a power of two
      ['scrypt', String(2 ** 21), ...parts.slice(2)].join('$'), // N above the bound
      ['scrypt', parts[1], '8', '1', parts[4], 'AAAA'].join('$'), // truncated hash
    ]) {
      expect(await verifyPasswordHash('pw', bad)).toBe(false);
    }
  });

  it('empty-and-overlong-passwords-are-refused', async () => {
    await expect(hashPassword('')).rejects.toSatisfy((e) =>
      isGatehouseError(e, 'GH_INVALID_ARGUMENT'),
    );
    const long = 'x'.repeat(MAX_PASSWORD_BYTES + 1);
    await expect(hashPassword(long)).rejects.toSatisfy((e) =>
      isGatehouseError(e, 'GH_INVALID_ARGUMENT'),
    );
    expect(await verifyPasswordHash(long, await hashPassword('pw'))).toBe(false);
  });

  it('hash-with-other-params-needs-rehash', async () => {
    const weak = await hashPassword('pw', { N: 2 ** 10, r: 8, p: 1 });
    expect(await verifyPasswordHash('pw', weak)).toBe(true);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(await hashPassword('pw'))).toBe(false);
  });
});
