import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AccessPolicy } from '../policy/access.js';
import { openScratchStore } from '../../test/support/stores.js';
import { ACCESS_RECHECK_MS, SessionWatch, requestSessionKill } from './session-watch.js';

/** An access policy that answers from a set of denied users and counts what it is asked. */
function fakeAccess(): { access: AccessPolicy; asked: string[]; denied: Set<string> } {
  const asked: string[] = [];
  const denied = new Set<string>();
  const access = {
    isAllowedQuietly: (user: string, target: string): Promise<boolean> => {
      asked.push(`${user}->${target}`);
      return Promise.resolve(!denied.has(user));
    },
  } as unknown as AccessPolicy;
  return { access, asked, denied };
}

describe('session watch', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sessions-of-one-user-and-target-share-one-access-check-and-end-together', async () => {
    await using store = await openScratchStore('sqlite');
    vi.useFakeTimers();
    const { access, asked, denied } = fakeAccess();
    const watch = new SessionWatch({ db: store.db, access });
    const alice = Array.from({ length: 5 }, (_, i) => watch.watch(`ses_a${i}`, 'alice', 'web-1'));
    const bob = watch.watch('ses_b', 'bob', 'web-1');

    await vi.advanceTimersByTimeAsync(ACCESS_RECHECK_MS + 500);
    expect(asked.sort()).toEqual(['alice->web-1', 'bob->web-1']);

    denied.add('alice');
    await vi.advanceTimersByTimeAsync(ACCESS_RECHECK_MS + 500);
    expect(alice.every((signal) => signal.aborted)).toBe(true);
    expect(String(alice[0]?.reason)).toMatch(/^access ended/);
    expect(bob.aborted).toBe(false);

    // A kill request still ends just the session it names.
    await requestSessionKill(store.db, 'ses_b', 'killed by test');
    await vi.advanceTimersByTimeAsync(1_000);
    expect([bob.aborted, bob.reason]).toEqual([true, 'killed by test']);
    for (const sid of ['ses_a0', 'ses_a1', 'ses_a2', 'ses_a3', 'ses_a4', 'ses_b'])
      await watch.forget(sid);
  });
});
