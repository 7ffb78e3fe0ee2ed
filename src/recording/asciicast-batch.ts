import { encodeEventLine } from './asciicast-format.js';
import { maxJsonStringBytes, writeJsonString } from './json-string-bytes.js';

/**
 * An event waiting to be encoded: its interval to the previous event, code and data. Output
 * that is valid UTF-8 waits as bytes (not decoded), copied into the writer's output arena: it
 * is escaped straight into the batch's buffer ({@link writeJsonString}).
 */
export interface PendingEvent {
  readonly intervalMs: number;
  readonly code: string;
  readonly data: string | Uint8Array;
}

/** Longest `[interval, "code", ` of a byte event: a whole-ms interval of up to 2^53 ms. */
const LINE_PREFIX_MAX_BYTES = 48;
/** The batch buffer kept between batches (events are encoded into it, then copied out). */
const BATCH_SCRATCH_BYTES = 1024 * 1024;
let batchScratch: Buffer | undefined;

/**
 * Encodes queued events as asciicast lines, in one buffer. Lines of byte events are the bytes
 * `encodeEventLine` gives for the same text decoded (`json-string-bytes.ts`).
 */
export function encodeEvents(events: readonly PendingEvent[]): Buffer {
  const scratch = (batchScratch ??= Buffer.allocUnsafeSlow(BATCH_SCRATCH_BYTES));
  const pieces: Buffer[] = [];
  let at = 0;
  for (const { intervalMs, code, data } of events) {
    const line = typeof data === 'string' ? encodeEventLine(intervalMs, code, data) : undefined;
    const bytes = typeof data === 'string' ? undefined : data;
    const most =
      bytes === undefined
        ? 3 * (line ?? '').length
        : LINE_PREFIX_MAX_BYTES + maxJsonStringBytes(bytes.length) + 2;
    if (at + most > scratch.length && at > 0) {
      pieces.push(Buffer.from(scratch.subarray(0, at)));
      at = 0;
    }
    // A line larger than the scratch buffer gets a buffer of its own.
    const out = most > scratch.length ? Buffer.allocUnsafe(most) : scratch;
    let end = out === scratch ? at : 0;
    if (bytes === undefined) end += out.write(line ?? '', end, 'utf8');
    else {
      const prefix = `[${(intervalMs / 1000).toFixed(3)}, ${JSON.stringify(code)}, `;
      end = writeJsonString(bytes, out, end + out.write(prefix, end, 'latin1'));
      out[end++] = 0x5d; // ]
      out[end++] = 0x0a; // \n
    }
    if (out === scratch) at = end;
    else pieces.push(out.subarray(0, end));
  }
  if (at > 0) pieces.push(Buffer.from(scratch.subarray(0, at)));
  return pieces.length === 1 ? (pieces[0] ?? Buffer.alloc(0)) : Buffer.concat(pieces);
}
