/**
 * Decodes the parameters of a COM_STMT_EXECUTE for the audit trail (dev.mysql.com
 * "COM_STMT_EXECUTE", "Binary Protocol Value"). Works on the head of the packet: values past it
 * are reported as not captured. Never used to change what is relayed.
 */
import { FieldType } from './constants.js';
import { PayloadReader } from './wire.js';

/** An audit-friendly parameter value: numbers, text (cut), or a `<…>` description. */
export type ParamValue = null | number | string;

/** Limits of {@link decodeExecuteParams}. */
export interface DecodeParamsOptions {
  /** Parameters of the statement (from COM_STMT_PREPARE_OK). */
  readonly numParams: number;
  /** Types bound by an earlier execute (sent again only when they change). */
  readonly previousTypes?: Buffer | undefined;
  /** Parameters whose value came with COM_STMT_SEND_LONG_DATA: index → bytes sent. */
  readonly longData?: ReadonlyMap<number, number> | undefined;
  /** Longest text kept per value (characters). */
  readonly maxValueChars?: number;
  /** Most values decoded. */
  readonly maxParams?: number;
}

/** What {@link decodeExecuteParams} found. */
export interface DecodedParams {
  /** One per parameter, up to `maxParams`. */
  readonly values: ParamValue[];
  /** The bound types (2 bytes per parameter; a copy), to decode later executes that omit them. */
  readonly types: Buffer | undefined;
  /** True when some values were not captured (head too short, limits, unknown type). */
  readonly isTruncated: boolean;
}

