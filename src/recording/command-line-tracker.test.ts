import { describe, expect, it } from 'vitest';
import { CommandLineTracker, MAX_COMMAND_CHARS } from './index.js';
import { settledTokens as tokensOf } from '../../test/support/recording-fixtures.js';

describe('command line tracker', () => {
  it('enter-yields-the-line-typed-so-far', () => {
    const tracker = new CommandLineTracker();
    expect(tracker.push(tokensOf('typed', 'ls -la /etc'))).toEqual([]);
    expect(tracker.push(tokensOf('control', '\r', 42))).toEqual([
      { text: 'ls -la /etc', atMs: 42, isBestEffort: true },
    ]);
  });

  it('backspace-ctrl-w-ctrl-u-and-ctrl-c-edit-the-line', () => {
    const tracker = new CommandLineTracker();
    tracker.push([...tokensOf('typed', 'rm -rf /tmpx'), ...tokensOf('control', '\u007f')]);
    expect(tracker.push(tokensOf('control', '\r'))).toMatchObject([{ text: 'rm -rf /tmp' }]);
    tracker.push([...tokensOf('typed', 'echo one two  '), ...tokensOf('control', '\u0017')]);
    expect(tracker.push(tokensOf('control', '\n'))).toMatchObject([{ text: 'echo one' }]);
    tracker.push([
      ...tokensOf('typed', 'shutdown now'),
      ...tokensOf('control', '\u0015'),
      ...tokensOf('typed', 'uptime'),
    ]);
    expect(tracker.push(tokensOf('control', '\r'))).toMatchObject([{ text: 'uptime' }]);
    tracker.push([...tokensOf('typed', 'half typed'), ...tokensOf('control', '\u0003')]);
    expect(tracker.push(tokensOf('control', '\r'))).toEqual([]);
  });

  it('arrow-keys-and-tab-are-dropped', () => {
    const tracker = new CommandLineTracker();
    const tokens = [
      ...tokensOf('typed', 'cat'),
      { atMs: 0, kind: 'control' as const, text: '\u001b[D' },
      { atMs: 0, kind: 'control' as const, text: '\t' },
      ...tokensOf('typed', ' x'),
      ...tokensOf('control', '\r'),
    ];
    expect(tracker.push(tokens)).toMatchObject([{ text: 'cat x', isBestEffort: true }]);
  });

  it('a-line-with-a-masked-character-is-never-yielded', () => {
    const tracker = new CommandLineTracker();
    const tokens = [
      ...tokensOf('typed', 'hu'),
      ...tokensOf('masked', 'nter2'),
      ...tokensOf('control', '\r'),
    ];
    expect(tracker.push(tokens)).toEqual([]);
    // backspacing over the masked part does not make the rest of the line a command
    tracker.push([
      ...tokensOf('masked', 'pw'),
      ...tokensOf('control', '\u007f\u007f'),
      ...tokensOf('typed', 'ab'),
    ]);
    expect(tracker.push(tokensOf('control', '\r'))).toEqual([]);
    // the next line is followed again
    tracker.push(tokensOf('typed', 'whoami'));
    expect(tracker.push(tokensOf('control', '\r'))).toMatchObject([{ text: 'whoami' }]);
  });

  it('blank-lines-are-not-yielded-and-long-lines-are-capped', () => {
    const tracker = new CommandLineTracker();
    expect(tracker.push([...tokensOf('typed', '   '), ...tokensOf('control', '\r')])).toEqual([]);
    tracker.push(tokensOf('typed', 'y'.repeat(MAX_COMMAND_CHARS + 100)));
    const [line] = tracker.push(tokensOf('control', '\r'));
    expect(line?.text).toHaveLength(MAX_COMMAND_CHARS);
  });
});
