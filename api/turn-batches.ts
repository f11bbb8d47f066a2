// Collects work by key (a sale) until the end of this turn of the event loop, then hands each key's
// list over at once: what the requests read in one turn asked for leaves as one call per key.
// setImmediate, not nextTick: it runs after every socket read of the turn, not after the first.
export class TurnBatches<T> {
  private queued = new Map<string, T[]>();
  private scheduled = false;

  constructor(private readonly flushKey: (key: string, items: T[]) => void) {}

  add(key: string, item: T): void {
    const list = this.queued.get(key);
    if (list) list.push(item);
    else this.queued.set(key, [item]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.queued;
    this.queued = new Map();
    for (const [key, items] of batch) this.flushKey(key, items);
  };
}
