import { describe, expect, it } from 'vitest';
import { authorize, isGrantActive } from './authorize.js';
import { DEFAULT_TARGET_OPTIONS, type Grant, type Target, type User } from './types.js';

const T0 = 1_800_000_000_000;
const alice: User = {
  id: 'u1',
  name: 'alice',
  roles: ['user', 'dba'],
  isDisabled: false,
  hasTotp: false,
  createdAt: 0,
};
const web1: Target = {
  id: 't1',
  name: 'web-1',
  kind: 'ssh',
  host: '127.0.0.1',
  port: 22,
  username: 'deploy',
  database: null,
  labels: { env: 'prod' },
  options: DEFAULT_TARGET_OPTIONS,
  hostKey: null,
  createdAt: 0,
};
function grant(over: Partial<Grant>): Grant {
  return {
    id: 'g',
    subject: { kind: 'user', name: 'alice' },
    scope: { kind: 'target', name: 'web-1' },
    expiresAt: null,
    reason: null,
    createdBy: 'admin',
    createdAt: T0 - 1000,
    revokedAt: null,
    revokedBy: null,
    ...over,
  };
}

describe('authorize', () => {
  it('allows-a-direct-grant-by-target-name', () => {
    const d = authorize(alice, web1, { at: T0, grants: [grant({})] });
    expect(d.isAllowed).toBe(true);
  });

  it('denies-without-any-grant', () => {
    expect(authorize(alice, web1, { at: T0, grants: [] })).toEqual({
      isAllowed: false,
      reason: 'no-grant',
    });
  });

  it('expiry-is-exclusive-allowed-one-ms-before-denied-at-the-instant', () => {
    const g = grant({ expiresAt: T0 });
    expect(authorize(alice, web1, { at: T0 - 1, grants: [g] }).isAllowed).toBe(true);
    expect(authorize(alice, web1, { at: T0, grants: [g] }).isAllowed).toBe(false);
  });

  it('a-revoked-grant-stops-counting-from-its-revocation', () => {
    const g = grant({ revokedAt: T0 });
    expect(isGrantActive(g, T0 - 1)).toBe(true);
    expect(authorize(alice, web1, { at: T0, grants: [g] }).isAllowed).toBe(false);
  });

  it('a-denial-says-whether-the-covering-grant-expired-or-was-revoked', () => {
    expect(authorize(alice, web1, { at: T0, grants: [grant({ expiresAt: T0 })] })).toEqual({
      isAllowed: false,
      reason: 'grant-expired',
    });
    expect(authorize(alice, web1, { at: T0, grants: [grant({ revokedAt: T0 - 5 })] })).toEqual({
      isAllowed: false,
      reason: 'grant-revoked',
    });
    // The grant that ended last explains the denial; one revoked after it expired had expired.
    const expiredLater = [grant({ revokedAt: T0 - 20 }), grant({ expiresAt: T0 - 10 })];
    expect(authorize(alice, web1, { at: T0, grants: expiredLater })).toEqual({
      isAllowed: false,
      reason: 'grant-expired',
    });
    const revokedLater = [grant({ revokedAt: T0 - 10 }), grant({ expiresAt: T0 - 20 })];
    expect(authorize(alice, web1, { at: T0, grants: revokedLater })).toEqual({
      isAllowed: false,
      reason: 'grant-revoked',
    });
    expect(
      authorize(alice, web1, {
        at: T0,
        grants: [grant({ expiresAt: T0 - 20, revokedAt: T0 - 10 })],
      }),
    ).toEqual({ isAllowed: false, reason: 'grant-expired' });
    // Ended grants for someone else or another target, or one not started yet, explain nothing.
    const unrelated = [
      grant({ subject: { kind: 'user', name: 'bob' }, revokedAt: T0 - 1 }),
      grant({ scope: { kind: 'target', name: 'db-1' }, expiresAt: T0 - 1 }),
      grant({ createdAt: T0 + 1 }),
    ];
    expect(authorize(alice, web1, { at: T0, grants: unrelated })).toEqual({
      isAllowed: false,
      reason: 'no-grant',
    });
    // A disabled user is denied as disabled, whatever the grants.
    expect(
      authorize({ ...alice, isDisabled: true }, web1, {
        at: T0,
        grants: [grant({ expiresAt: T0 })],
      }),
    ).toEqual({ isAllowed: false, reason: 'user-disabled' });
  });

  it('a-disabled-user-is-denied-even-with-a-grant', () => {
    const d = authorize({ ...alice, isDisabled: true }, web1, { at: T0, grants: [grant({})] });
    expect(d).toEqual({ isAllowed: false, reason: 'user-disabled' });
  });

  it('a-label-grant-covers-targets-with-that-label-only', () => {
    const g = grant({ scope: { kind: 'label', key: 'env', value: 'prod' } });
    expect(authorize(alice, web1, { at: T0, grants: [g] }).isAllowed).toBe(true);
    const staging = { ...web1, name: 'web-2', labels: { env: 'staging' } };
    expect(authorize(alice, staging, { at: T0, grants: [g] }).isAllowed).toBe(false);
  });

  it('a-role-grant-covers-members-of-the-role-only', () => {
    const g = grant({ subject: { kind: 'role', name: 'dba' } });
    expect(authorize(alice, web1, { at: T0, grants: [g] }).isAllowed).toBe(true);
    expect(authorize({ ...alice, roles: ['user'] }, web1, { at: T0, grants: [g] }).isAllowed).toBe(
      false,
    );
  });

  it('a-grant-for-another-user-or-target-does-not-apply', () => {
    const other = grant({ subject: { kind: 'user', name: 'bob' } });
    const elsewhere = grant({ scope: { kind: 'target', name: 'db-1' } });
    expect(authorize(alice, web1, { at: T0, grants: [other, elsewhere] }).isAllowed).toBe(false);
  });

  it('picks-the-longest-lasting-matching-grant', () => {
    const short = grant({ id: 'short', expiresAt: T0 + 1000 });
    const forever = grant({ id: 'forever' });
    const d = authorize(alice, web1, { at: T0, grants: [short, forever] });
    expect(d.isAllowed && d.grant.id).toBe('forever');
  });
});
