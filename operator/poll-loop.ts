// The leader's poll loop, one chain per leadership term: read the lag, watch Redis for restarts,
// scale the workers, and requeue the sales whose status those readings change.
import type { Logger } from '../core/logging.js';
import { describeError } from './kube/client.js';
import type { LagMonitor } from './lag-monitor.js';
import type { FlashSale } from './model/types.js';
import type { RedisWatch } from './redis-watch.js';
import type { ScalerLoop } from './scaling/scaler-loop.js';

/** Lag changes refresh the statuses at most this often (the status shows the lag). */
const LAG_REFRESH_MS = 5_000;

export interface PollLoopDeps {
  lag: LagMonitor;
  redisWatch: RedisWatch;
  scaler: ScalerLoop;
  logger: Logger;
  sales: () => FlashSale[];
  requeue: (sale: FlashSale) => void;
  isLeader: () => boolean;
  intervalMs: number;
}

export class PollLoop {
  private timer: NodeJS.Timeout | undefined;
  /** A term that ends leaves its chain to die out. */
  private term = 0;
  private lastLagTotal: number | undefined;
  private lastLagRefreshMs = 0;

  constructor(private readonly d: PollLoopDeps) {}

  /** Leadership gained: one lag read, every sale reconciled, then the loop. */
  start(): void {
    const myTerm = ++this.term;
    void this.d.lag.poll().finally(() => {
      if (myTerm !== this.term) return;
      for (const s of this.d.sales()) this.d.requeue(s);
      this.schedule(myTerm);
    });
  }

  /** Leadership lost or shutdown. */
  stop(): void {
    this.term++;
    clearTimeout(this.timer);
    this.d.scaler.reset();
    this.d.redisWatch.reset();
  }

  private schedule(myTerm: number): void {
    this.timer = setTimeout(() => {
      this.poll()
        .catch((e) => this.d.logger.warn({ err: describeError(e) }, 'poll failed'))
        .finally(() => {
          // Only the end of the term stops the chain (stop() is called on every leadership loss):
          // a renewal merely late at this instant must not end the loop for the rest of the term.
          if (myTerm === this.term) this.schedule(myTerm);
        });
    }, this.d.intervalMs);
  }

  private async poll(): Promise<void> {
    if (!this.d.isLeader()) return;
    const { lag, redisWatch, scaler, requeue } = this.d;
    await lag.poll();
    const sales = this.d.sales();
    for (const s of await redisWatch.check(sales)) requeue(s);
    const changed = await scaler.run(sales);
    const total = lag.latest?.ok ? lag.latest.reading.lag.total : undefined;
    const lagMoved = total !== this.lastLagTotal && Date.now() - this.lastLagRefreshMs >= LAG_REFRESH_MS;
    for (const s of sales) {
      const dep = s.spec.workers ? `${s.metadata.namespace}/${s.spec.workers.deployment}` : undefined;
      if (lagMoved || (dep && changed.has(dep))) requeue(s);
    }
    if (lagMoved) {
      this.lastLagTotal = total;
      this.lastLagRefreshMs = Date.now();
    }
  }
}
