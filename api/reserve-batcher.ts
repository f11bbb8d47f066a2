// Sends the reservations that reach this process in one turn of the event loop as one reserve.lua
// call per sale (core/redis/reserve.ts reserveMany) instead of one call per order: one Redis round
// trip, one socket write and one script setup for all of them, on both sides.
// Invariant: each order is decided exactly as its own call would decide it (the script runs them
// one after the other, atomically); a call that fails fails each of its orders, whose fate is then
// unknown exactly as after a failed single call (the order path releases each by its orderId).
import type { FluxRedis } from '../core/redis/client.js';
import { reserveMany, type ReserveCall, type ReserveOrder, type ReserveResult } from '../core/redis/reserve.js';
import { TurnBatches } from './turn-batches.js';

/** Orders per script call: bounds how long one call holds the sale's Redis core (~20 µs per order). */
export const MAX_RESERVE_BATCH = 64;

type Settings = Omit<ReserveCall, 'productId'>;

interface Queued {
  order: ReserveOrder;
  resolve(r: ReserveResult): void;
  reject(err: unknown): void;
}

export class ReserveBatcher {
  private readonly batches: TurnBatches<Queued>;

  constructor(
    private readonly redis: FluxRedis,
    private readonly settings: Settings,
  ) {
    this.batches = new TurnBatches((productId, list) => {
      for (let i = 0; i < list.length; i += MAX_RESERVE_BATCH) this.send(productId, list.slice(i, i + MAX_RESERVE_BATCH));
    });
  }

  reserve(productId: string, order: ReserveOrder): Promise<ReserveResult> {
    return new Promise((resolve, reject) => this.batches.add(productId, { order, resolve, reject }));
  }

  private send(productId: string, list: Queued[]): void {
    const call: ReserveCall = { productId, ...this.settings };
    reserveMany(this.redis, call, list.map((q) => q.order)).then(
      (results) => {
        for (let i = 0; i < list.length; i++) list[i]!.resolve(results[i]!);
      },
      (err: unknown) => {
        for (const q of list) q.reject(err);
      },
    );
  }
}
