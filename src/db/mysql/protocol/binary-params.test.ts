import { describe, expect, it } from 'vitest';
import { decodeExecuteParams, describeBytes } from './binary-params.js';
import { Command, FieldType } from './constants.js';
import { PayloadWriter } from './wire.js';

/** A COM_STMT_EXECUTE payload with the given types (type, unsigned) and raw values. */
function execute(
  types: [number, boolean][],
  nulls: number[],
  values: Buffer[],
  options: { bound?: boolean } = {},
): Buffer {
  const w = new PayloadWriter().u8(Command.STMT_EXECUTE).u32(1).u8(0).u32(1);
  const bitmap = Buffer.alloc((types.length + 7) >> 3);
  for (const i of nulls) bitmap.writeUInt8(bitmap.readUInt8(i >> 3) | (1 << (i & 7)), i >> 3);
  w.bytes(bitmap).u8(options.bound === false ? 0 : 1);
  if (options.bound !== false) for (const [t, u] of types) w.u8(t).u8(u ? 0x80 : 0);
  for (const v of values) w.bytes(v);
  return w.toBuffer();
}

const le = (bytes: number, write: (b: Buffer) => void): Buffer => {
  const b = Buffer.alloc(bytes);
  write(b);
  return b;
};

describe('COM_STMT_EXECUTE parameters', () => {
  it('decodes-the-common-types', () => {
    const types: [number, boolean][] = [
      [FieldType.TINY, false],
      [FieldType.LONG, true],
      [FieldType.LONGLONG, false],
      [FieldType.LONGLONG, true],
      [FieldType.DOUBLE, false],
      [FieldType.NEWDECIMAL, false],
      [FieldType.VAR_STRING, false],
      [FieldType.NULL, false],
      [FieldType.DATETIME, false],
      [FieldType.DATE, false],
      [FieldType.TIME, false],
      [FieldType.BLOB, false],
    ];
    const values = [
      Buffer.from([0xff]),
      le(4, (b) => b.writeUInt32LE(4_000_000_000)),
      le(8, (b) => b.writeBigInt64LE(-5n)),
      le(8, (b) => b.writeBigUInt64LE(18_446_744_073_709_551_615n)),
      le(8, (b) => b.writeDoubleLE(3.25)),
      new PayloadWriter().lenencString('12.50').toBuffer(),
      new PayloadWriter().lenencString('grüße 🎉').toBuffer(),
      new PayloadWriter().u8(11).u16(2024).u8(2).u8(29).u8(13).u8(5).u8(9).u32(120).toBuffer(),
      new PayloadWriter().u8(4).u16(1999).u8(12).u8(31).toBuffer(),
      new PayloadWriter().u8(8).u8(1).u32(1).u8(2).u8(3).u8(4).toBuffer(),
      new PayloadWriter().lenencString(Buffer.from([0, 1, 2, 3])).toBuffer(),
    ];
    const got = decodeExecuteParams(execute(types, [7], values), { numParams: types.length });
    expect(got.values).toEqual([
      -1,
      4_000_000_000,
      -5,
      '18446744073709551615',
      3.25,
      '12.50',
      'grüße 🎉',
      null,
      '2024-02-29 13:05:09.000120',
      '1999-12-31',
      '-26:03:04',
      '<binary 4 bytes>',
    ]);
    expect(got.isTruncated).toBe(false);
    expect(got.types?.length).toBe(2 * types.length);
  });

  it('uses-the-previous-types-when-the-execute-omits-them', () => {
    const types = Buffer.from([FieldType.LONG, 0]);
    const got = decodeExecuteParams(
      execute([[FieldType.LONG, false]], [], [le(4, (b) => b.writeInt32LE(-7))], { bound: false }),
      { numParams: 1, previousTypes: types },
    );
    expect(got.values).toEqual([-7]);
  });

  it('reports-long-data-params-and-skips-their-value', () => {
    const got = decodeExecuteParams(
      execute(
        [
          [FieldType.BLOB, false],
          [FieldType.TINY, false],
        ],
        [],
        [Buffer.from([5])],
      ),
      { numParams: 2, longData: new Map([[0, 20_000_000]]) },
    );
    expect(got.values).toEqual(['<long data 20000000 bytes>', 5]);
  });

  it('a-head-cut-inside-a-value-marks-the-rest-not-captured', () => {
    const big = new PayloadWriter().lenencString('x'.repeat(1000)).toBuffer();
    const full = execute(
      [
        [FieldType.VAR_STRING, false],
        [FieldType.TINY, false],
      ],
      [],
      [big, Buffer.from([1])],
    );
    const got = decodeExecuteParams(full.subarray(0, 100), { numParams: 2, maxValueChars: 10 });
    expect(got.values).toEqual(['xxxxxxxxxx…', '<not captured>']);
    expect(got.isTruncated).toBe(true);
  });

  it('cuts-long-text-and-caps-the-number-of-params', () => {
    expect(describeBytes(Buffer.from('abcdef'), 6, 3)).toBe('abc…');
    const types: [number, boolean][] = Array.from({ length: 5 }, () => [FieldType.TINY, false]);
    const got = decodeExecuteParams(
      execute(
        types,
        [],
        types.map(() => Buffer.from([1])),
      ),
      { numParams: 5, maxParams: 2 },
    );
    expect(got.values).toEqual([1, 1]);
    expect(got.isTruncated).toBe(true);
  });

  it('types-bound-again-unchanged-keep-the-earlier-copy-and-changed-ones-a-new-one', () => {
    const first = decodeExecuteParams(execute([[FieldType.LONG, false]], [], [int32(7)]), {
      numParams: 1,
    });
    expect(first.values).toEqual([7]);
    const types = first.types;
    expect(types?.toString('hex')).toBe('0300');
    const again = decodeExecuteParams(execute([[FieldType.LONG, false]], [], [int32(8)]), {
      numParams: 1,
      previousTypes: types,
    });
    expect(again.values).toEqual([8]);
    expect(again.types).toBe(types);
    const changed = decodeExecuteParams(execute([[FieldType.LONG, true]], [], [int32(-1)]), {
      numParams: 1,
      previousTypes: types,
    });
    expect(changed.values).toEqual([0xffffffff]);
    expect(changed.types).not.toBe(types);
    expect(changed.types?.toString('hex')).toBe('0380');
    expect(types?.toString('hex')).toBe('0300');
  });
});

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n, 0);
  return b;
}
