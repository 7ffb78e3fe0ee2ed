import { AUTH, BACKEND, type TransactionStatus } from './constants.js';
import type { CancelKey } from './startup.js';
import { MessageWriter, PgProtocolError, WireReader } from './wire.js';

/** An Authentication request ('R'), by its code. */
export type AuthenticationRequest =
  | { readonly kind: 'ok' }
  | { readonly kind: 'cleartext-password' }
  | { readonly kind: 'md5-password'; readonly salt: Buffer }
  | { readonly kind: 'sasl'; readonly mechanisms: readonly string[] }
  | { readonly kind: 'sasl-continue'; readonly data: Buffer }
  | { readonly kind: 'sasl-final'; readonly data: Buffer }
  | { readonly kind: 'unsupported'; readonly code: number };

/** ErrorResponse / NoticeResponse fields by code letter (`C` SQLSTATE, `M` message, …). */
export type ErrorFields = ReadonlyMap<string, string>;

/** Parses an Authentication body. */
export function parseAuthentication(body: Buffer): AuthenticationRequest {
  const r = new WireReader(body);
  const code = r.int32();
  switch (code) {
    case AUTH.ok:
      r.end('AuthenticationOk');
      return { kind: 'ok' };
    case AUTH.cleartextPassword:
      r.end('AuthenticationCleartextPassword');
      return { kind: 'cleartext-password' };
    case AUTH.md5Password: {
      const salt = r.bytes(4);
      r.end('AuthenticationMD5Password');
      return { kind: 'md5-password', salt };
    }
    case AUTH.sasl: {
      const mechanisms: string[] = [];
      for (;;) {
        const name = r.cstring();
        if (name === '') break;
        mechanisms.push(name);
      }
      r.end('AuthenticationSASL');
      return { kind: 'sasl', mechanisms };
    }
    case AUTH.saslContinue:
      return { kind: 'sasl-continue', data: r.rest() };
    case AUTH.saslFinal:
      return { kind: 'sasl-final', data: r.rest() };
    default:
      return { kind: 'unsupported', code };
  }
}

/** Parses a ParameterStatus body: `[name, value]`. */
export function parseParameterStatus(body: Buffer): readonly [string, string] {
  const r = new WireReader(body);
  const name = r.cstring();
  const value = r.cstring();
  r.end('ParameterStatus');
  return [name, value];
}

/** Parses a BackendKeyData body (protocol 3.0: a 4-byte secret). */
export function parseBackendKeyData(body: Buffer): CancelKey {
  const r = new WireReader(body);
  const pid = r.int32();
  const secret = r.int32();
  r.end('BackendKeyData');
  return { pid, secret };
}

/** Parses a ReadyForQuery body. */
export function parseReadyForQuery(body: Buffer): TransactionStatus {
  const r = new WireReader(body);
  const status = String.fromCharCode(r.byte());
  r.end('ReadyForQuery');
  if (status !== 'I' && status !== 'T' && status !== 'E')
    throw new PgProtocolError('invalid transaction status');
  return status;
}

/**
 * Parses an ErrorResponse or NoticeResponse body. With `isTruncated` (only the first bytes
 * were kept) the fields complete so far are returned.
 */
export function parseErrorFields(
  body: Buffer,
  options: { readonly isTruncated?: boolean } = {},
): ErrorFields {
  const r = new WireReader(body);
  const fields = new Map<string, string>();
  try {
    for (;;) {
      const code = r.byte();
      if (code === 0) break;
      fields.set(String.fromCharCode(code), r.cstring());
    }
  } catch (err) {
    if (options.isTruncated !== true) throw err;
  }
  return fields;
}

/** Parses a CommandComplete body: the command tag, e.g. `SELECT 5`, `INSERT 0 1`. */
export function parseCommandComplete(body: Buffer): string {
  const r = new WireReader(body);
  const tag = r.cstring();
  r.end('CommandComplete');
  return tag;
}

