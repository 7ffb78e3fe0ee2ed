/** What a kind of operation did: every attempt ends as a success or a failure. */
export interface OperationCount {
  attempted: number;
  succeeded: number;
  failed: number;
  /** Milliseconds, successes only. */
  totalMs: number;
  maxMs: number;
}

/** Failures kept with their message (the first ones; the counts hold them all). */
const MAX_KEPT_FAILURES = 50;

/**
 * Counts every operation of the load (attempted = succeeded + failed) and the audit events the
 * successful ones must have left, by event type: the soak compares these with the chain.
 */
export class Tally {
  readonly operations = new Map<string, OperationCount>();
  readonly expectedEvents = new Map<string, number>();
  readonly failures: { readonly operation: string; readonly message: string }[] = [];
  #inFlight = 0;

  /** Operations started and not finished yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Runs `work` as one `operation`; when it succeeds, adds the events it returns to the
   * expected ones. A failure is counted and kept, never thrown: the load goes on.
   */
  async run(
    operation: string,
    work: () => Promise<Readonly<Record<string, number>>>,
  ): Promise<boolean> {
    const count = this.#count(operation);
    count.attempted += 1;
    this.#inFlight += 1;
    const started = performance.now();
    try {
      const events = await work();
      const ms = performance.now() - started;
      count.succeeded += 1;
      count.totalMs += ms;
      count.maxMs = Math.max(count.maxMs, ms);
      this.expect(events);
      return true;
    } catch (err) {
      count.failed += 1;
      if (this.failures.length < MAX_KEPT_FAILURES)
        this.failures.push({
          operation,
          message: err instanceof Error ? err.message : String(err),
        });
      return false;
    } finally {
      this.#inFlight -= 1;
    }
  }

  /** Adds expected audit events. */
  expect(events: Readonly<Record<string, number>>): void {
    for (const [type, n] of Object.entries(events))
      this.expectedEvents.set(type, (this.expectedEvents.get(type) ?? 0) + n);
  }

  /** Operations attempted, succeeded and failed, over every kind. */
  totals(): { attempted: number; succeeded: number; failed: number } {
    let attempted = 0;
    let succeeded = 0;
    let failed = 0;
    for (const c of this.operations.values()) {
      attempted += c.attempted;
      succeeded += c.succeeded;
      failed += c.failed;
    }
    return { attempted, succeeded, failed };
  }

  #count(operation: string): OperationCount {
    let count = this.operations.get(operation);
    if (count === undefined) {
      count = { attempted: 0, succeeded: 0, failed: 0, totalMs: 0, maxMs: 0 };
      this.operations.set(operation, count);
    }
    return count;
  }
}

/** The events of one session on a target, from login to close (SSH and databases alike). */
export const SESSION_EVENTS: Readonly<Record<string, number>> = {
  'auth.success': 1,
  'session.start': 1,
  'credential.unlock': 1,
  'lease.release': 1,
  'session.end': 1,
};
