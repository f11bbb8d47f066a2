// Marks accepted orders durable in Redis (confirm.lua) once per produce batch and sale instead of
// once per order: the orders Kafka acknowledged in one produce request resolve in the same turn of
// the event loop, so everything queued until the next turn goes out as one script call per sale.
// Invariant: same as one call per order. Not awaited by the answer; a failed call leaves records
// pending (replays wait, then adopt after PENDING_STALE_MS), exactly like a failed single confirm.
import { confirmReservations } from '../core/redis/reserve.js';
import type { FluxRedis } from '../core/redis/client.js';
import { TurnBatches } from './turn-batches.js';

interface Confirm {
  idempotencyKey: string;
  orderId: string;
}

export class ConfirmBatcher {
  private readonly batches: TurnBatches<Confirm>;

  constructor(redis: FluxRedis, onError: (err: Error) => void) {
    this.batches = new TurnBatches((productId, orders) => void confirmReservations(redis, productId, orders).catch(onError));
  }

  add(productId: string, idempotencyKey: string, orderId: string): void {
    this.batches.add(productId, { idempotencyKey, orderId });
  }
}
