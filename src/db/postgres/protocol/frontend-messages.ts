import { FRONTEND } from './constants.js';
import { MessageWriter, PgProtocolError, WireReader } from './wire.js';

/** Query ('Q'): one or more SQL statements, simple protocol. */
export interface QueryMessage {
  readonly sql: string;
}

/** Parse ('P'): prepares `sql` as statement `name` ('' is the unnamed statement). */
export interface ParseMessage {
  readonly name: string;
  readonly sql: string;
  readonly paramTypes: readonly number[];
}

/** Bind ('B'): a portal from a prepared statement and parameter values. */
export interface BindMessage {
  readonly portal: string;
  readonly statement: string;
  /** Per parameter (or one for all, or none for all text): 0 text, 1 binary. */
  readonly paramFormats: readonly number[];
  /** Values; null is SQL NULL. */
  readonly params: readonly (Buffer | null)[];
  /** Parameter count the message announced (more than `params` when the body was cut). */
  readonly paramCount: number;
  readonly resultFormats: readonly number[];
  /** True when the body was cut before its end (only the first values are known). */
  readonly isTruncated: boolean;
}

/** Execute ('E'): runs a portal, at most `maxRows` rows (0: all). */
export interface ExecuteMessage {
  readonly portal: string;
  readonly maxRows: number;
}

/** Close ('C') or Describe ('D') of a prepared statement ('S') or portal ('P'). */
export interface TargetedMessage {
  readonly what: 'S' | 'P';
  readonly name: string;
}

/** SASLInitialResponse ('p' during SASL): the chosen mechanism and client-first-message. */
export interface SaslInitialResponse {
  readonly mechanism: string;
  /** undefined when the client sent no initial response (length -1). */
  readonly data: Buffer | undefined;
}

/** Parses a Query body. */
export function parseQuery(body: Buffer): QueryMessage {
  const r = new WireReader(body);
  const sql = r.cstring();
  r.end('Query');
  return { sql };
}

/** Parses a Parse body. */
export function parseParse(body: Buffer): ParseMessage {
  const r = new WireReader(body);
  const name = r.cstring();
  const sql = r.cstring();
  const count = r.int16();
  if (count < 0) throw new PgProtocolError('negative parameter type count');
  const paramTypes: number[] = [];
  for (let i = 0; i < count; i++) paramTypes.push(r.int32() >>> 0);
  r.end('Parse');
  return { name, sql, paramTypes };
}

/**
 * Parses a Bind body. With `isTruncated` (the relay kept only the first bytes of a large
 * message) it returns what the kept bytes hold instead of throwing at their end.
 */
export function parseBind(
  body: Buffer,
  options: { readonly isTruncated?: boolean } = {},
): BindMessage {
  const r = new WireReader(body);
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats = readInt16List(r);
  const paramCount = r.int16();
  if (paramCount < 0) throw new PgProtocolError('negative parameter count');
  const params: (Buffer | null)[] = [];
  try {
    for (let i = 0; i < paramCount; i++) {
      const length = r.int32();
      params.push(length === -1 ? null : r.bytes(length));
    }
    const resultFormats = readInt16List(r);
    r.end('Bind');
    return {
      portal,
      statement,
      paramFormats,
      params,
      paramCount,
      resultFormats,
      isTruncated: false,
    };
  } catch (err) {
    if (options.isTruncated !== true) throw err;
    return {
      portal,
      statement,
      paramFormats,
      params,
      paramCount,
      resultFormats: [],
      isTruncated: true,
    };
  }
}

/** Parses an Execute body. */
export function parseExecute(body: Buffer): ExecuteMessage {
  const r = new WireReader(body);
  const portal = r.cstring();
  const maxRows = r.int32();
  r.end('Execute');
  return { portal, maxRows };
}

/** Parses a Close or Describe body. */
export function parseTargeted(body: Buffer, what: 'Close' | 'Describe'): TargetedMessage {
  const r = new WireReader(body);
  const kind = String.fromCharCode(r.byte());
  if (kind !== 'S' && kind !== 'P') throw new PgProtocolError(`${what}: invalid target type`);
  const name = r.cstring();
  r.end(what);
  return { what: kind, name };
}

