// Redis restart and failover detection (leader only, on every poll): a changed run_id of the node
// holding a sale (its slot's master on a Cluster), a sale fenced on its node (seeded on another),
// or a seeded sale whose stock key is gone, sends the sale to a reconcile (which starts a recovery).
// The reconcile decides; this only notices early instead of waiting for the resync.
import type { Logger } from '../core/logging.js';
import type { RedisSales } from './adapters/redis-sales.js';
import { describeError } from './kube/client.js';
import type { FlashSale } from './model/types.js';

export class RedisWatch {
  /** run_id last seen per sale (productId), to log a restart once. */
  private readonly lastRunIds = new Map<string, string>();

  constructor(
    private readonly redis: RedisSales,
    private readonly logger: Logger,
  ) {}

  /** The sales to reconcile now; none when Redis cannot be read (the reconciles report that). */
  async check(sales: FlashSale[]): Promise<FlashSale[]> {
    try {
      const seeded = sales.filter((s) => s.status?.redis?.epoch !== undefined && !s.metadata.deletionTimestamp);
      // Per sale: on a Cluster only the node holding the sale's slot matters (each master has its own run_id).
      const ids = seeded.map((s) => s.spec.productId);
      const [nodes, missing] = await Promise.all([this.redis.nodes(ids), this.redis.missingStock(ids)]);
      return seeded.filter((s) => {
        const id = s.spec.productId;
        const { runId, fenced } = nodes.get(id)!;
        const last = this.lastRunIds.get(id);
        if (last && last !== runId) this.logger.warn({ productId: id, from: last, to: runId }, "Redis run_id of the sale's node changed: restart or failover; recovering");
        this.lastRunIds.set(id, runId);
        return s.status?.redis?.runId !== runId || fenced || missing.has(id);
      });
    } catch (e) {
      this.logger.debug({ err: describeError(e) }, 'Redis check failed (reconciles report it)');
      return [];
    }
  }

  /** Leadership lost: the next term starts from no memory. */
  reset(): void {
    this.lastRunIds.clear();
  }
}
