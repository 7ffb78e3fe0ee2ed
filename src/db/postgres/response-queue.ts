/**
 * The client messages still waiting for their answers, oldest first (PostgreSQL answers in
 * order). An array with a head index, so taking the head does not move the rest; the taken
 * part is cut off once it is most of the array.
 */
export class ResponseQueue<T> {
  readonly #items: T[] = [];
  #head = 0;

  /** Entries still waiting. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The oldest entry, if any. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  /** Adds an entry at the end. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** Drops the oldest entry. */
  shift(): void {
    this.#head += 1;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    } else if (this.#head >= this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    }
  }

  /** Removes the entries right after the oldest one for as long as `isDropped` says so. */
  dropAfterHead(isDropped: (item: T) => boolean): void {
    for (;;) {
      const next = this.#items[this.#head + 1];
      if (next === undefined || !isDropped(next)) return;
      this.#items.splice(this.#head + 1, 1);
    }
  }
}
