import { describe, expect, it } from 'vitest';
import { MessageFramer, WholeMessageSplitter, type FramedMessage } from './framer.js';
import { cstr, cut, int32, msg } from './testing/test-buffers.js';
import { PgProtocolError } from './wire.js';

const Q = 0x51;
const D = 0x44;

function frame(chunks: Buffer[], keep: (type: number) => number = () => 0): FramedMessage[][] {
  const framer = new MessageFramer({ keep });
  return chunks.map((chunk) => {
    const seen: FramedMessage[] = [];
    framer.push(chunk, (m) => seen.push(m));
    return seen;
  });
}

describe('message framer', () => {
  const stream = Buffer.concat([
    msg('Q', cstr('select 1')),
    msg('D', Buffer.alloc(100, 7)),
    msg('S'),
  ]);

  it('finds-every-boundary-in-one-chunk-without-keeping-unwanted-bodies', () => {
    const [seen = []] = frame([stream], (t) => (t === Q ? 1024 : 0));
    expect(seen.map((m) => [String.fromCharCode(m.type), m.start, m.end, m.length])).toEqual([
      ['Q', 0, 14, 9],
      ['D', 14, 119, 100],
      ['S', 119, 124, 0],
    ]);
    expect(seen[0]?.body?.toString()).toBe('select 1\0');
    expect(seen[1]?.body).toBeUndefined();
  });

  it('any-cut-of-the-stream-gives-the-same-messages', () => {
    for (let a = 1; a < stream.length - 1; a += 3) {
      for (let b = a + 1; b < stream.length; b += 7) {
        const chunks = cut(stream, a, b);
        const seen = frame(chunks, (t) => (t === Q ? 1024 : 0)).flat();
        expect(seen.map((m) => String.fromCharCode(m.type)).join('')).toBe('QDS');
        expect(seen[0]?.body?.toString()).toBe('select 1\0');
      }
    }
  });

  it('a-message-whole-in-its-chunk-and-one-cut-across-chunks-are-seen-alike', () => {
    // Whole messages take a path of their own: every field must match the cut one's.
    const mixed = Buffer.concat([
      msg('Q', cstr('select 1')),
      msg('D', Buffer.alloc(100, 7)),
      msg('S'),
      msg('Q', Buffer.alloc(0)),
      msg('D', Buffer.alloc(3, 2)),
    ]);
    const keep = (t: number): number => (t === Q ? 1024 : t === D ? 40 : 0);
    const fields = (m: FramedMessage): unknown[] => [
      m.type,
      m.length,
      m.body === undefined ? undefined : m.body.toString('hex'),
      m.isTruncated,
    ];
    const whole = (frame([mixed], keep)[0] ?? []).map(fields);
    expect(whole).toHaveLength(5);
    expect(whole[1]).toEqual([D, 100, '07'.repeat(40), true]);
    expect(whole[3]).toEqual([Q, 0, '', false]);
    for (let a = 1; a < mixed.length; a += 2) {
      for (let b = a + 1; b < mixed.length; b += 5) {
        expect(
          frame(cut(mixed, a, b), keep)
            .flat()
            .map(fields),
        ).toEqual(whole);
      }
    }
    for (let size = 1; size <= 7; size++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < mixed.length; at += size) chunks.push(mixed.subarray(at, at + size));
      expect(frame(chunks, keep).flat().map(fields)).toEqual(whole);
    }
  });

  it('offsets-are-relative-to-the-chunk-where-the-message-ends', () => {
    const [first = [], second = []] = frame(cut(stream, 3, 20));
    expect(first).toEqual([]);
    expect(second.map((m) => [m.start, m.end])).toEqual([[-1, 11]]);
  });

  it('kept-bodies-are-capped-and-flagged', () => {
    const [seen = []] = frame([msg('D', Buffer.alloc(5000, 1))], (t) => (t === D ? 64 : 0));
    expect(seen[0]?.body?.length).toBe(64);
    expect(seen[0]?.isTruncated).toBe(true);
  });

  it('absurd-lengths-are-a-protocol-violation', () => {
    const framer = new MessageFramer({ keep: () => 0, maxLength: 1000 });
    expect(() => framer.push(Buffer.concat([Buffer.from('Q'), int32(2)]), () => undefined)).toThrow(
      PgProtocolError,
    );
    const other = new MessageFramer({ keep: () => 0, maxLength: 1000 });
    expect(() =>
      other.push(Buffer.concat([Buffer.from('Q'), int32(1_000_000)]), () => undefined),
    ).toThrow(/invalid length/);
  });

  it('reports-whether-it-is-between-messages', () => {
    const framer = new MessageFramer({ keep: () => 0 });
    framer.push(stream.subarray(0, 3), () => undefined);
    expect(framer.isAtBoundary).toBe(false);
    framer.push(stream.subarray(3), () => undefined);
    expect(framer.isAtBoundary).toBe(true);
  });
});

describe('whole message splitter', () => {
  it('holds-an-incomplete-message-until-it-is-whole', () => {
    const splitter = new WholeMessageSplitter({ maxLength: 1 << 20 });
    const messages = [msg('P', cstr(''), cstr('select 1'), Buffer.from([0, 0])), msg('S')];
    const all = Buffer.concat(messages);
    expect(splitter.push(all.subarray(0, 7))).toEqual([]);
    expect(splitter.heldBytes).toBe(7);
    expect(splitter.push(all.subarray(7))).toEqual(messages);
    expect(splitter.heldBytes).toBe(0);
  });

  it('refuses-a-message-larger-than-allowed', () => {
    const splitter = new WholeMessageSplitter({ maxLength: 10 });
    expect(() => splitter.push(msg('Q', Buffer.alloc(20)))).toThrow(PgProtocolError);
  });
});
