import { describe, expect, it } from 'vitest';
import { MAX_PACKET_PAYLOAD } from './constants.js';
import { encodePacket, framePayload, PacketReader } from './packets.js';
import { FrameScanner, type FrameHead, type FrameInfo } from './frame-scanner.js';
import { hex, packet } from './testing/byte-builder.js';

describe('packet framing', () => {
  it('frames-a-small-payload-with-length-and-sequence', () => {
    expect(encodePacket(hex('0e'), 0)).toEqual(hex('01 00 00 00 0e'));
    expect(encodePacket(Buffer.alloc(0), 7)).toEqual(hex('00 00 00 07'));
  });

  it('splits-a-payload-of-exactly-16MiB-1-with-a-trailing-empty-packet', () => {
    const payload = Buffer.alloc(MAX_PACKET_PAYLOAD, 1);
    const { parts, nextSeq } = framePayload(payload, 3);
    expect(parts.map((p) => p.length)).toEqual([4, MAX_PACKET_PAYLOAD, 4]);
    expect(parts[0]).toEqual(hex('ff ff ff 03'));
    expect(parts[2]).toEqual(hex('00 00 00 04'));
    expect(nextSeq).toBe(5);
  });

  it('splits-a-payload-over-16MiB-and-the-reader-joins-it', () => {
    const payload = Buffer.alloc(MAX_PACKET_PAYLOAD + 10);
    payload.fill(7);
    payload.writeUInt8(9, payload.length - 1);
    const bytes = encodePacket(payload, 255);
    expect(bytes.readUInt8(3)).toBe(255);
    expect(bytes.readUInt8(4 + MAX_PACKET_PAYLOAD + 3)).toBe(0);
    const reader = new PacketReader({ maxPayloadBytes: 64 * 1024 * 1024 });
    const got = [];
    for (let i = 0; i < bytes.length; i += 1_000_000)
      got.push(...reader.push(bytes.subarray(i, i + 1_000_000)));
    expect(got).toHaveLength(1);
    expect(got[0]?.seq).toBe(255);
    expect(got[0]?.lastSeq).toBe(0);
    expect(got[0]?.payload.equals(payload)).toBe(true);
  });

  it('reader-returns-packets-split-across-chunks-and-keeps-the-rest', () => {
    const reader = new PacketReader({ maxPayloadBytes: 1024 });
    const bytes = Buffer.concat([
      packet(0, hex('01 02 03')),
      packet(1, hex('04')),
      hex('16 03 01'),
    ]);
    expect(reader.push(bytes.subarray(0, 2))).toEqual([]);
    const got = reader.push(bytes.subarray(2));
    expect(got.map((p) => p.payload.toString('hex'))).toEqual(['010203', '04']);
    expect(reader.drain()).toEqual(hex('16 03 01'));
  });

  it('reader-refuses-a-packet-over-its-limit-before-buffering-it', () => {
    const reader = new PacketReader({ maxPayloadBytes: 10 });
    expect(reader.push(hex('0b 00 00 00'))).toEqual([]);
    expect(reader.error?.message).toMatch(/more than 10 bytes/);
  });

  it('reader-returns-an-ssl-request-even-when-a-tls-hello-follows-in-the-same-chunk', () => {
    const reader = new PacketReader({ maxPayloadBytes: 64 * 1024 });
    const hello = hex('16 03 01 02 00 01 00 01 fc 03 03');
    const got = reader.push(Buffer.concat([packet(1, Buffer.alloc(32, 8)), hello]));
    expect(got).toHaveLength(1);
    expect(reader.error).toBeDefined();
    expect(reader.drain()).toEqual(hello);
  });
});

interface Seen {
  starts: number[];
  heads: { hex: string; isComplete: boolean }[];
  ends: { offset: number; info: FrameInfo }[];
}

function scan(scanner: FrameScanner, chunks: Buffer[]): Seen[] {
  return chunks.map((chunk) => {
    const seen: Seen = { starts: [], heads: [], ends: [] };
    scanner.push(chunk, {
      start: (o) => seen.starts.push(o),
      head: (h: FrameHead) =>
        seen.heads.push({ hex: h.bytes.toString('hex'), isComplete: h.isComplete }),
      end: (offset, info) => seen.ends.push({ offset, info }),
    });
    return seen;
  });
}

