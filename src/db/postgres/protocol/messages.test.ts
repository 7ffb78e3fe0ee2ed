import { describe, expect, it } from 'vitest';
import {
  parseAuthentication,
  parseBackendKeyData,
  parseCommandComplete,
  parseErrorFields,
  parseNegotiateProtocolVersion,
  parseParameterStatus,
  parseReadyForQuery,
  serializeAuthenticationSasl,
  serializeAuthenticationSaslContinue,
  serializeBackendKeyData,
  serializeErrorResponse,
  serializeNegotiateProtocolVersion,
  serializeParameterStatus,
  serializeReadyForQuery,
} from './backend-messages.js';
import {
  parseBind,
  parseExecute,
  parseParse,
  parsePasswordMessage,
  parseQuery,
  parseSaslInitialResponse,
  parseTargeted,
  serializeBind,
  serializeExecute,
  serializeParse,
  serializePasswordMessage,
  serializeQuery,
  serializeSaslInitialResponse,
  serializeSaslResponse,
} from './frontend-messages.js';
import { cstr, int16, int32, msg } from './testing/test-buffers.js';
import { PgProtocolError } from './wire.js';

const bodyOf = (m: Buffer): Buffer => m.subarray(5);

describe('frontend messages', () => {
  it('query-round-trips', () => {
    const bytes = msg('Q', cstr('select 1'));
    expect(parseQuery(bodyOf(bytes))).toEqual({ sql: 'select 1' });
    expect(serializeQuery('select 1')).toEqual(bytes);
  });

  it('parse-carries-name-sql-and-parameter-types', () => {
    const bytes = msg('P', cstr('s1'), cstr('select $1::int'), int16(1), int32(23));
    expect(parseParse(bodyOf(bytes))).toEqual({
      name: 's1',
      sql: 'select $1::int',
      paramTypes: [23],
    });
    expect(serializeParse({ name: 's1', sql: 'select $1::int', paramTypes: [23] })).toEqual(bytes);
  });

  it('bind-carries-null-text-and-binary-values', () => {
    const bytes = msg(
      'B',
      cstr('p'),
      cstr('s1'),
      int16(2),
      int16(0),
      int16(1),
      int16(3),
      int32(2),
      Buffer.from('42'),
      int32(-1),
      int32(4),
      int32(7),
      int16(1),
      int16(1),
    );
    const bind = parseBind(bodyOf(bytes));
    expect(bind).toMatchObject({
      portal: 'p',
      statement: 's1',
      paramFormats: [0, 1],
      paramCount: 3,
      resultFormats: [1],
      isTruncated: false,
    });
    expect(bind.params).toEqual([Buffer.from('42'), null, int32(7)]);
    expect(
      serializeBind({
        portal: 'p',
        statement: 's1',
        paramFormats: [0, 1],
        params: ['42', null, int32(7)],
        resultFormats: [1],
      }),
    ).toEqual(bytes);
  });

  it('bind-cut-short-gives-the-values-it-holds-only-when-told-it-was-cut', () => {
    const full = bodyOf(
      msg(
        'B',
        cstr(''),
        cstr(''),
        int16(0),
        int16(2),
        int32(3),
        Buffer.from('abc'),
        int32(5),
        Buffer.from('defgh'),
        int16(0),
      ),
    );
    const kept = full.subarray(0, full.length - 6);
    expect(() => parseBind(kept)).toThrow(PgProtocolError);
    const bind = parseBind(kept, { isTruncated: true });
    expect(bind.isTruncated).toBe(true);
    expect(bind.paramCount).toBe(2);
    expect(bind.params).toEqual([Buffer.from('abc')]);
  });

  it('execute-close-and-describe-parse', () => {
    expect(parseExecute(bodyOf(msg('E', cstr('portal'), int32(100))))).toEqual({
      portal: 'portal',
      maxRows: 100,
    });
    expect(serializeExecute('portal', 100)).toEqual(msg('E', cstr('portal'), int32(100)));
    expect(parseTargeted(bodyOf(msg('C', Buffer.from('S'), cstr('s1'))), 'Close')).toEqual({
      what: 'S',
      name: 's1',
    });
    expect(() => parseTargeted(bodyOf(msg('D', Buffer.from('X'), cstr(''))), 'Describe')).toThrow(
      PgProtocolError,
    );
  });

  it('password-and-sasl-messages-parse', () => {
    expect(parsePasswordMessage(bodyOf(msg('p', cstr('secret'))))).toBe('secret');
    expect(serializePasswordMessage(Buffer.from('secret'))).toEqual(msg('p', cstr('secret')));
    const initial = msg('p', cstr('SCRAM-SHA-256'), int32(5), Buffer.from('n,,n='));
    expect(parseSaslInitialResponse(bodyOf(initial))).toEqual({
      mechanism: 'SCRAM-SHA-256',
      data: Buffer.from('n,,n='),
    });
    expect(serializeSaslInitialResponse('SCRAM-SHA-256', Buffer.from('n,,n='))).toEqual(initial);
    expect(parseSaslInitialResponse(bodyOf(msg('p', cstr('SCRAM-SHA-256'), int32(-1))))).toEqual({
      mechanism: 'SCRAM-SHA-256',
      data: undefined,
    });
    expect(serializeSaslResponse(Buffer.from('c=biws'))).toEqual(msg('p', Buffer.from('c=biws')));
  });

  it('lengths-pointing-past-the-body-are-refused', () => {
    expect(() =>
      parseSaslInitialResponse(
        bodyOf(msg('p', cstr('SCRAM-SHA-256'), int32(500), Buffer.from('x'))),
      ),
    ).toThrow(PgProtocolError);
    expect(() => parseQuery(Buffer.from('no terminator'))).toThrow(PgProtocolError);
    expect(() => parseQuery(Buffer.concat([cstr('a'), Buffer.from('junk')]))).toThrow(/trailing/);
  });

  it('strings-with-nul-cannot-be-serialized', () => {
    expect(() => serializeQuery('select 1\0; drop table t')).toThrow(PgProtocolError);
  });
});