/** Parses a NegotiateProtocolVersion body. */
export function parseNegotiateProtocolVersion(body: Buffer): {
  readonly version: number;
  readonly unsupported: readonly string[];
} {
  const r = new WireReader(body);
  const version = r.int32();
  const count = r.int32();
  if (count < 0) throw new PgProtocolError('negative option count');
  const unsupported: string[] = [];
  for (let i = 0; i < count; i++) unsupported.push(r.cstring());
  r.end('NegotiateProtocolVersion');
  return { version, unsupported };
}

/** Serializes AuthenticationOk. */
export function serializeAuthenticationOk(): Buffer {
  return new MessageWriter(BACKEND.authentication).int32(AUTH.ok).build();
}

/** Serializes AuthenticationCleartextPassword. */
export function serializeAuthenticationCleartext(): Buffer {
  return new MessageWriter(BACKEND.authentication).int32(AUTH.cleartextPassword).build();
}

/** Serializes AuthenticationMD5Password. */
export function serializeAuthenticationMd5(salt: Buffer): Buffer {
  return new MessageWriter(BACKEND.authentication).int32(AUTH.md5Password).bytes(salt).build();
}

/** Serializes AuthenticationSASL listing `mechanisms`. */
export function serializeAuthenticationSasl(mechanisms: readonly string[]): Buffer {
  const w = new MessageWriter(BACKEND.authentication).int32(AUTH.sasl);
  for (const m of mechanisms) w.cstring(m);
  return w.byte(0).build();
}

/** Serializes AuthenticationSASLContinue. */
export function serializeAuthenticationSaslContinue(data: Uint8Array): Buffer {
  return new MessageWriter(BACKEND.authentication).int32(AUTH.saslContinue).bytes(data).build();
}

/** Serializes AuthenticationSASLFinal. */
export function serializeAuthenticationSaslFinal(data: Uint8Array): Buffer {
  return new MessageWriter(BACKEND.authentication).int32(AUTH.saslFinal).bytes(data).build();
}

/** Serializes ParameterStatus. */
export function serializeParameterStatus(name: string, value: string): Buffer {
  return new MessageWriter(BACKEND.parameterStatus).cstring(name).cstring(value).build();
}

/** Serializes BackendKeyData. */
export function serializeBackendKeyData(key: CancelKey): Buffer {
  return new MessageWriter(BACKEND.backendKeyData).int32(key.pid).int32(key.secret).build();
}

/** Serializes ReadyForQuery. */
export function serializeReadyForQuery(status: TransactionStatus): Buffer {
  return new MessageWriter(BACKEND.readyForQuery).byte(status.charCodeAt(0)).build();
}

/** Serializes an ErrorResponse (or, with `type` 'N', a NoticeResponse) from field letters to values. */
export function serializeErrorResponse(
  fields: Iterable<readonly [string, string]>,
  type: number = BACKEND.errorResponse,
): Buffer {
  const w = new MessageWriter(type);
  for (const [code, value] of fields) {
    if (code.length !== 1) throw new PgProtocolError(`invalid error field code "${code}"`);
    w.byte(code.charCodeAt(0)).cstring(value);
  }
  return w.byte(0).build();
}

/** Serializes NegotiateProtocolVersion: the version the server speaks and the `_pq_.` options it ignores. */
export function serializeNegotiateProtocolVersion(
  version: number,
  unsupported: readonly string[],
): Buffer {
  const w = new MessageWriter(BACKEND.negotiateProtocolVersion)
    .int32(version)
    .int32(unsupported.length);
  for (const option of unsupported) w.cstring(option);
  return w.build();
}

/** Serializes a CommandComplete. */
export function serializeCommandComplete(tag: string): Buffer {
  return new MessageWriter(BACKEND.commandComplete).cstring(tag).build();
}

/** Serializes a message with no body (ParseComplete, BindComplete, NoData, …). */
export function serializeBackendEmpty(type: number): Buffer {
  return new MessageWriter(type).build();
}

/** Serializes a DataRow of text values (null is SQL NULL). */
export function serializeDataRow(values: readonly (string | null)[]): Buffer {
  const w = new MessageWriter(BACKEND.dataRow).int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else {
      const b = Buffer.from(v, 'utf8');
      w.int32(b.length).bytes(b);
    }
  }
  return w.build();
}
