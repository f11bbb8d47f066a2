// Redis restart and failover detection (leader only, on every poll): a run_id that changed, or a
// seeded sale whose stock key is gone, sends the sale to a reconcile (which starts a recovery).
// The reconcile decides; this only notices early instead of waiting for the resync.
import type { Logger } from '../core/logging.js';
import type { RedisSales } from './adapters/redis-sales.js';
import { describeError } from './kube/client.js';
import type { FlashSale } from './model/types.js';

export class RedisWatch {
  private lastRunId: string | undefined;

  constructor(
    private readonly redis: RedisSales,
    private readonly logger: Logger,
  ) {}

  /** The sales to reconcile now; none when Redis cannot be read (the reconciles report that). */
  async check(sales: FlashSale[]): Promise<FlashSale[]> {
    try {
      const runId = await this.redis.runId();
      const seeded = sales.filter((s) => s.status?.redis?.epoch !== undefined && !s.metadata.deletionTimestamp);
      const missing = await this.redis.missingStock(seeded.map((s) => s.spec.productId));
      if (this.lastRunId && runId !== this.lastRunId) this.logger.warn({ from: this.lastRunId, to: runId }, 'Redis run_id changed: restart or failover; recovering every sale');
      this.lastRunId = runId;
      return seeded.filter((s) => s.status?.redis?.runId !== runId || missing.has(s.spec.productId));
    } catch (e) {
      this.logger.debug({ err: describeError(e) }, 'Redis check failed (reconciles report it)');
      return [];
    }
  }

  /** Leadership lost: the next term starts from no memory. */
  reset(): void {
    this.lastRunId = undefined;
  }
}
