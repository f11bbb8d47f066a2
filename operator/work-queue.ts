// A small work queue in the spirit of client-go's: a key is never processed twice at once, a key
// enqueued while in flight is processed again afterwards, requeues keep the earliest deadline,
// failures back off per key (exponential, capped) and a success resets the backoff.
export type Handler = (key: string) => Promise<number | undefined>;

export interface WorkQueueOptions {
  concurrency: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
  onError: (key: string, err: unknown, retryInMs: number) => void;
}

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly inFlight = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private running = false;
  private active = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly handler: Handler,
    private readonly o: WorkQueueOptions,
  ) {}

  start(): void {
    this.running = true;
    this.pump();
  }

  /** Stops taking work, drops pending keys and timers; resolves when in-flight handlers finish. */
  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.ready.length = 0;
    this.queued.clear();
    this.dirty.clear();
    this.failures.clear();
    if (this.active === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  add(key: string): void {
    if (!this.running) return;
    if (this.inFlight.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
  }

  addAfter(key: string, ms: number): void {
    if (!this.running) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { at, timer });
  }

  private pump(): void {
    while (this.running && this.active < this.o.concurrency && this.ready.length) {
      const key = this.ready.shift()!;
      this.queued.delete(key);
      this.inFlight.add(key);
      this.active++;
      void this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    try {
      const after = await this.handler(key);
      this.failures.delete(key);
      if (after !== undefined) this.addAfter(key, after);
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const retry = Math.min(this.o.baseBackoffMs * 2 ** (n - 1), this.o.maxBackoffMs);
      this.o.onError(key, err, retry);
      this.addAfter(key, retry);
    } finally {
      this.inFlight.delete(key);
      this.active--;
      if (this.dirty.delete(key)) this.add(key);
      if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
      this.pump();
    }
  }
}