/** Parses a PasswordMessage body (cleartext password). */
export function parsePasswordMessage(body: Buffer): string {
  const r = new WireReader(body);
  const password = r.cstring();
  r.end('PasswordMessage');
  return password;
}

/** Parses a SASLInitialResponse body. */
export function parseSaslInitialResponse(body: Buffer): SaslInitialResponse {
  const r = new WireReader(body);
  const mechanism = r.cstring();
  const length = r.int32();
  const data = length === -1 ? undefined : r.bytes(length);
  r.end('SASLInitialResponse');
  return { mechanism, data };
}

/** Serializes a Query. */
export function serializeQuery(sql: string): Buffer {
  return new MessageWriter(FRONTEND.query).cstring(sql).build();
}

/** Serializes a Parse. */
export function serializeParse(message: {
  name?: string;
  sql: string;
  paramTypes?: readonly number[];
}): Buffer {
  const types = message.paramTypes ?? [];
  const w = new MessageWriter(FRONTEND.parse)
    .cstring(message.name ?? '')
    .cstring(message.sql)
    .int16(types.length);
  for (const oid of types) w.int32(oid);
  return w.build();
}

/** Serializes a Bind (text parameters unless `paramFormats` says otherwise). */
export function serializeBind(message: {
  portal?: string;
  statement?: string;
  params?: readonly (Buffer | string | null)[];
  paramFormats?: readonly number[];
  resultFormats?: readonly number[];
}): Buffer {
  const params = message.params ?? [];
  const formats = message.paramFormats ?? [];
  const results = message.resultFormats ?? [];
  const w = new MessageWriter(FRONTEND.bind)
    .cstring(message.portal ?? '')
    .cstring(message.statement ?? '');
  w.int16(formats.length);
  for (const f of formats) w.int16(f);
  w.int16(params.length);
  for (const p of params) {
    if (p === null) w.int32(-1);
    else {
      const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
      w.int32(bytes.length).bytes(bytes);
    }
  }
  w.int16(results.length);
  for (const f of results) w.int16(f);
  return w.build();
}

/** Serializes an Execute. */
export function serializeExecute(portal = '', maxRows = 0): Buffer {
  return new MessageWriter(FRONTEND.execute).cstring(portal).int32(maxRows).build();
}

/** Serializes a Describe. */
export function serializeDescribe(what: 'S' | 'P', name = ''): Buffer {
  return new MessageWriter(FRONTEND.describe).byte(what.charCodeAt(0)).cstring(name).build();
}

/** Serializes a Close. */
export function serializeClose(what: 'S' | 'P', name = ''): Buffer {
  return new MessageWriter(FRONTEND.close).byte(what.charCodeAt(0)).cstring(name).build();
}

/** Serializes Sync, Flush, Terminate or CopyDone (no body). */
export function serializeEmpty(type: number): Buffer {
  return new MessageWriter(type).build();
}

/** Serializes a CopyData. */
export function serializeCopyData(data: Uint8Array): Buffer {
  return new MessageWriter(FRONTEND.copyData).bytes(data).build();
}

/** Serializes a PasswordMessage; the caller zeroes `password` (the message holds a copy). */
export function serializePasswordMessage(password: Uint8Array): Buffer {
  return new MessageWriter(FRONTEND.password).bytes(password).byte(0).build();
}

/** Serializes a SASLInitialResponse. */
export function serializeSaslInitialResponse(mechanism: string, data: Uint8Array): Buffer {
  return new MessageWriter(FRONTEND.password)
    .cstring(mechanism)
    .int32(data.length)
    .bytes(data)
    .build();
}

/** Serializes a SASLResponse. */
export function serializeSaslResponse(data: Uint8Array): Buffer {
  return new MessageWriter(FRONTEND.password).bytes(data).build();
}

function readInt16List(r: WireReader): number[] {
  const count = r.int16();
  if (count < 0) throw new PgProtocolError('negative format count');
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(r.int16());
  return out;
}
