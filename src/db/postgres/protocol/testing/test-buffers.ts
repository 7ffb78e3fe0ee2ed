/**
 * Byte builders for protocol tests, written independently of the serializers so a test can
 * compare a serializer's output with bytes laid out by hand from the spec.
 */

/** A big-endian Int16. */
export function int16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(value);
  return b;
}

/** A big-endian Int32. */
export function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(value);
  return b;
}

/** A NUL-terminated string. */
export function cstr(value: string): Buffer {
  return Buffer.concat([Buffer.from(value, 'utf8'), Buffer.of(0)]);
}

/** One typed message: `type` (one character), Int32 length counting itself, then the parts. */
export function msg(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(body.length + 4), body]);
}

/** An untyped startup-phase packet: Int32 length counting itself, then the parts. */
export function packet(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** Cuts `buf` into pieces at the given offsets (to feed a stream in awkward chunks). */
export function cut(buf: Buffer, ...offsets: number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const at of [...offsets, buf.length]) {
    out.push(buf.subarray(from, at));
    from = at;
  }
  return out;
}
