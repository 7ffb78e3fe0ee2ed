import { describe, expect, it } from 'vitest';
import { CancelKeyRegistry } from './cancel-keys.js';

describe('cancel keys', () => {
  function route(sid: string, log: string[]) {
    return {
      sid,
      cancel: () => Promise.resolve(void log.push(`cancel ${sid}`)),
      onCancel: (from: string) => void log.push(`audit ${sid} ${from}`),
    };
  }

  it('a-right-key-cancels-its-own-session-only', async () => {
    const registry = new CancelKeyRegistry();
    const log: string[] = [];
    const a = registry.register(route('ses_a', log));
    registry.register(route('ses_b', log));
    expect(await registry.cancel(a, '192.0.2.1')).toBe('ses_a');
    expect(log).toEqual(['audit ses_a 192.0.2.1', 'cancel ses_a']);
  });

  it('a-wrong-secret-or-unknown-pid-does-nothing', async () => {
    const registry = new CancelKeyRegistry();
    const log: string[] = [];
    const a = registry.register(route('ses_a', log));
    expect(await registry.cancel({ pid: a.pid, secret: a.secret ^ 1 }, 'x')).toBeUndefined();
    expect(await registry.cancel({ pid: a.pid + 1, secret: a.secret }, 'x')).toBeUndefined();
    expect(log).toEqual([]);
  });

  it('forgotten-keys-no-longer-work-and-keys-are-distinct', async () => {
    const registry = new CancelKeyRegistry();
    const log: string[] = [];
    const keys = Array.from({ length: 200 }, (_, i) => registry.register(route(`s${i}`, log)));
    expect(new Set(keys.map((k) => k.pid)).size).toBe(200);
    const [first] = keys;
    if (first === undefined) throw new Error('no key');
    registry.forget(first);
    expect(registry.size).toBe(199);
    expect(await registry.cancel(first, 'x')).toBeUndefined();
  });
});