describe('backend messages', () => {
  it('authentication-requests-parse', () => {
    expect(parseAuthentication(bodyOf(msg('R', int32(0))))).toEqual({ kind: 'ok' });
    expect(parseAuthentication(bodyOf(msg('R', int32(3))))).toEqual({ kind: 'cleartext-password' });
    expect(parseAuthentication(bodyOf(msg('R', int32(5), Buffer.from('salt'))))).toEqual({
      kind: 'md5-password',
      salt: Buffer.from('salt'),
    });
    const sasl = msg(
      'R',
      int32(10),
      cstr('SCRAM-SHA-256-PLUS'),
      cstr('SCRAM-SHA-256'),
      Buffer.of(0),
    );
    expect(parseAuthentication(bodyOf(sasl))).toEqual({
      kind: 'sasl',
      mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
    });
    expect(serializeAuthenticationSasl(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'])).toEqual(sasl);
    expect(serializeAuthenticationSaslContinue(Buffer.from('r=x'))).toEqual(
      msg('R', int32(11), Buffer.from('r=x')),
    );
    expect(parseAuthentication(bodyOf(msg('R', int32(12), Buffer.from('v=abc'))))).toEqual({
      kind: 'sasl-final',
      data: Buffer.from('v=abc'),
    });
    expect(parseAuthentication(bodyOf(msg('R', int32(7))))).toEqual({
      kind: 'unsupported',
      code: 7,
    });
  });

  it('parameter-status-key-data-and-ready-round-trip', () => {
    const status = msg('S', cstr('server_version'), cstr('15.4'));
    expect(parseParameterStatus(bodyOf(status))).toEqual(['server_version', '15.4']);
    expect(serializeParameterStatus('server_version', '15.4')).toEqual(status);
    const key = msg('K', int32(77), int32(-5));
    expect(parseBackendKeyData(bodyOf(key))).toEqual({ pid: 77, secret: -5 });
    expect(serializeBackendKeyData({ pid: 77, secret: -5 })).toEqual(key);
    expect(serializeReadyForQuery('T')).toEqual(msg('Z', Buffer.from('T')));
    expect(parseReadyForQuery(Buffer.from('E'))).toBe('E');
    expect(() => parseReadyForQuery(Buffer.from('X'))).toThrow(PgProtocolError);
  });

  it('error-response-fields-round-trip-and-survive-a-cut', () => {
    const bytes = msg(
      'E',
      Buffer.from('S'),
      cstr('FATAL'),
      Buffer.from('C'),
      cstr('28P01'),
      Buffer.from('M'),
      cstr('password authentication failed'),
      Buffer.of(0),
    );
    const fields = parseErrorFields(bodyOf(bytes));
    expect(Object.fromEntries(fields)).toEqual({
      S: 'FATAL',
      C: '28P01',
      M: 'password authentication failed',
    });
    expect(serializeErrorResponse(fields)).toEqual(bytes);
    const cut = bodyOf(bytes).subarray(0, 14);
    expect(Object.fromEntries(parseErrorFields(cut, { isTruncated: true }))).toEqual({
      S: 'FATAL',
      C: '28P01',
    });
  });

  it('command-complete-and-negotiate-parse', () => {
    expect(parseCommandComplete(cstr('INSERT 0 3'))).toBe('INSERT 0 3');
    const negotiate = msg('v', int32(196608), int32(1), cstr('_pq_.compression'));
    expect(parseNegotiateProtocolVersion(bodyOf(negotiate))).toEqual({
      version: 196608,
      unsupported: ['_pq_.compression'],
    });
    expect(serializeNegotiateProtocolVersion(196608, ['_pq_.compression'])).toEqual(negotiate);
  });
});
