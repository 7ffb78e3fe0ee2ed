import type { ChainedEvents } from './chain.js';
import type { ValidAuditEvent } from './validate.js';

/** Where one caller's events landed in a group: `chained` from its `offset` on. */
export interface GroupPlace {
  readonly chained: ChainedEvents;
  readonly offset: number;
}

/** What a {@link GroupCommit} does with a group. */
export interface GroupCommitOptions {
  /**
   * How long the first event of a group waits for others before the group is committed;
   * 0: at the next turn of the event loop. While a commit runs, what arrives waits for it
   * either way and goes into the next one.
   */
  readonly windowMs: number;
  /** Appends the group in one transaction; rejects with the error every caller is given. */
  readonly commit: (events: readonly ValidAuditEvent[]) => Promise<ChainedEvents>;
  /** Told how many events a commit added, once its callers are told. */
  readonly onCommitted: (count: number) => void;
}

interface Waiter {
  readonly events: readonly ValidAuditEvent[];
  readonly resolve: (place: GroupPlace) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Events from any number of callers committed together, one group at a time: one store
 * transaction (and one disk sync) serves everyone who asked while the previous one ran or
 * within the window. On a busy store, where each transaction waits its turn for the one
 * connection, this keeps the wait of an event independent of how many others are waiting.
 */
export class GroupCommit {
  readonly #options: GroupCommitOptions;
  #queue: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #running: Promise<void> | undefined;

  constructor(options: GroupCommitOptions) {
    this.#options = options;
  }

  /** Queues `events` (in order, together); resolves with their place once committed. */
  add(events: readonly ValidAuditEvent[]): Promise<GroupPlace> {
    const queued = new Promise<GroupPlace>((resolve, reject) =>
      this.#queue.push({ events, resolve, reject }),
    );
    this.#schedule();
    return queued;
  }

  /** Commits whatever is queued now, and waits for every commit under way to end. */
  async flush(): Promise<void> {
    while (this.#running !== undefined || this.#queue.length > 0)
      await (this.#running ?? this.#commitNow());
  }

  #schedule(): void {
    if (
      this.#running !== undefined ||
      this.#timer !== undefined ||
      this.#immediate !== undefined ||
      this.#queue.length === 0
    )
      return;
    const start = (): void => void this.#commitNow();
    // A caller awaits the next-turn commit (keep the process alive for it); a windowed group
    // is what close() flushes.
    if (this.#options.windowMs <= 0) {
      this.#immediate = setImmediate(start);
    } else {
      this.#timer = setTimeout(start, this.#options.windowMs);
      this.#timer.unref();
    }
  }

  #commitNow(): Promise<void> {
    clearTimeout(this.#timer);
    clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    const waiters = this.#queue;
    this.#queue = [];
    const run = this.#commit(waiters);
    this.#running = run.finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
    return this.#running;
  }

  async #commit(waiters: readonly Waiter[]): Promise<void> {
    if (waiters.length === 0) return;
    const events = waiters.flatMap((w) => w.events);
    let chained: ChainedEvents;
    try {
      chained = await this.#options.commit(events);
    } catch (err) {
      for (const w of waiters) w.reject(err);
      return;
    }
    let offset = 0;
    for (const w of waiters) {
      w.resolve({ chained, offset });
      offset += w.events.length;
    }
    this.#options.onCommitted(events.length);
  }
}