const DEFAULT_MAX_VALUE_CHARS = 256;
const DEFAULT_MAX_PARAMS = 100;
/** COM_STMT_EXECUTE header: command(1) stmt_id(4) flags(1) iteration_count(4). */
const EXECUTE_HEADER_BYTES = 10;
const UNSIGNED_FLAG = 0x80;
const NOT_CAPTURED = '<not captured>';
/** A value that runs past the head. */
const CUT: { readonly value: ParamValue; readonly isWhole: boolean } = {
  value: NOT_CAPTURED,
  isWhole: false,
};
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Decodes the parameter values of a COM_STMT_EXECUTE head. Never throws: what does not decode
 * (a malformed packet is the server's to refuse) is reported as not captured.
 */
export function decodeExecuteParams(head: Buffer, options: DecodeParamsOptions): DecodedParams {
  try {
    return decodeParams(head, options);
  } catch {
    return { values: [], types: undefined, isTruncated: true };
  }
}

function decodeParams(head: Buffer, options: DecodeParamsOptions): DecodedParams {
  const n = options.numParams;
  const maxParams = options.maxParams ?? DEFAULT_MAX_PARAMS;
  const maxChars = options.maxValueChars ?? DEFAULT_MAX_VALUE_CHARS;
  if (n === 0) return { values: [], types: undefined, isTruncated: false };
  const r = new PayloadReader(head, EXECUTE_HEADER_BYTES);
  const values: ParamValue[] = [];
  let types: Buffer | undefined;
  const bitmapBytes = (n + 7) >> 3;
  if (r.remaining < bitmapBytes + 1) return { values, types: undefined, isTruncated: true };
  const bitmapAt = r.position;
  r.skip(bitmapBytes);
  const isNewBound = r.u8() === 1;
  if (isNewBound) {
    if (r.remaining < 2 * n) return { values, types: undefined, isTruncated: true };
    const bound = r.bytes(2 * n);
    // Drivers bind again with the same types (every execute, for some): keep the copy we have.
    types =
      options.previousTypes !== undefined && options.previousTypes.equals(bound)
        ? options.previousTypes
        : Buffer.from(bound);
  } else if (options.previousTypes !== undefined && options.previousTypes.length === 2 * n) {
    types = options.previousTypes;
  }
  if (types === undefined) return { values, types, isTruncated: true };
  let isTruncated = n > maxParams;
  for (let i = 0; i < Math.min(n, maxParams); i += 1) {
    if (((head[bitmapAt + (i >> 3)] ?? 0) & (1 << (i & 7))) !== 0) {
      values.push(null);
      continue;
    }
    const longData = options.longData?.get(i);
    if (longData !== undefined) {
      values.push(`<long data ${longData} bytes>`);
      continue;
    }
    const value = readValue(
      r,
      types.readUInt8(2 * i),
      (types.readUInt8(2 * i + 1) & UNSIGNED_FLAG) !== 0,
      maxChars,
    );
    if (value === undefined) {
      isTruncated = true;
      break;
    }
    values.push(value.value);
    if (!value.isWhole) {
      isTruncated = true;
      break;
    }
  }
  while (values.length < Math.min(n, maxParams)) values.push(NOT_CAPTURED);
  return { values, types, isTruncated };
}

/** One value; `isWhole` false when it ran past the head (nothing after it can be read). */
function readValue(
  r: PayloadReader,
  type: number,
  isUnsigned: boolean,
  maxChars: number,
): { value: ParamValue; isWhole: boolean } | undefined {
  switch (type) {
    case FieldType.NULL:
      return { value: null, isWhole: true };
    case FieldType.TINY:
      if (r.remaining < 1) return CUT;
      return { value: isUnsigned ? r.u8() : (r.u8() << 24) >> 24, isWhole: true };
    case FieldType.SHORT:
    case FieldType.YEAR:
      if (r.remaining < 2) return CUT;
      return { value: isUnsigned ? r.u16() : (r.u16() << 16) >> 16, isWhole: true };
    case FieldType.LONG:
    case FieldType.INT24:
      if (r.remaining < 4) return CUT;
      return { value: isUnsigned ? r.u32() : r.u32() | 0, isWhole: true };
    case FieldType.LONGLONG: {
      if (r.remaining < 8) return CUT;
      const raw = r.u64();
      const value = isUnsigned ? raw : BigInt.asIntN(64, raw);
      return {
        value: value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value.toString(),
        isWhole: true,
      };
    }
    case FieldType.FLOAT:
      if (r.remaining < 4) return CUT;
      return { value: r.bytes(4).readFloatLE(0), isWhole: true };
    case FieldType.DOUBLE:
      if (r.remaining < 8) return CUT;
      return { value: r.bytes(8).readDoubleLE(0), isWhole: true };
    case FieldType.DATE:
    case FieldType.DATETIME:
    case FieldType.TIMESTAMP:
      return readDateTime(r, type === FieldType.DATE);
    case FieldType.TIME:
      return readTime(r);
    case FieldType.DECIMAL:
    case FieldType.NEWDECIMAL:
    case FieldType.VARCHAR:
    case FieldType.BIT:
    case FieldType.JSON:
    case FieldType.ENUM:
    case FieldType.SET:
    case FieldType.TINY_BLOB:
    case FieldType.MEDIUM_BLOB:
    case FieldType.LONG_BLOB:
    case FieldType.BLOB:
    case FieldType.VAR_STRING:
    case FieldType.STRING:
    case FieldType.GEOMETRY:
      return readLengthEncoded(r, maxChars);
    default:
      return undefined;
  }
}

function readLengthEncoded(
  r: PayloadReader,
  maxChars: number,
): { value: ParamValue; isWhole: boolean } {
  let length: number;
  try {
    length = r.lenencInt();
  } catch {
    return { value: NOT_CAPTURED, isWhole: false };
  }
  const available = Math.min(length, r.remaining);
  const bytes = r.bytes(available);
  return { value: describeBytes(bytes, length, maxChars), isWhole: available === length };
}

/** Text when the bytes are UTF-8 without NUL, cut to `maxChars`; `<binary N bytes>` otherwise. */
export function describeBytes(bytes: Buffer, totalLength: number, maxChars: number): string {
  const sample = bytes.subarray(0, Math.min(bytes.length, maxChars * 4));
  let text: string;
  try {
    // A cut sample may end inside a character: stream mode keeps that tail instead of failing.
    text = new TextDecoder('utf-8', { fatal: true }).decode(sample, {
      stream: sample.length < totalLength,
    });
  } catch {
    return `<binary ${totalLength} bytes>`;
  }
  if (text.includes('\u0000')) return `<binary ${totalLength} bytes>`;
  const chars = Array.from(text);
  return chars.length > maxChars || sample.length < totalLength
    ? `${chars.slice(0, maxChars).join('')}…`
    : text;
}

function readDateTime(
  r: PayloadReader,
  isDateOnly: boolean,
): { value: ParamValue; isWhole: boolean } {
  if (r.remaining < 1) return { value: NOT_CAPTURED, isWhole: false };
  const length = r.u8();
  if (r.remaining < length) return { value: NOT_CAPTURED, isWhole: false };
  const f = new PayloadReader(r.bytes(length));
  if (length === 0)
    return { value: isDateOnly ? '0000-00-00' : '0000-00-00 00:00:00', isWhole: true };
  const date = `${pad(f.u16(), 4)}-${pad(f.u8(), 2)}-${pad(f.u8(), 2)}`;
  if (isDateOnly && length === 4) return { value: date, isWhole: true };
  const time = length >= 7 ? `${pad(f.u8(), 2)}:${pad(f.u8(), 2)}:${pad(f.u8(), 2)}` : '00:00:00';
  const micros = length >= 11 ? `.${pad(f.u32(), 6)}` : '';
  return { value: isDateOnly ? date : `${date} ${time}${micros}`, isWhole: true };
}

function readTime(r: PayloadReader): { value: ParamValue; isWhole: boolean } {
  if (r.remaining < 1) return { value: NOT_CAPTURED, isWhole: false };
  const length = r.u8();
  if (r.remaining < length) return { value: NOT_CAPTURED, isWhole: false };
  if (length === 0) return { value: '00:00:00', isWhole: true };
  const f = new PayloadReader(r.bytes(length));
  if (length < 8) return { value: NOT_CAPTURED, isWhole: true };
  const isNegative = f.u8() === 1;
  const days = f.u32();
  const hours = days * 24 + f.u8();
  const text = `${isNegative ? '-' : ''}${pad(hours, 2)}:${pad(f.u8(), 2)}:${pad(f.u8(), 2)}`;
  return { value: length >= 12 ? `${text}.${pad(f.u32(), 6)}` : text, isWhole: true };
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
