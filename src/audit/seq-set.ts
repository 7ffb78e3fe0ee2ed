/**
 * A set of event seqs held as one growing Float64Array (8 bytes a seq), sorted once and
 * searched by bisection: a sink with millions of checkpoints stays cheap to hold.
 */
export class SeqSet {
  #seqs = new Float64Array(1024);
  #size = 0;
  #isSorted = true;

  /** Adds a seq (duplicates are harmless). */
  add(seq: number): void {
    if (this.#size === this.#seqs.length) {
      const grown = new Float64Array(this.#seqs.length * 2);
      grown.set(this.#seqs);
      this.#seqs = grown;
    }
    if (this.#size > 0 && seq < (this.#seqs[this.#size - 1] ?? 0)) this.#isSorted = false;
    this.#seqs[this.#size] = seq;
    this.#size += 1;
  }

  /** True when `seq` was added. */
  has(seq: number): boolean {
    if (!this.#isSorted) {
      this.#seqs.subarray(0, this.#size).sort();
      this.#isSorted = true;
    }
    let low = 0;
    let high = this.#size - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const value = this.#seqs[mid] ?? Number.NaN;
      if (value === seq) return true;
      if (value < seq) low = mid + 1;
      else high = mid - 1;
    }
    return false;
  }
}
