import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeExecuteParams } from './binary-params.js';
import { decodeCommand, decodeStmtPrepareOk } from './commands.js';
import { Command } from './constants.js';
import { FrameScanner } from './frame-scanner.js';
import {
  decodeAuthSwitchRequest,
  decodeHandshakeResponse41,
  decodeHandshakeV10,
} from './handshake.js';
import { PacketReader } from './packets.js';
import { ResponseTracker } from './response-tracker.js';
import { decodeErr, decodeOk } from './responses.js';
import { MysqlProtocolError } from './wire.js';

const ROUNDS = 3000;

/** Random bytes, often starting with a meaningful header byte. */
function noise(): Buffer {
  const b = randomBytes(randomInt(0, 64));
  if (b.length > 0 && randomInt(2) === 0)
    b.writeUInt8([0x00, 0x01, 0x03, 0x0a, 0x16, 0x17, 0xfb, 0xfe, 0xff][randomInt(9)] ?? 0, 0);
  return b;
}

/** Runs `work`; only MysqlProtocolError may come out. */
function onlyProtocolErrors(work: () => unknown): void {
  try {
    work();
  } catch (err) {
    expect(err).toBeInstanceOf(MysqlProtocolError);
  }
}

describe('parsers on random input', () => {
  it('decoders-return-or-throw-a-protocol-error-only', () => {
    for (let i = 0; i < ROUNDS; i += 1) {
      const b = noise();
      onlyProtocolErrors(() => decodeHandshakeV10(b));
      onlyProtocolErrors(() => decodeHandshakeResponse41(b));
      onlyProtocolErrors(() => decodeAuthSwitchRequest(b));
      onlyProtocolErrors(() => decodeCommand(b.length > 0 ? b : Buffer.from([Command.QUERY])));
      onlyProtocolErrors(() => decodeStmtPrepareOk(b));
      decodeOk(b);
      decodeErr(b);
    }
  });

  it('execute-parameter-decoding-never-throws', () => {
    for (let i = 0; i < ROUNDS; i += 1) {
      const b = Buffer.concat([Buffer.from([Command.STMT_EXECUTE]), randomBytes(randomInt(0, 80))]);
      const got = decodeExecuteParams(b, { numParams: randomInt(0, 8) });
      expect(Array.isArray(got.values)).toBe(true);
    }
  });

  it('framing-and-response-tracking-survive-random-streams', () => {
    for (let i = 0; i < 300; i += 1) {
      const stream = randomBytes(randomInt(0, 4096));
      const scanner = new FrameScanner({ headLimit: 16 });
      const tracker = new ResponseTracker(
        ['result', 'prepare', 'fetch', 'field-list', 'single'][randomInt(5)] as 'result',
        { isDeprecateEof: randomInt(2) === 0 },
      );
      let cut = 0;
      while (cut < stream.length) {
        const next = Math.min(stream.length, cut + randomInt(1, 300));
        scanner.push(stream.subarray(cut, next), {
          start: () => undefined,
          head: (h) =>
            onlyProtocolErrors(() => {
              if (!tracker.isDone) tracker.accept(h.bytes, h.bytes.length);
            }),
          end: () => undefined,
        });
        cut = next;
      }
      const reader = new PacketReader({ maxPayloadBytes: 1024 });
      reader.push(stream);
    }
  });
});
