interface Entry<T> {
  readonly id: number;
  readonly value: T;
  readonly weight: number;
  /** Global arrival order, for eviction. */
  older: Entry<T> | undefined;
  newer: Entry<T> | undefined;
  /** The next request that reused this id. */
  nextSameId: Entry<T> | undefined;
}

interface Chain<T> {
  head: Entry<T>;
  tail: Entry<T>;
}

/** Limits and eviction callback of a {@link RequestTable}. */
export interface RequestTableOptions<T> {
  readonly maxEntries: number;
  /** Largest total weight (the caller's measure of an entry's memory); unbounded if absent. */
  readonly maxWeight?: number;
  readonly onEvict: (id: number, value: T) => void;
}

/**
 * Outstanding requests by id, bounded by count and total weight, every operation O(1). An id
 * sent again while outstanding is queued behind the first: OpenSSH's server answers in order,
 * so replies with that id match first-in first-out (overwriting would let a reused id hide the
 * first request from the audit). Past a bound, the oldest requests go to `onEvict`.
 *
 * Arrival order is a linked list of its own: evicting through a `Map`'s iteration order is
 * quadratic in V8 (deleted slots stay until a rehash and are skipped one by one).
 */
export class RequestTable<T> {
  readonly #chains = new Map<number, Chain<T>>();
  readonly #maxEntries: number;
  readonly #maxWeight: number;
  readonly #onEvict: (id: number, value: T) => void;
  #oldest: Entry<T> | undefined;
  #newest: Entry<T> | undefined;
  #size = 0;
  #weight = 0;

  constructor(options: RequestTableOptions<T>) {
    this.#maxEntries = Math.max(1, options.maxEntries);
    this.#maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
    this.#onEvict = options.onEvict;
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** Sum of the weights held. */
  get weight(): number {
    return this.#weight;
  }

  /** Adds a request weighing `weight`; returns true when `id` was already outstanding. */
  add(id: number, value: T, weight = 0): boolean {
    while (
      this.#oldest !== undefined &&
      (this.#size >= this.#maxEntries || this.#weight + weight > this.#maxWeight)
    ) {
      const evicted = this.#oldest;
      this.take(evicted.id); // the oldest request is always the head of its id's chain
      this.#onEvict(evicted.id, evicted.value);
    }
    const entry: Entry<T> = {
      id,
      value,
      weight,
      older: this.#newest,
      newer: undefined,
      nextSameId: undefined,
    };
    if (this.#newest === undefined) this.#oldest = entry;
    else this.#newest.newer = entry;
    this.#newest = entry;
    this.#size += 1;
    this.#weight += weight;
    const chain = this.#chains.get(id);
    if (chain === undefined) {
      this.#chains.set(id, { head: entry, tail: entry });
      return false;
    }
    chain.tail.nextSameId = entry;
    chain.tail = entry;
    return true;
  }

  /** Removes and returns the earliest outstanding request with `id`. */
  take(id: number): T | undefined {
    const chain = this.#chains.get(id);
    if (chain === undefined) return undefined;
    const { head } = chain;
    if (head.nextSameId === undefined) this.#chains.delete(id);
    else chain.head = head.nextSameId;
    if (head.older === undefined) this.#oldest = head.newer;
    else head.older.newer = head.newer;
    if (head.newer === undefined) this.#newest = head.older;
    else head.newer.older = head.older;
    this.#size -= 1;
    this.#weight -= head.weight;
    return head.value;
  }

  /** Removes and returns every entry, oldest first. */
  drain(): Array<[number, T]> {
    const all: Array<[number, T]> = [];
    for (let entry = this.#oldest; entry !== undefined; entry = entry.newer) {
      all.push([entry.id, entry.value]);
    }
    this.#chains.clear();
    this.#oldest = undefined;
    this.#newest = undefined;
    this.#size = 0;
    this.#weight = 0;
    return all;
  }
}
