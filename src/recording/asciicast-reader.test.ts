import { Readable, Writable } from 'node:stream';
import { writeFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AsciicastReader, exportCast, renderToTerminal, type AsciicastEvent } from './index.js';
import { makeRecordingDir, type ScratchDir } from '../../test/support/recording-fixtures.js';

const HEADER = '{"version":3,"term":{"cols":80,"rows":24}}';

function fromText(text: string, chunkSize = 7): Readable {
  const bytes = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  return Readable.from(chunks);
}

async function readAll(
  text: string,
  maxLineBytes?: number,
): Promise<{ events: AsciicastEvent[]; reader: AsciicastReader }> {
  const reader = await AsciicastReader.fromStream(
    fromText(text),
    maxLineBytes === undefined ? {} : { maxLineBytes },
  );
  const events: AsciicastEvent[] = [];
  for await (const e of reader.events()) events.push(e);
  return { events, reader };
}

async function failureOf(text: string, maxLineBytes?: number): Promise<string> {
  try {
    await readAll(text, maxLineBytes);
  } catch (err) {
    expect(err).toMatchObject({ name: 'GatehouseError', code: 'GH_RECORDING_INVALID' });
    return (err as { detail: string }).detail;
  }
  throw new Error('expected the recording to be refused');
}

let scratch: ScratchDir | undefined;
afterEach(() => {
  scratch?.cleanup();
  scratch = undefined;
});

describe('asciicast reader', () => {
  it('intervals-become-absolute-times-without-drift', async () => {
    const lines = Array.from({ length: 1000 }, () => '[0.001, "o", "."]');
    const { events } = await readAll([HEADER, ...lines, '[0.1, "x", "0"]', ''].join('\n'));
    expect(events).toHaveLength(1001);
    expect(events[999]?.time).toBe(1);
    expect(events[1000]).toEqual({ time: 1.1, code: 'x', data: '0' });
  });

  it('comments-blank-lines-and-unknown-event-codes-are-handled-as-the-spec-says', async () => {
    const text = [
      HEADER,
      '# a comment',
      '[0.5, "o", "a"]',
      '',
      '[0.25, "t", "subtitle"]',
      '[1, "o", "b"]',
      '',
    ].join('\n');
    const { events } = await readAll(text);
    expect(events).toEqual([
      { time: 0.5, code: 'o', data: 'a' },
      { time: 0.75, code: 't', data: 'subtitle' }, // passed through
      { time: 1.75, code: 'o', data: 'b' },
    ]);
  });

  it('header-keeps-known-fields-and-ignores-unknown-ones', async () => {
    const header =
      '\ufeff{"version":3,"term":{"cols":100,"rows":50,"type":"xterm","theme":{}},"timestamp":1700000000,"env":{"SHELL":"/bin/sh"},"gatehouse":{"sid":"s","user":"u","target":"t"}}';
    const { reader } = await readAll(`${header}\n`);
    expect(reader.header).toEqual({
      version: 3,
      term: { cols: 100, rows: 50, type: 'xterm' },
      timestamp: 1700000000,
      gatehouse: { sid: 's', user: 'u', target: 't' },
    });
  });

  it('a-cut-off-last-line-ends-the-events-quietly', async () => {
    const text = `${HEADER}\n[0.5, "o", "whole"]\n[0.25, "o", "cut in the midd`;
    const { events, reader } = await readAll(text);
    expect(events).toEqual([{ time: 0.5, code: 'o', data: 'whole' }]);
    expect(reader.isTruncated).toBe(true);
    // a last line that is complete but lacks its newline still counts
    const whole = await readAll(`${HEADER}\n[0.5, "o", "whole"]`);
    expect(whole.events).toHaveLength(1);
    expect(whole.reader.isTruncated).toBe(false);
    // a cut inside a multibyte character, too
    const bytes = Buffer.from(`${HEADER}\n[0.5, "o", "€`, 'utf8');
    const reader2 = await AsciicastReader.fromStream(
      Readable.from([bytes.subarray(0, bytes.length - 1)]),
    );
    for await (const event of reader2.events()) throw new Error(`no event expected: ${event.data}`);
    expect(reader2.isTruncated).toBe(true);
  });

  it.each([
    ['', 'line 1: the file is empty'],
    ['# comment first\n', 'line 1: the first line must be the header, not a comment'],
    ['{"version":2,"width":80,"height":24}\n', 'line 1: version 2 is not supported (expected 3)'],
    ['[1,2,3]\n', 'line 1: header must be a JSON object'],
    ['{"version":3}\n', 'line 1: term must be an object'],
    [
      '{"version":3,"term":{"cols":0,"rows":24}}\n',
      'line 1: term.cols and term.rows must be positive integers',
    ],
    [
      '{"version":3,"term":{"cols":80,"rows":24},"timestamp":"now"}\n',
      'line 1: timestamp must be a number',
    ],
    [
      '{"version":3,"term":{"cols":80,"rows":24},"gatehouse":{"sid":1}}\n',
      'line 1: gatehouse.sid, gatehouse.user and gatehouse.target must be strings',
    ],
    [`${HEADER}\n[0.1, "o", "ok"]\n{oops\n[0.1, "o", "x"]\n`, 'line 3: event is not valid JSON'],
    [`${HEADER}\n[0.1, "o"]\n`, 'line 2: event must be an array [interval, code, data]'],
    [`${HEADER}\n[-1, "o", "x"]\n`, 'line 2: interval must be a non-negative number'],
    [`${HEADER}\n["1", "o", "x"]\n`, 'line 2: interval must be a non-negative number'],
    [`${HEADER}\n[1, "", "x"]\n`, 'line 2: event code must be a non-empty string'],
    [`${HEADER}\n[1, "o", 5]\n`, 'line 2: event data must be a string'],
    [`${HEADER}\n[1, "r", "wide"]\n`, 'line 2: resize data must be COLSxROWS'],
    [`${HEADER}\n[1e300, "o", "x"]\n`, 'line 2: time is out of range'],
  ])('malformed-input-is-refused-naming-the-line %#', async (text, detail) => {
    expect(await failureOf(text)).toBe(detail);
  });

  it('invalid-utf8-is-refused-naming-the-line', async () => {
    const bytes = Buffer.concat([
      Buffer.from(`${HEADER}\n[0.1, "o", "`),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"]\n'),
    ]);
    const reader = await AsciicastReader.fromStream(Readable.from([bytes]));
    await expect(async () => {
      for await (const event of reader.events()) expect(event.data).toBe('never');
    }).rejects.toMatchObject({ detail: 'line 2: line is not valid UTF-8' });
  });

  it('mutated-input-only-ever-fails-with-a-gatehouse-error', async () => {
    const valid = Buffer.from(
      `${HEADER}\n[0.5, "o", "h\u00e9llo \\u001b[1m"]\n[1, "r", "90x30"]\n# c\n[0.1, "m", ""]\n[0, "x", "0"]\n`,
    );
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 2000; round += 1) {
      const bytes = Buffer.from(valid);
      for (let k = 0; k <= random(4); k += 1) bytes[random(bytes.length)] = random(256);
      const cut = bytes.subarray(0, bytes.length - random(8));
      try {
        const reader = await AsciicastReader.fromStream(Readable.from([cut]), { maxLineBytes: 64 });
        for await (const event of reader.events()) expect(Number.isFinite(event.time)).toBe(true);
      } catch (err) {
        expect(err).toMatchObject({ name: 'GatehouseError', code: 'GH_RECORDING_INVALID' });
      }
    }
  });

  it('an-overlong-line-is-refused-without-being-held-whole', async () => {
    const long = `[0.1, "o", "${'a'.repeat(5000)}"]`;
    expect(await failureOf(`${HEADER}\n${long}\n`, 1024)).toBe(
      'line 2: line is longer than 1024 bytes',
    );
    expect(await failureOf(`${HEADER}\n${long}`, 1024)).toBe(
      'line 2: line is longer than 1024 bytes',
    );
    expect(await failureOf(`${'x'.repeat(2000)}\n`, 1024)).toBe(
      'line 1: line is longer than 1024 bytes',
    );
  });
});

