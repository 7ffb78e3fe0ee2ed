import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AsciicastWriter, echoWindowFor, type CommandLine, type RecordingMeta } from './index.js';
import {
  ManualClock,
  makeRecordingDir,
  readCastLines,
  sleep,
  type ScratchDir,
} from '../../test/support/recording-fixtures.js';

const META: RecordingMeta = {
  sid: 'ses_mask',
  channel: 0,
  user: 'alice',
  target: 'web1',
  term: { cols: 80, rows: 24 },
};
const CANARY = 'Canary-Pw-7f3e9c';

let scratch: ScratchDir | undefined;
afterEach(() => {
  scratch?.cleanup();
  scratch = undefined;
});

interface Session {
  readonly writer: AsciicastWriter;
  readonly clock: ManualClock;
  readonly commands: CommandLine[];
}

async function startSession(options: { recordInput?: boolean } = {}): Promise<Session> {
  scratch = makeRecordingDir();
  const clock = new ManualClock();
  const commands: CommandLine[] = [];
  const writer = await AsciicastWriter.create(scratch.path, META, {
    clock: clock.now,
    onCommandLine: (line) => {
      commands.push(line);
      writer.marker(line.text);
    },
    ...options,
  });
  return { writer, clock, commands };
}

// A shell that echoes each key as it arrives.
function typeWithEcho({ writer, clock }: Session, keys: string): void {
  for (const key of keys) {
    writer.input(Buffer.from(key));
    clock.advance(3);
    writer.output(Buffer.from(key === '\r' ? '\r\n' : key));
    clock.advance(90);
  }
}

// A prompt with echo off (sudo, read -s): keys produce no output; Enter gets a newline.
function typeWithoutEcho({ writer, clock }: Session, keys: string): void {
  for (const key of keys) {
    writer.input(Buffer.from(key));
    clock.advance(key === '\r' ? 2 : 90);
    if (key === '\r') writer.output(Buffer.from('\r\n'));
  }
}

function inputEvents(path: string): string {
  return readCastLines(path)
    .slice(1)
    .filter((e) => (e as unknown[])[1] === 'i')
    .map((e) => (e as string[])[2])
    .join('');
}

