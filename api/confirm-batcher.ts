// Marks accepted orders durable in Redis (confirm.lua) once per produce batch and sale instead of
// once per order: the orders Kafka acknowledged in one produce request resolve in the same turn of
// the event loop, so everything queued until the next turn goes out as one script call per sale.
// Invariant: same as one call per order. Not awaited by the answer; a failed call leaves records
// pending (replays wait, then adopt after PENDING_STALE_MS), exactly like a failed single confirm.
import { confirmReservations } from '../core/redis/reserve.js';
import type { FluxRedis } from '../core/redis/client.js';

interface Confirm {
  idempotencyKey: string;
  orderId: string;
}

export class ConfirmBatcher {
  /** productId -> orders to confirm on the next flush. */
  private queued = new Map<string, Confirm[]>();
  private scheduled = false;

  constructor(
    private readonly redis: FluxRedis,
    private readonly onError: (err: Error) => void,
  ) {}

  add(productId: string, idempotencyKey: string, orderId: string): void {
    const list = this.queued.get(productId);
    if (list) list.push({ idempotencyKey, orderId });
    else this.queued.set(productId, [{ idempotencyKey, orderId }]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.queued;
    this.queued = new Map();
    for (const [productId, orders] of batch) confirmReservations(this.redis, productId, orders).catch(this.onError);
  };
}
