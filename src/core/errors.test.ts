import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ERROR_CATALOGUE,
  forGatewayClient,
  GatehouseError,
  namingTarget,
  toGatehouseError,
} from './errors.js';

describe('error catalogue', () => {
  it('every-code-is-documented-with-its-message-in-docs-errors-md-and-nothing-else', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `(GH_[A-Z_]+)` *\| ([^|]+) \|/gm)].map((m) => [
      m[1],
      m[2]?.trim(),
    ]);
    const documented = new Map(rows as [string, string][]);
    for (const [code, spec] of Object.entries(ERROR_CATALOGUE)) {
      expect(documented.get(code), `${code} missing from docs/errors.md`).toBe(spec.message);
    }
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERROR_CATALOGUE).sort());
  });

  it('messages-follow-the-style-lower-case-without-final-period', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOGUE)) {
      expect(spec.message, code).toMatch(/^[a-z]/);
      expect(spec.message, code).not.toMatch(/\.$/);
    }
  });

  it('public-fields-never-include-the-detail', () => {
    const err = new GatehouseError('GH_ACCESS_DENIED', { detail: 'alice -> db: secret-reason' });
    expect(JSON.stringify(err.toPublic())).not.toContain('secret-reason');
    const unexpected = toGatehouseError(new Error('boom at /internal/path'));
    expect(unexpected.code).toBe('GH_INTERNAL');
    expect(unexpected.toPublic().message).toBe('internal error');
  });

  it('upstream-errors-name-the-target-and-keep-code-hint-and-detail', () => {
    const named = namingTarget(
      new GatehouseError('GH_UPSTREAM_UNREACHABLE', { detail: '127.0.0.1:1: refused' }),
      'web-1',
    );
    expect(named.toPublic()).toEqual({
      code: 'GH_UPSTREAM_UNREACHABLE',
      message: 'target "web-1" cannot be reached',
      hint: ERROR_CATALOGUE.GH_UPSTREAM_UNREACHABLE.hint,
    });
    expect(named.detail).toBe('127.0.0.1:1: refused');
    const other = new GatehouseError('GH_ACCESS_DENIED');
    expect(namingTarget(other, 'web-1')).toBe(other);
  });

  it('a-store-outage-reaches-a-gateway-client-as-temporarily-unavailable-without-the-operator-hint', () => {
    const store = new GatehouseError('GH_STORE_UNAVAILABLE', { detail: 'SQLITE_BUSY: locked' });
    const audit = new GatehouseError('GH_AUDIT_WRITE_FAILED', {
      detail: 'auth.success',
      cause: store,
    });
    for (const err of [store, audit]) {
      const shown = forGatewayClient(err);
      expect(shown.toPublic()).toEqual({
        code: 'GH_SERVICE_UNAVAILABLE',
        message: 'sign-in is temporarily unavailable',
        hint: "try again shortly (the reason is in Gatehouse's log)",
      });
      expect(shown.detail).toContain(err.code);
    }
    // A wrong password, or an audit failure of another kind, is not an outage.
    const denied = new GatehouseError('GH_AUTH_FAILED');
    expect(forGatewayClient(denied)).toBe(denied);
    const invalid = new GatehouseError('GH_AUDIT_WRITE_FAILED', { detail: 'invalid event' });
    expect(forGatewayClient(invalid)).toBe(invalid);
  });
});
