import { describe, expect, it } from 'vitest';
import { noDelayWhileHeld } from './no-delay.js';

describe('noDelayWhileHeld', () => {
  it('no-delay-is-on-while-any-hold-is-kept-and-off-after-the-last-release', () => {
    const calls: boolean[] = [];
    const hold = noDelayWhileHeld((isOn) => calls.push(isOn));
    const first = hold();
    const second = hold();
    expect(calls).toEqual([true]);
    first();
    first(); // a second release of the same hold does not count
    expect(calls).toEqual([true]);
    second();
    expect(calls).toEqual([true, false]);
    hold();
    expect(calls).toEqual([true, false, true]);
  });
});
