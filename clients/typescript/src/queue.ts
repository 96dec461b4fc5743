// An unbounded queue read with `for await`: what a producer pushes, a single reader takes in order.

export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private failWaiting: ((error: unknown) => void) | undefined;
  private ended = false;
  private failure: { error: unknown } | undefined;

  /** Add an item; ignored once the queue has ended. */
  push(item: T): void {
    if (this.ended) return;
    if (this.waiting) this.settle().resolve({ value: item, done: false });
    else this.items.push(item);
  }

  /** No more items: the reader finishes after the ones queued. */
  end(): void {
    this.ended = true;
    if (this.waiting && this.items.length === 0) this.settle().resolve({ value: undefined, done: true });
  }

  /** No more items: the reader gets `error` after the ones queued. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.failure = { error };
    this.ended = true;
    if (this.waiting && this.items.length === 0) this.settle().reject(error);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length > 0) {
        yield this.items.shift() as T;
        continue;
      }
      if (this.failure) throw this.failure.error;
      if (this.ended) return;
      const next = await new Promise<IteratorResult<T>>((resolve, reject) => {
        this.waiting = resolve;
        this.failWaiting = reject;
      });
      if (next.done) return;
      yield next.value;
    }
  }

  private settle() {
    const resolve = this.waiting!;
    const reject = this.failWaiting!;
    this.waiting = this.failWaiting = undefined;
    return { resolve, reject };
  }
}