describe('frame scanner', () => {
  it('reports-start-head-and-end-offsets-of-each-packet-in-a-chunk', () => {
    const bytes = Buffer.concat([packet(1, hex('00 01 02')), packet(2, hex('fe 00 00 02 00'))]);
    const [seen] = scan(new FrameScanner({ headLimit: 16 }), [bytes]);
    expect(seen?.starts).toEqual([0, 7]);
    expect(seen?.heads).toEqual([
      { hex: '000102', isComplete: true },
      { hex: 'fe00000200', isComplete: true },
    ]);
    expect(seen?.ends.map((e) => e.offset)).toEqual([7, 16]);
    expect(seen?.ends[1]?.info).toMatchObject({ length: 5, firstSeq: 2, lastSeq: 2, packets: 1 });
  });

  it('delivers-the-head-early-and-ends-a-split-packet-after-its-last-piece', () => {
    const payload = Buffer.alloc(MAX_PACKET_PAYLOAD + 3, 0xab);
    const bytes = encodePacket(payload, 0);
    const scanner = new FrameScanner({ headLimit: 4 });
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 65536) chunks.push(bytes.subarray(i, i + 65536));
    const seen = scan(scanner, chunks);
    const heads = seen.flatMap((s) => s.heads);
    const ends = seen.flatMap((s) => s.ends);
    expect(heads).toEqual([{ hex: 'abababab', isComplete: false }]);
    expect(ends).toHaveLength(1);
    expect(ends[0]?.info).toMatchObject({
      length: MAX_PACKET_PAYLOAD + 3,
      packets: 2,
      firstSeq: 0,
      lastSeq: 1,
    });
    expect(ends[0]?.offset).toBe(((bytes.length - 1) % 65536) + 1);
    expect(scanner.isInPacket).toBe(false);
  });

  it('handles-a-header-split-across-chunks-and-an-empty-payload', () => {
    const bytes = Buffer.concat([packet(0, Buffer.alloc(0)), packet(1, hex('0e'))]);
    const seen = scan(new FrameScanner({ headLimit: 8 }), [
      bytes.subarray(0, 2),
      bytes.subarray(2, 6),
      bytes.subarray(6),
    ]);
    expect(seen.flatMap((s) => s.heads)).toEqual([
      { hex: '', isComplete: true },
      { hex: '0e', isComplete: true },
    ]);
    expect(seen[1]?.ends.map((e) => e.offset)).toEqual([2]);
    expect(seen[2]?.ends.map((e) => e.offset)).toEqual([3]);
  });

  it('keeps-a-head-that-spans-chunks-intact', () => {
    const bytes = packet(0, hex('03 73 65 6c 65 63 74'));
    const seen = scan(new FrameScanner({ headLimit: 100 }), [
      bytes.subarray(0, 6),
      bytes.subarray(6),
    ]);
    expect(seen[1]?.heads).toEqual([{ hex: '0373656c656374', isComplete: true }]);
  });

  it('every-split-of-a-stream-gives-the-packets-one-chunk-gives', () => {
    // Headers read in place (whole in the chunk) and copied (split) must agree, as must heads
    // kept as one slice and heads gathered from parts.
    const bytes = Buffer.concat([
      packet(0, hex('17 01 00 00 00 00 01 00 00 00 00 01 03 00 2a 00 00 00')),
      packet(1, Buffer.alloc(0)),
      packet(2, Buffer.from('select 1 from a_table_with_a_long_name')),
      packet(3, hex('fe 00 00 02 00')),
    ]);
    const whole = (seen: Seen[], chunks: Buffer[]) => {
      let base = 0;
      const out: { starts: number[]; heads: Seen['heads']; ends: unknown[] } = {
        starts: [],
        heads: [],
        ends: [],
      };
      seen.forEach((s, i) => {
        out.starts.push(...s.starts.map((o) => base + o));
        out.heads.push(...s.heads);
        out.ends.push(...s.ends.map((e) => ({ offset: base + e.offset, info: e.info })));
        base += chunks[i]?.length ?? 0;
      });
      return out;
    };
    for (const headLimit of [1, 4, 16, 100]) {
      const expected = whole(scan(new FrameScanner({ headLimit }), [bytes]), [bytes]);
      expect(expected.ends).toHaveLength(4);
      // A head cut at the limit is not complete, even when the packet came whole.
      expect(expected.heads.map((h) => h.isComplete)).toEqual([
        headLimit >= 18,
        true,
        headLimit >= 38,
        headLimit >= 5,
      ]);
      for (let a = 1; a < bytes.length; a++) {
        for (const b of [a + 1, a + 3, a + 7, bytes.length]) {
          const chunks = [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)].filter(
            (c) => c.length > 0,
          );
          const got = whole(scan(new FrameScanner({ headLimit }), chunks), chunks);
          expect(got).toEqual(expected);
        }
      }
    }
  });
});