describe('playback and export', () => {
  it('render-to-terminal-plays-output-with-its-timing-speed-and-idle-cap', async () => {
    const text = [
      HEADER,
      '[1, "o", "a"]',
      '[0.5, "i", "k"]',
      '[0.5, "o", "b"]',
      '[60, "o", "c"]',
      '',
    ].join('\n');
    const reader = await AsciicastReader.fromStream(fromText(text));
    let nowMs = 0;
    const written: Array<[number, string]> = [];
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        written.push([nowMs, chunk.toString('utf8')]);
        done();
      },
    });
    const summary = await renderToTerminal(reader, out, {
      speed: 2,
      maxIdleS: 2,
      clock: () => nowMs,
      sleep: (ms) => {
        nowMs += ms;
        return Promise.resolve();
      },
    });
    // 1 s → 0.5 s at 2x; +1 s → 1 s; 60 s capped to 2 s → +1 s
    expect(written).toEqual([
      [500, 'a'],
      [1000, 'b'],
      [2000, 'c'],
    ]);
    expect(summary).toEqual({ outputEvents: 3, playedS: 2, isAborted: false });
  });

  it('render-to-terminal-stops-when-aborted', async () => {
    const text = [HEADER, '[0.01, "o", "a"]', '[30, "o", "never"]', ''].join('\n');
    const reader = await AsciicastReader.fromStream(fromText(text));
    const controller = new AbortController();
    const chunks: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString('utf8'));
        controller.abort();
        done();
      },
    });
    const summary = await renderToTerminal(reader, out, { signal: controller.signal });
    expect(chunks).toEqual(['a']);
    expect(summary.isAborted).toBe(true);
  });

  it('export-cast-streams-the-file-after-checking-its-header', async () => {
    scratch = makeRecordingDir();
    const good = join(scratch.path, 'good.cast');
    const content = `${HEADER}\n[0.5, "o", "hello"]\n`;
    writeFileSync(good, content);
    const chunks: Buffer[] = [];
    for await (const chunk of await exportCast(good)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(content);

    const bad = join(scratch.path, 'bad.cast');
    writeFileSync(bad, '{"version":2,"width":80,"height":24}\n');
    await expect(exportCast(bad)).rejects.toMatchObject({ code: 'GH_RECORDING_INVALID' });
    const link = join(scratch.path, 'link.cast');
    symlinkSync(good, link);
    await expect(exportCast(link)).rejects.toMatchObject({ code: 'GH_INVALID_ARGUMENT' });
    await expect(exportCast(join(scratch.path, 'missing.cast'))).rejects.toMatchObject({
      code: 'GH_NOT_FOUND',
    });
  });
});
