/**
 * Things to undo, undone in reverse order (Node 20 has no AsyncDisposableStack). A failure of
 * one does not stop the others; the first is rethrown at the end.
 */
export class Cleanup implements AsyncDisposable {
  readonly #steps: (() => unknown)[] = [];

  /** Registers `resource` for disposal and returns it. */
  use<T extends AsyncDisposable>(resource: T): T {
    this.#steps.push(() => resource[Symbol.asyncDispose]());
    return resource;
  }

  /** Registers a step. */
  defer(step: () => unknown): void {
    this.#steps.push(step);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    let failure: Error | undefined;
    for (let step = this.#steps.pop(); step !== undefined; step = this.#steps.pop()) {
      try {
        await step();
      } catch (err) {
        failure ??= err instanceof Error ? err : new Error(String(err));
      }
    }
    if (failure !== undefined) throw failure;
  }
}
