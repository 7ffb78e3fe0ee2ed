import { describe, expect, it } from 'vitest';
import { EchoTracker, maskedText, type SettledInput } from './index.js';

function typed(tracker: EchoTracker, keys: string, atMs: number): SettledInput[] {
  return tracker.input(keys, atMs);
}

describe('echo tracker', () => {
  it('keys-echoed-by-the-shell-are-kept-as-typed', () => {
    const echo = new EchoTracker();
    typed(echo, 'l', 0);
    expect(echo.output('l')).toEqual([{ atMs: 0, kind: 'typed', text: 'l' }]);
    typed(echo, 's', 100);
    expect(echo.output('s')).toEqual([{ atMs: 100, kind: 'typed', text: 's' }]);
    typed(echo, '\r', 200);
    expect(echo.output('\r\nfile1  file2\r\n$ ')).toEqual([
      { atMs: 200, kind: 'control', text: '\r' },
    ]);
    expect(echo.nextDeadlineMs).toBeUndefined();
  });

  it('keys-without-echo-are-masked-when-the-window-ends', () => {
    const echo = new EchoTracker({ windowMs: 250 });
    typed(echo, 'h', 0);
    typed(echo, 'u', 120);
    expect(echo.nextDeadlineMs).toBe(250);
    expect(echo.settleDue(249)).toEqual([]);
    expect(echo.settleDue(250)).toEqual([{ atMs: 0, kind: 'masked', text: 'h' }]);
    expect(echo.settleDue(400)).toEqual([{ atMs: 120, kind: 'masked', text: 'u' }]);
  });

  it('the-echo-of-enter-before-the-keys-masks-them-so-a-prompt-cannot-match-a-password', () => {
    // password "hunter2" typed fast at a no-echo prompt; the shell prompt after it starts
    // with the same letters
    const echo = new EchoTracker();
    typed(echo, 'hunter2\r', 0);
    const settled = [...echo.output('\r\n'), ...echo.output('hunter@box:~$ ')];
    expect(maskedText(settled)).toBe('*******\r');
  });

  it('output-that-differs-masks-everything-held', () => {
    const echo = new EchoTracker();
    typed(echo, 'ab', 0);
    typed(echo, 'c', 10);
    expect(maskedText(echo.output('zzz'))).toBe('***');
  });

  it('sudo-pwfeedback-asterisks-are-not-an-echo', () => {
    const echo = new EchoTracker();
    typed(echo, 's', 0);
    expect(echo.output('*')).toEqual([{ atMs: 0, kind: 'masked', text: 's' }]);
  });

  it('a-paste-echoed-across-two-chunks-is-typed', () => {
    const echo = new EchoTracker();
    typed(echo, 'git status', 0);
    expect(maskedText(echo.output('git st'))).toBe('git st');
    expect(maskedText(echo.output('atus'))).toBe('atus');
  });

  it('echo-wrapped-in-colour-and-cursor-sequences-is-recognised', () => {
    const echo = new EchoTracker();
    typed(echo, 'ls', 0);
    const settled = echo.output(
      '\u001b[?25l\u001b[32ml\u001b]0;title\u0007s\u001b(B\u001b[m\u001b[?25h',
    );
    expect(settled.map((s) => s.kind)).toEqual(['typed', 'typed']);
  });

  it('control-keys-and-escape-sequences-are-kept-as-they-are', () => {
    const echo = new EchoTracker();
    typed(echo, '\u0003\u001b[A\u001b[200~x\u001b[201~\u001bOP', 0);
    const settled = echo.settleAll();
    expect(settled).toEqual([
      { atMs: 0, kind: 'control', text: '\u0003' },
      { atMs: 0, kind: 'control', text: '\u001b[A' },
      { atMs: 0, kind: 'control', text: '\u001b[200~' },
      { atMs: 0, kind: 'masked', text: 'x' },
      { atMs: 0, kind: 'control', text: '\u001b[201~' },
      { atMs: 0, kind: 'control', text: '\u001bOP' },
    ]);
  });

  it('multibyte-keys-are-matched-whole', () => {
    const echo = new EchoTracker();
    typed(echo, 'é😀', 0);
    expect(maskedText(echo.output('é😀'))).toBe('é😀');
    typed(echo, 'é😀', 1);
    expect(maskedText(echo.settleAll())).toBe('**');
  });

  it('held-keys-are-bounded', () => {
    const echo = new EchoTracker({ maxHeld: 4 });
    expect(maskedText(typed(echo, 'abcdef', 0))).toBe('**');
    expect(maskedText(echo.settleAll())).toBe('****');
  });
});
