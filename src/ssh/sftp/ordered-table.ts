interface Node<K, V> {
  readonly key: K;
  readonly value: V;
  older: Node<K, V> | undefined;
  newer: Node<K, V> | undefined;
}

/**
 * A map that also knows its oldest entry, every operation O(1). (Finding the oldest through a
 * `Map`'s iteration order is quadratic in V8 when entries keep being deleted from the front.)
 */
export class OrderedTable<K, V> {
  readonly #nodes = new Map<K, Node<K, V>>();
  #oldest: Node<K, V> | undefined;
  #newest: Node<K, V> | undefined;

  /** Entries held. */
  get size(): number {
    return this.#nodes.size;
  }

  /** The value of `key`. */
  get(key: K): V | undefined {
    return this.#nodes.get(key)?.value;
  }

  /** Adds `key` as the newest entry (call {@link OrderedTable.delete} first if it exists). */
  add(key: K, value: V): void {
    const node: Node<K, V> = { key, value, older: this.#newest, newer: undefined };
    if (this.#newest === undefined) this.#oldest = node;
    else this.#newest.newer = node;
    this.#newest = node;
    this.#nodes.set(key, node);
  }

  /** Removes `key`; returns its value. */
  delete(key: K): V | undefined {
    const node = this.#nodes.get(key);
    if (node === undefined) return undefined;
    this.#nodes.delete(key);
    if (node.older === undefined) this.#oldest = node.newer;
    else node.older.newer = node.newer;
    if (node.newer === undefined) this.#newest = node.older;
    else node.newer.older = node.older;
    return node.value;
  }

  /** Removes and returns the oldest entry. */
  shift(): [K, V] | undefined {
    const oldest = this.#oldest;
    if (oldest === undefined) return undefined;
    this.delete(oldest.key);
    return [oldest.key, oldest.value];
  }

  /** Removes and returns every entry, oldest first. */
  drain(): Array<[K, V]> {
    const all: Array<[K, V]> = [];
    for (let node = this.#oldest; node !== undefined; node = node.newer)
      all.push([node.key, node.value]);
    this.#nodes.clear();
    this.#oldest = undefined;
    this.#newest = undefined;
    return all;
  }
}
