// What the order path asks of one sale's Redis keys during one turn of the event loop leaves as one
// reserve.lua call per sale (core/redis/reserve.ts reserveMany): the reservations of the requests
// read in that turn, and the confirmations of the orders Kafka acknowledged in it. One round trip,
// one socket write and one script run for all of them, on both sides, instead of one per order
// plus one per produce batch. The record lookups of the requests a sold-out flag would refuse leave
// the same way: one MGET per sale per turn.
// Invariants: each order is decided exactly as its own call would decide it (the script runs them
// one after the other, atomically); a call that fails fails each of its orders, whose fate is then
// unknown exactly as after a failed single call (the order path releases each by its orderId), and
// leaves its confirmations pending (replays wait, then adopt after PENDING_STALE_MS), as a failed
// confirm did. Confirmations are not awaited by any answer.
import type { FluxRedis } from '../core/redis/client.js';
import { idempotencyKeysInUse, reserveMany, type Confirmation, type ReserveCall, type ReserveOrder, type ReserveResult } from '../core/redis/reserve.js';
import { TurnBatches } from './turn-batches.js';

/** Orders per script call: bounds how long one call holds the sale's Redis core (~20 µs per order). */
export const MAX_RESERVE_BATCH = 64;

type Settings = Omit<ReserveCall, 'productId'>;

interface Reservation {
  order: ReserveOrder;
  resolve(r: ReserveResult): void;
  reject(err: unknown): void;
}

type Item = Reservation | Confirmation;

interface Lookup {
  idempotencyKey: string;
  resolve(inUse: boolean): void;
  reject(err: unknown): void;
}

/** Keys per MGET: bounds one reply's size (a turn reads at most a few hundred requests). */
const MAX_LOOKUP_BATCH = 512;

export class SaleCalls {
  private readonly batches = new TurnBatches<Item>((productId, items) => this.send(productId, items));
  private readonly lookups = new TurnBatches<Lookup>((productId, items) => this.lookUp(productId, items));

  constructor(
    private readonly redis: FluxRedis,
    private readonly settings: Settings,
    private readonly on: { confirmError(err: Error): void; call(orders: number): void },
  ) {}

  reserve(productId: string, order: ReserveOrder): Promise<ReserveResult> {
    return new Promise((resolve, reject) => this.batches.add(productId, { order, resolve, reject }));
  }

  /** Marks an order durable (Kafka acknowledged it) with the sale's next call, in this turn. */
  confirm(productId: string, idempotencyKey: string, orderId: string): void {
    this.batches.add(productId, { idempotencyKey, orderId });
  }

  /** Whether Redis holds an idempotency record under the key, asked with the sale's other lookups of this turn. */
  keyInUse(productId: string, idempotencyKey: string): Promise<boolean> {
    return new Promise((resolve, reject) => this.lookups.add(productId, { idempotencyKey, resolve, reject }));
  }

  private lookUp(productId: string, items: Lookup[]): void {
    for (let i = 0; i < items.length; i += MAX_LOOKUP_BATCH) {
      const list = items.slice(i, i + MAX_LOOKUP_BATCH);
      idempotencyKeysInUse(this.redis, productId, list.map((l) => l.idempotencyKey)).then(
        (inUse) => {
          for (let j = 0; j < list.length; j++) list[j]!.resolve(inUse[j]!);
        },
        (err: Error) => {
          for (const l of list) l.reject(err);
        },
      );
    }
  }

  private send(productId: string, items: Item[]): void {
    const reservations: Reservation[] = [];
    let confirms: Confirmation[] = [];
    for (const item of items) {
      if ('order' in item) reservations.push(item);
      else confirms.push(item);
    }
    // The confirmations ride on the first call (or go alone when no order came in this turn).
    for (let i = 0; i < reservations.length || confirms.length > 0; i += MAX_RESERVE_BATCH) {
      this.call(productId, reservations.slice(i, i + MAX_RESERVE_BATCH), confirms);
      confirms = [];
    }
  }

  private call(productId: string, list: Reservation[], confirms: Confirmation[]): void {
    const call: ReserveCall = { productId, ...this.settings };
    this.on.call(list.length);
    reserveMany(this.redis, call, list.map((q) => q.order), confirms).then(
      ({ results }) => {
        for (let i = 0; i < list.length; i++) list[i]!.resolve(results[i]!);
      },
      (err: Error) => {
        for (const q of list) q.reject(err);
        if (confirms.length > 0) this.on.confirmError(err);
      },
    );
  }
}
