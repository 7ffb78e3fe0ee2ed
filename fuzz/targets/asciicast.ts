/**
 * The asciicast v3 reader: recordings written by the real AsciicastWriter, read back through
 * AsciicastReader.fromStream with each segment as one stream chunk. Only GatehouseError
 * (GH_RECORDING_INVALID, GH_INVALID_ARGUMENT) may come out. Variant bit 0: a 256-byte line limit.
 */
import { Readable } from 'node:stream';
import { GatehouseError } from '../../src/core/errors.js';
import { AsciicastReader } from '../../src/recording/asciicast-reader.js';
import type { FuzzTarget } from '../lib/engine.js';
import type { FuzzInput } from '../lib/input.js';
import { expectTypedError } from '../lib/oracle.js';

/** The asciicast reader target. */
export const asciicastTarget: FuzzTarget = {
  name: 'asciicast',
  summary: 'asciicast v3 reader: header, events, line splitting across chunks, cut-off last line',
  hints: {
    focus: 'c',
    variantBits: 1,
    dictionary: [
      '\n',
      '"',
      '\\',
      '\\u0000',
      '\\ud800',
      '[',
      ']',
      '{',
      '}',
      ',',
      ':',
      '1e309',
      '-1',
      'NaN',
      '9007199254740993',
      '0.000001',
      '"o"',
      '"r"',
      '"x"',
      '"m"',
      '"i"',
      '"80x24"',
      '{"version": 3',
      '"term": {"cols": 0, "rows": 0}',
      '#',
      '\r\n',
      '\xef\xbb\xbf',
    ].map((s) => Buffer.from(s, 'latin1')),
  },
  run: runAsciicast,
};

async function runAsciicast(input: FuzzInput): Promise<void> {
  try {
    const reader = await AsciicastReader.fromStream(
      Readable.from(input.segments.map((s) => s.data)),
      (input.variant & 1) === 1 ? { maxLineBytes: 256 } : {},
    );
    try {
      JSON.stringify(reader.header);
      for await (const event of reader.events()) {
        if (!Number.isFinite(event.time) || event.time < 0)
          throw new Error(`event time ${event.time}`);
        JSON.stringify(event);
      }
    } finally {
      await reader.close();
    }
  } catch (err) {
    expectTypedError(err, [GatehouseError], 'asciicast reader');
  }
}
