/**
 * A Map that forgets its oldest entries past a count or a total size, for per-session
 * tables a client fills (prepared statements, portals): memory stays bounded whatever it sends.
 */
export class BoundedMap<K, V> {
  readonly #map = new Map<K, { readonly value: V; readonly size: number }>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #sizeOf: (value: V) => number;
  #bytes = 0;

  constructor(options: {
    readonly maxEntries: number;
    readonly maxBytes: number;
    readonly sizeOf: (value: V) => number;
  }) {
    this.#maxEntries = options.maxEntries;
    this.#maxBytes = options.maxBytes;
    this.#sizeOf = options.sizeOf;
  }

  /** Entries held. */
  get size(): number {
    return this.#map.size;
  }

  /** Bytes held, as `sizeOf` counts them. */
  get bytes(): number {
    return this.#bytes;
  }

  get(key: K): V | undefined {
    return this.#map.get(key)?.value;
  }

  /** Sets `key` (as the newest entry), then forgets the oldest until within bounds. */
  set(key: K, value: V): void {
    this.delete(key);
    const size = this.#sizeOf(value);
    this.#map.set(key, { value, size });
    this.#bytes += size;
    for (const [oldest, entry] of this.#map) {
      if (this.#map.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      if (oldest === key) break; // never drop what was just set
      this.#map.delete(oldest);
      this.#bytes -= entry.size;
    }
  }

  delete(key: K): void {
    const entry = this.#map.get(key);
    if (entry === undefined) return;
    this.#map.delete(key);
    this.#bytes -= entry.size;
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }
}
