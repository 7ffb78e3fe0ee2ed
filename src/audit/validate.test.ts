import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/canonical-json.js';
import { GatehouseError } from '../core/errors.js';
import { validateAuditEvent } from './validate.js';

function dataOf(data: Record<string, unknown>): string {
  return validateAuditEvent({ type: 'db.query', data }).data;
}

describe('validateAuditEvent', () => {
  it.each([
    [
      'a statement',
      {
        protocol: 'postgres',
        mode: 'simple',
        sql: "SELECT 'é\"\\\n' -- \u2028",
        fingerprint: null,
        durationMs: 0.125,
        rows: 1,
        commands: ['SELECT 1'],
        status: 'ok',
      },
    ],
    [
      'nesting, arrays and odd numbers',
      { b: [1, -0, 1e21, 2.5e-7, [true, false, null]], a: { z: {}, y: [], x: { w: 'v' } } },
    ],
    ['keys that are array indices', { '10': 1, '2': 2, a: 3, '01': 4, '1e3': 5 }],
    ['undefined members', { a: undefined, b: 1, c: { d: undefined } }],
    ['keys needing escapes', { 'k"\\': 1, é: 2, '\u0001': 3, '': 4 }],
    ['a __proto__ key', JSON.parse('{"__proto__":{"x":1},"a":1}') as Record<string, unknown>],
    [
      'a null-prototype object',
      Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: 2 }),
    ],
  ])('stores-data-as-canonical-json: %s', (_name, data) => {
    expect(dataOf(data)).toBe(canonicalJson(data));
  });

  it.each([
    ['a secret-looking key', { newPassword: 'x' }, /data\.newPassword looks like a secret/],
    [
      'a nested secret-looking key',
      { a: [{ apiKey: 'x' }] },
      /data\.a\[0\]\.apiKey looks like a secret/,
    ],
    [
      'a private key',
      { a: ['-----BEGIN OPENSSH PRIVATE KEY-----'] },
      /data\.a\[0\] holds a private key/,
    ],
    ['a non-finite number', { a: { b: Number.NaN } }, /data\.a\.b is not a finite number/],
    ['an undefined array item', { a: [1, undefined] }, /data\.a\[1\] is undefined/],
    ['a Date', { a: new Date(0) }, /data\.a is not a JSON value/],
    [
      'deep nesting',
      { a: JSON.parse(`${'['.repeat(20)}${']'.repeat(20)}`) as unknown },
      /nested too deeply/,
    ],
  ])('refuses-what-is-not-json-or-looks-secret: %s', (_name, data, message) => {
    let caught: unknown;
    try {
      dataOf(data);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GatehouseError);
    expect((caught as GatehouseError).detail).toMatch(message);
  });

  it('a-secret-looking-key-with-a-non-string-value-is-allowed', () => {
    expect(dataOf({ tokenId: 'tok_1', hasPassword: true, password: 3 })).toBe(
      '{"hasPassword":true,"password":3,"tokenId":"tok_1"}',
    );
  });

  it('a-key-remembered-from-an-allowed-use-still-refuses-a-secret-string', () => {
    // What is known of a key is remembered across events; the verdict still depends on the value.
    expect(dataOf({ apiKey: 1, 'x"y': 2 })).toBe('{"apiKey":1,"x\\"y":2}');
    expect(() => dataOf({ apiKey: 'k-123' })).toThrow(
      expect.objectContaining({ detail: expect.stringMatching(/apiKey looks like a secret/) }),
    );
    expect(dataOf({ 'x"y': 'z' })).toBe('{"x\\"y":"z"}');
  });
});
