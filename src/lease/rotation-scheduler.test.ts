import { describe, expect, it } from 'vitest';
import { DEFAULT_TARGET_OPTIONS, type Target } from '../core/types.js';
import { RotationScheduler, type RotationSchedulerDeps } from './rotation-scheduler.js';

const START_MS = 1_800_000_000_000;

function target(name: string, kind: Target['kind'], rotateEveryS: number): Target {
  return {
    id: `tgt_${name}`,
    name,
    kind,
    host: '127.0.0.1',
    port: 5432,
    username: 'leased',
    database: null,
    labels: {},
    options: { ...DEFAULT_TARGET_OPTIONS, rotateEveryS },
    hostKey: null,
    createdAt: 0,
  };
}

/** A scheduler over fake targets whose credentials are "rotated" by stamping the clock. */
function setup(targets: readonly Target[], overrides: Partial<RotationSchedulerDeps> = {}) {
  const clock = { now: START_MS };
  const createdAt = new Map<string, number>(targets.map((t) => [t.name, START_MS]));
  const rotated: string[] = [];
  const errors: [string | undefined, unknown][] = [];
  const scheduler = new RotationScheduler({
    rotate: (name) => {
      rotated.push(name);
      createdAt.set(name, clock.now);
      return Promise.resolve();
    },
    listTargets: () => Promise.resolve(targets),
    activeCreatedAt: (t) => Promise.resolve(createdAt.get(t.name)),
    onError: (err, name) => errors.push([name, err]),
    clock: () => clock.now,
    intervalMs: 10,
    ...overrides,
  });
  return { clock, createdAt, rotated, errors, scheduler };
}

describe('rotation scheduler', () => {
  it('rotates-database-targets-whose-active-credential-is-older-than-rotate-every', async () => {
    const { clock, rotated, scheduler } = setup([
      target('orders', 'postgres', 3600),
      target('billing', 'mysql', 7200),
      target('never', 'postgres', 0),
      target('web', 'ssh', 60),
    ]);

    await scheduler.check();
    await scheduler.idle();
    expect(rotated).toEqual([]);

    clock.now += 3600 * 1000;
    await scheduler.check();
    await scheduler.idle();
    expect(rotated).toEqual(['orders']);

    clock.now += 3600 * 1000;
    await scheduler.check();
    await scheduler.idle();
    expect(rotated).toEqual(['orders', 'orders', 'billing']);
    await scheduler.stop();
  });

  it('timer-checks-on-its-interval-and-stop-ends-it', async () => {
    const { clock, rotated, scheduler } = setup([target('orders', 'postgres', 60)]);
    clock.now += 61_000;
    scheduler.start();
    await expect.poll(() => rotated.length, { timeout: 2_000, interval: 5 }).toBe(1);

    await scheduler.stop();
    clock.now += 61_000;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(rotated).toEqual(['orders']);
  });

  it('one-rotation-per-target-at-a-time', async () => {
    let release = (): void => undefined;
    const calls: string[] = [];
    const { clock, scheduler } = setup([target('orders', 'postgres', 60)], {
      rotate: (name) => {
        calls.push(name);
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    });
    clock.now += 61_000;

    await scheduler.check();
    await scheduler.check();
    await scheduler.check();
    expect(calls).toEqual(['orders']);
    expect(scheduler.rotating).toEqual(['orders']);

    release();
    await scheduler.stop();
    expect(scheduler.rotating).toEqual([]);
  });

  it('failed-rotation-is-reported-and-retried-after-a-doubling-delay', async () => {
    let attempts = 0;
    const { clock, errors, scheduler } = setup([target('orders', 'postgres', 60)], {
      rotate: () => {
        attempts++;
        return Promise.reject(new Error('target down'));
      },
      intervalMs: 1_000,
    });
    clock.now += 61_000;
    const tick = async (advanceMs: number): Promise<void> => {
      clock.now += advanceMs;
      await scheduler.check();
      await scheduler.idle();
    };

    await tick(0);
    expect(attempts).toBe(1);
    expect(errors).toEqual([['orders', new Error('target down')]]);
    await tick(500); // before the 1 s back-off
    expect(attempts).toBe(1);
    await tick(500);
    expect(attempts).toBe(2);
    await tick(1_000); // now 2 s
    expect(attempts).toBe(2);
    await tick(1_000);
    expect(attempts).toBe(3);
  });

  it('a-failing-target-list-is-reported-and-the-scheduler-keeps-going', async () => {
    let isDown = true;
    const orders = target('orders', 'postgres', 60);
    const { clock, errors, rotated, scheduler } = setup([orders], {
      listTargets: () =>
        isDown ? Promise.reject(new Error('store down')) : Promise.resolve([orders]),
    });
    clock.now += 61_000;

    await scheduler.check();
    expect(errors.map(([name, err]) => [name, String(err)])).toEqual([
      [undefined, 'Error: store down'],
    ]);
    isDown = false;
    await scheduler.check();
    await scheduler.idle();
    expect(rotated).toEqual(['orders']);
  });

  it('targets-without-a-credential-are-skipped', async () => {
    const { clock, createdAt, rotated, scheduler } = setup([target('orders', 'postgres', 60)]);
    createdAt.delete('orders');
    clock.now += 61_000;
    await scheduler.check();
    await scheduler.idle();
    expect(rotated).toEqual([]);
  });
});
