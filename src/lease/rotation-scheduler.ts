import { systemClock, type Clock } from '../core/clock.js';
import type { Target } from '../core/types.js';

/** How often the scheduler looks for credentials due for rotation. */
export const ROTATION_CHECK_INTERVAL_MS = 60_000;
/** Longest wait before retrying a target whose rotation failed. */
export const MAX_ROTATION_BACKOFF_MS = 60 * 60_000;

/** Dependencies of {@link RotationScheduler}. */
export interface RotationSchedulerDeps {
  /** Rotates one target (e.g. `rotateCredential` with the scheduler as actor). */
  readonly rotate: (targetName: string) => Promise<unknown>;
  readonly listTargets: () => Promise<readonly Target[]>;
  /** `created_at` of the target's active credential; undefined when it has none. */
  readonly activeCreatedAt: (target: Target) => Promise<number | undefined>;
  /** Told about a failed rotation or check; the scheduler keeps going. */
  readonly onError: (err: unknown, targetName: string | undefined) => void;
  readonly clock?: Clock;
  readonly intervalMs?: number;
}

interface Backoff {
  readonly failures: number;
  readonly notBefore: number;
}

/**
 * Rotates database credentials when their active version is older than the target's
 * `rotateEveryS` (DESIGN.md §4). Checks on a timer; one rotation per target at a time; a
 * target whose rotation failed is retried after a doubling delay (capped at an hour) so a
 * down target does not fill the audit log with a failure a minute.
 */
export class RotationScheduler implements AsyncDisposable {
  readonly #deps: RotationSchedulerDeps;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #running = new Map<string, Promise<void>>();
  readonly #backoff = new Map<string, Backoff>();
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;

  constructor(deps: RotationSchedulerDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#intervalMs = deps.intervalMs ?? ROTATION_CHECK_INTERVAL_MS;
    if (!Number.isInteger(this.#intervalMs) || this.#intervalMs <= 0)
      throw new RangeError('intervalMs must be a positive integer');
  }

  /** Starts checking every interval (the first check after one interval). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      void this.check();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for rotations already started. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checking;
    await Promise.allSettled([...this.#running.values()]);
  }

  /** Same as {@link stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** Targets being rotated now. */
  get rotating(): readonly string[] {
    return [...this.#running.keys()];
  }

  /** Looks once for due credentials and starts their rotations; resolves when those are started. */
  check(): Promise<void> {
    // A slow store must not pile checks up.
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /** Resolves when every rotation started so far has ended. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#running.values()]);
  }

  async #check(): Promise<void> {
    let targets: readonly Target[];
    try {
      targets = await this.#deps.listTargets();
    } catch (err) {
      this.#report(err, undefined);
      return;
    }
    for (const target of targets) {
      if (
        target.kind === 'ssh' ||
        target.options.rotateEveryS <= 0 ||
        this.#running.has(target.name)
      )
        continue;
      if (this.#clock() < (this.#backoff.get(target.name)?.notBefore ?? 0)) continue;
      try {
        const createdAt = await this.#deps.activeCreatedAt(target);
        if (
          createdAt === undefined ||
          this.#clock() - createdAt < target.options.rotateEveryS * 1000
        )
          continue;
      } catch (err) {
        this.#report(err, target.name);
        continue;
      }
      this.#startRotation(target.name);
    }
  }

  #startRotation(name: string): void {
    const rotation = Promise.resolve()
      .then(() => this.#deps.rotate(name))
      .then(
        () => {
          this.#backoff.delete(name);
        },
        (err: unknown) => {
          const failures = (this.#backoff.get(name)?.failures ?? 0) + 1;
          const delayMs = Math.min(this.#intervalMs * 2 ** (failures - 1), MAX_ROTATION_BACKOFF_MS);
          this.#backoff.set(name, { failures, notBefore: this.#clock() + delayMs });
          this.#report(err, name);
        },
      );
    const tracked = rotation.finally(() => {
      this.#running.delete(name);
    });
    this.#running.set(name, tracked);
  }

  #report(err: unknown, name: string | undefined): void {
    try {
      this.#deps.onError(err, name);
    } catch {
      // A failing reporter must not stop the scheduler nor leave a rejection unhandled.
    }
  }
}
