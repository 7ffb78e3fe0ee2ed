import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, GatehouseError, namingTarget, toGatehouseError } from './errors.js';

describe('error catalogue', () => {
  it('every-code-is-documented-with-its-message-in-docs-errors-md-and-nothing-else', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `(GH_[A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => [
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
});