describe('input masking', () => {
  it('a-canary-password-typed-at-a-non-echoing-prompt-is-not-in-the-file', async () => {
    const session = await startSession();
    const { writer, commands } = session;
    writer.output(Buffer.from('$ '));
    typeWithEcho(session, 'sudo id\r');
    writer.output(Buffer.from('[sudo] password for alice: '));
    typeWithoutEcho(session, `${CANARY}\r`);
    writer.output(Buffer.from(`${CANARY.slice(0, 6)}@host uid=0(root)\r\n$ `)); // output beginning like the secret
    typeWithEcho(session, 'exit\r');
    const { path } = await writer.close();

    const file = readFileSync(path, 'utf8');
    expect(file).not.toContain(CANARY);
    expect(inputEvents(path)).toBe(`sudo id\r${'*'.repeat(CANARY.length)}\rexit\r`);
    expect(commands.map((c) => c.text)).toEqual(['sudo id', 'exit']);
    const markers = readCastLines(path).filter((e) => (e as unknown[])[1] === 'm');
    expect(markers).toEqual([
      [expect.any(Number), 'm', 'sudo id'],
      [expect.any(Number), 'm', 'exit'],
    ]);
  });

  it('keys-and-echoes-are-read-in-a-batch-later-and-keep-their-own-times', async () => {
    const session = await startSession();
    const { writer, clock, commands } = session;
    writer.output(Buffer.from('$ '));
    typeWithEcho(session, 'ls\r');
    // Only logged so far: nothing decided on the keystrokes' way, no command told yet.
    expect(commands).toEqual([]);
    clock.advance(5_000);
    await writer.flush();
    expect(commands.map((c) => c.text)).toEqual(['ls']);
    const { path } = await writer.close();
    // Each event has the time its chunk passed, not the time the batch was read; the marker of
    // the command line has the time of the echo that ended it, and comes before that echo.
    let atMs = 0;
    const timed = readCastLines(path)
      .slice(1)
      .map((e) => {
        const [interval, code, data] = e as [number, string, string];
        atMs += Math.round(interval * 1000);
        return [atMs, code, data];
      });
    expect(timed).toEqual([
      [0, 'o', '$ '],
      [0, 'i', 'l'],
      [3, 'o', 'l'],
      [93, 'i', 's'],
      [96, 'o', 's'],
      [186, 'i', '\r'],
      [189, 'm', 'ls'],
      [189, 'o', '\r\n'],
    ]);
  });

  it('slowly-typed-password-is-masked-by-the-echo-window-in-real-time', async () => {
    scratch = makeRecordingDir();
    const commands: CommandLine[] = [];
    const writer = await AsciicastWriter.create(scratch.path, META, {
      echoWindowMs: 50,
      onCommandLine: (line) => commands.push(line),
    });
    writer.output(Buffer.from('Password: '));
    for (const key of CANARY) {
      writer.input(Buffer.from(key));
      await sleep(15);
    }
    await sleep(120); // every key's window has passed with no output at all
    writer.input(Buffer.from('\r'));
    writer.output(Buffer.from('\r\nWelcome\r\n'));
    const { path } = await writer.close();
    expect(readFileSync(path, 'utf8')).not.toContain(CANARY);
    expect(inputEvents(path)).toBe(`${'*'.repeat(CANARY.length)}\r`);
    expect(commands).toEqual([]);
  });

  it('an-echo-from-a-far-target-is-typed-while-a-key-without-echo-is-still-masked', async () => {
    scratch = makeRecordingDir();
    const commands: CommandLine[] = [];
    const writer = await AsciicastWriter.create(scratch.path, META, {
      // A target 150 ms away: 250 + 2 × 150 = 550 ms (the SSH session asks its measured round trip).
      echoWindowMs: () => echoWindowFor(150),
      onCommandLine: (line) => commands.push(line),
    });
    writer.output(Buffer.from('$ '));
    writer.input(Buffer.from('whoami\r'));
    await sleep(350); // past the 250 ms a fixed window gave, within this one
    writer.output(Buffer.from('whoami\r\ngh_leased\r\n$ Password: '));
    writer.input(Buffer.from(CANARY));
    await sleep(700); // past this window too, and nothing was printed
    await writer.flush();
    expect(inputEvents(writer.path)).toBe(`whoami\r${'*'.repeat(CANARY.length)}`);
    writer.input(Buffer.from('\r'));
    writer.output(Buffer.from('\r\n$ '));
    const { path } = await writer.close();
    expect(readFileSync(path, 'utf8')).not.toContain(CANARY);
    expect(commands.map((c) => c.text)).toEqual(['whoami']);
  });

  it('an-echo-that-arrived-while-a-busy-event-loop-let-the-window-run-out-still-counts', async () => {
    scratch = makeRecordingDir();
    const commands: CommandLine[] = [];
    const writer = await AsciicastWriter.create(scratch.path, META, {
      echoWindowMs: 20,
      onCommandLine: (line) => commands.push(line),
    });
    // The echo comes over a real socket, as from the target.
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    const [accepted] = (await once(server, 'connection')) as [Socket];
    accepted.on('data', (echo: Buffer) => writer.output(echo));
    await once(client, 'connect');
    try {
      writer.output(Buffer.from('$ '));
      writer.input(Buffer.from('ls\r'));
      client.write('ls\r\n');
      // A saturated event loop: when it turns again the window has run out and the echo is
      // waiting in the socket, to be read in the same turn, after the timers.
      const until = Date.now() + 100;
      while (Date.now() < until);
      await new Promise((resolve) => setTimeout(resolve, 50));
      writer.output(Buffer.from('a  b\r\n$ '));
      const { path } = await writer.close();
      expect(inputEvents(path)).toBe('ls\r');
      expect(commands.map((c) => c.text)).toEqual(['ls']);
    } finally {
      client.destroy();
      server.close();
    }
  });

  it('a-throwing-command-callback-does-not-break-the-recording', async () => {
    scratch = makeRecordingDir();
    const clock = new ManualClock();
    const writer = await AsciicastWriter.create(scratch.path, META, {
      clock: clock.now,
      onCommandLine: () => {
        throw new Error('audit is down');
      },
    });
    const warned = new Promise((resolve) => process.once('warning', resolve));
    typeWithEcho({ writer, clock, commands: [] }, 'ls\r');
    await warned;
    writer.output(Buffer.from('after'));
    const { path } = await writer.close();
    expect(readCastLines(path).at(-1)).toEqual([expect.any(Number), 'o', 'after']);
  });

  it('input-still-waiting-for-echo-at-close-is-masked', async () => {
    const { writer } = await startSession();
    writer.input(Buffer.from(CANARY));
    const { path } = await writer.close();
    expect(readFileSync(path, 'utf8')).not.toContain(CANARY);
  });

  it('record-input-false-writes-no-input-but-still-follows-commands', async () => {
    const session = await startSession({ recordInput: false });
    typeWithEcho(session, 'uname -a\r');
    typeWithoutEcho(session, `${CANARY}\r`);
    const { path } = await session.writer.close();
    expect(inputEvents(path)).toBe('');
    expect(readFileSync(path, 'utf8')).not.toContain(CANARY);
    expect(session.commands.map((c) => c.text)).toEqual(['uname -a']);
  });

  it('record-input-false-without-command-tracking-records-output-only', async () => {
    scratch = makeRecordingDir();
    const writer = await AsciicastWriter.create(scratch.path, META, { recordInput: false });
    writer.input(Buffer.from('secret'));
    writer.output(Buffer.from('secret'));
    const { path } = await writer.close();
    expect(readCastLines(path).slice(1)).toEqual([[expect.any(Number), 'o', 'secret']]);
  });
});
