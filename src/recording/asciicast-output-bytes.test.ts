import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { describe, expect, it } from 'vitest';
import { ManualClock, MemorySink } from '../../test/support/recording-fixtures.js';
import { encodeEventLine } from './asciicast-format.js';
import { AsciicastWriter, type AsciicastWriterOptions } from './asciicast-writer.js';

// Output is kept as bytes and escaped straight to JSON when it is valid UTF-8, and decoded
// (U+FFFD for bad bytes) when not. Either way the file must be byte for byte what the
// decoder-and-string encoder wrote for the same chunks: these tests compare the two.

const META = {
  sid: 'ses_0123abcd',
  channel: 0,
  user: 'alice',
  target: 'web1',
  term: { cols: 80, rows: 24 },
} as const;

/** The event lines the decoder-and-string path writes for `chunks` (intervals all 0). */
function expectedLines(chunks: readonly Uint8Array[]): string {
  const decoder = new StringDecoder('utf8');
  let lines = '';
  for (const chunk of chunks) {
    const text = decoder.write(Buffer.from(chunk));
    if (text !== '') lines += encodeEventLine(0, 'o', text);
  }
  const tail = decoder.end();
  if (tail !== '') lines += encodeEventLine(0, 'o', tail);
  return lines;
}

/** The event lines the writer writes for `chunks`, header left out. */
async function recordedLines(
  chunks: readonly Uint8Array[],
  options: AsciicastWriterOptions = {},
  pauseEvery = Number.POSITIVE_INFINITY,
): Promise<string> {
  const sink = new MemorySink();
  const clock = new ManualClock();
  const writer = await AsciicastWriter.create('/memory', META, {
    openSink: () => Promise.resolve(sink),
    clock: clock.now,
    wallClock: () => 0,
    recordInput: false,
    ...options,
  });
  for (const [i, chunk] of chunks.entries()) {
    writer.output(chunk);
    // lets batches be written (and their arenas reused) while output goes on
    if (i % pauseEvery === pauseEvery - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  await writer.close();
  const file = Buffer.concat(sink.chunks);
  // latin1 keeps every byte as one char: a difference in the bytes shows as one here
  return file.subarray(file.indexOf(0x0a) + 1).toString('latin1');
}

function latin1(lines: string): string {
  return Buffer.from(lines, 'utf8').toString('latin1');
}

/** Splits `bytes` at random places into chunks of 0 to `maxChunk` bytes. */
function randomChunks(bytes: Buffer, maxChunk: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = Math.min(bytes.length - at, Math.floor(Math.random() * (maxChunk + 1)));
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

const TERMINAL_TEXT = Buffer.from(
  '\u001b[1;31mred\u001b[0m "q" \\ \t\r\n\u0007 é€😀 中文 \u009b2J \u0085 \u007f\u0000 \u2028 end\r\n',
  'utf8',
);

describe('asciicast output bytes', () => {
  it('terminal-text-cut-at-every-byte-is-recorded-as-the-decoder-would', async () => {
    for (let cut = 0; cut <= TERMINAL_TEXT.length; cut++) {
      const chunks = [TERMINAL_TEXT.subarray(0, cut), TERMINAL_TEXT.subarray(cut)];
      expect(await recordedLines(chunks), `cut at ${cut}`).toBe(latin1(expectedLines(chunks)));
    }
  });

  it('one-byte-chunks-of-multibyte-characters-are-recorded-as-the-decoder-would', async () => {
    const chunks = [...TERMINAL_TEXT].map((byte) => Uint8Array.of(byte));
    expect(await recordedLines(chunks)).toBe(latin1(expectedLines(chunks)));
  });

  it('invalid-utf8-split-across-chunks-is-recorded-as-the-decoder-would', async () => {
    const cases: number[][][] = [
      [[0x41, 0xe2, 0x82], [0x41]], // a cut character broken by ASCII
      [
        [0xe2, 0x82],
        [0xe2, 0x82, 0xac],
      ], // broken by the start of another
      [[0xf0, 0x9f], [0x98], [0x41, 0x80, 0x80], [0x42]], // finished, then stray continuations
      [[0xf0], [0x80, 0x80, 0x80]], // a lead whose second byte makes it invalid, next chunk
      [[0xc0, 0xaf], [0x41]], // overlong
      [[0xed, 0xa0, 0x80], [0x41]], // surrogate
      [[0xe2, 0x82]], // cut at the end of the stream
      [[0x41, 0xff], [0xe2], [0x82, 0xac], [0x42]], // bad byte, then a character cut in two
      [
        [0xff, 0xe2],
        [0x82, 0xac, 0x43],
      ], // bad byte and a cut character in one chunk
      [[0xff, 0xe2], [0x41]], // the decoder holds a cut character: valid bytes go to it too
      [[0xe2, 0x82], [], [0xac]], // an empty chunk in between
    ];
    for (const chunks of cases) {
      const bytes = chunks.map((c) => Uint8Array.from(c));
      expect(await recordedLines(bytes), JSON.stringify(chunks)).toBe(latin1(expectedLines(bytes)));
    }
  });

  it('random-bytes-and-text-in-random-chunks-are-recorded-as-the-decoder-would', async () => {
    for (let round = 0; round < 60; round++) {
      // Text with bursts of random bytes: the writer goes from bytes to the decoder and back.
      const parts: Buffer[] = [];
      for (let i = 0; i < 8; i++) {
        parts.push(i % 3 === round % 3 ? randomBytes(1 + (round % 7)) : TERMINAL_TEXT);
      }
      const chunks = randomChunks(Buffer.concat(parts), 1 + (round % 40));
      expect(await recordedLines(chunks), `round ${round}`).toBe(latin1(expectedLines(chunks)));
    }
  });

  it('small-logged-and-large-read-at-once-chunks-mixed-are-recorded-as-the-decoder-would', async () => {
    // Chunks of up to 1 KiB wait in the writer's log, larger ones are read at once: in between,
    // characters cut at chunk ends and bad bytes must come out in order all the same.
    const sizes = [1, 700, 1500, 3, 1024, 1025, 4000, 17, 2];
    for (let round = 0; round < 20; round++) {
      const parts: Buffer[] = [];
      for (let i = 0; i < 200; i++) parts.push(i % 5 === 0 ? randomBytes(5) : TERMINAL_TEXT);
      const bytes = Buffer.concat(parts);
      const chunks: Buffer[] = [];
      for (let at = 0, n = round; at < bytes.length; n++) {
        const size = sizes[n % sizes.length] ?? 1;
        chunks.push(bytes.subarray(at, at + size));
        at += size;
      }
      expect(await recordedLines(chunks), `round ${round}`).toBe(latin1(expectedLines(chunks)));
    }
  });

  it('output-in-many-small-batches-is-recorded-as-the-decoder-would', async () => {
    // A low flush threshold: batches are written while output goes on, and the writer's
    // buffers for output bytes are reused from one batch to the next.
    for (let round = 0; round < 20; round++) {
      const bytes = Buffer.concat([TERMINAL_TEXT, randomBytes(3), TERMINAL_TEXT, TERMINAL_TEXT]);
      const chunks = randomChunks(Buffer.concat([bytes, bytes, bytes]), 1 + round * 3);
      const options = { flushThresholdBytes: 16 + round * 8 };
      expect(await recordedLines(chunks, options, 1 + (round % 4)), `round ${round}`).toBe(
        latin1(expectedLines(chunks)),
      );
    }
  });

  it('a-cut-character-at-the-output-limit-is-recorded-as-the-decoder-would', async () => {
    const sink = await recordedLines([Buffer.from('ab'), Buffer.from([0xe2, 0x82])], {
      maxOutputBytes: 4,
    });
    // The limit ends the character cut by it (U+FFFD) before its marker.
    expect(sink).toBe(
      latin1(
        encodeEventLine(0, 'o', 'ab') +
          encodeEventLine(0, 'o', '\ufffd') +
          encodeEventLine(0, 'm', 'output past 4 bytes is not recorded'),
      ),
    );
  });
});
