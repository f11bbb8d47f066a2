// The latest consumer-lag reading, shared by the scaler and the reconciler. A failed read is
// remembered as a failure (never as 0); the last good reading is kept next to it.
import type { Logger } from '../core/logging.js';
import { partitionOfProduct } from '../core/kafka/partitioner.js';
import { LagReader, type LagReading } from './adapters/lag-reader.js';
import type { LagView } from './model/types.js';
import { describeError } from './kube/client.js';
import type { OperatorMetrics } from './metrics.js';

export class LagMonitor {
  latest: { ok: true; reading: LagReading; atMs: number } | { ok: false; error: string; atMs: number } | undefined;
  lastGood: LagReading | undefined;

  constructor(
    private readonly reader: LagReader,
    private readonly metrics: OperatorMetrics,
    private readonly logger: Logger,
  ) {}

  async poll(): Promise<void> {
    try {
      const reading = await this.reader.read();
      if (this.latest && !this.latest.ok) this.logger.info({ lag: reading.lag.total }, 'consumer lag readable again');
      this.latest = { ok: true, reading, atMs: Date.now() };
      this.lastGood = reading;
    } catch (e) {
      const error = describeError(e);
      this.metrics.lagReadErrors.inc();
      if (!this.latest || this.latest.ok) this.logger.warn({ err: error }, 'cannot read the consumer lag (keeping the last good value, no scale-down)');
      this.latest = { ok: false, error, atMs: Date.now() };
    }
  }

  /** A fresh read, for decisions that must not use a cached value (recovery barrier and drain). */
  readNow(): Promise<LagReading> {
    return this.reader.read();
  }
}

/** What one sale sees of a reading: the group's totals and the lag of the sale's own partition. */
export function lagViewFor(reading: LagReading, productId: string): LagView {
  const partition = partitionOfProduct(productId, reading.partitions);
  const own = reading.lag.partitions.find((p) => p.partition === partition)?.lag ?? 0;
  return { total: reading.lag.total, partitions: reading.partitions, partitionsWithLag: reading.partitionsWithLag, own: { partition, lag: own } };
}
