// The order hot path, free of HTTP: one Redis round trip (the reserve script), one Kafka produce,
// then the answer. Repeated idempotency keys are answered from memory when this process placed the
// order, by waiting on the first request when it is still running here, else from Redis.
import type { OrderMessage } from '../core/kafka/order-message.js';
import type { Logger } from '../core/logging.js';
import type { FluxRedis } from '../core/redis/client.js';
import { newOrderId } from '../core/redis/keys.js';
import {
  confirmReservation,
  readIdempotencyRecord,
  releaseReservation,
  reserve,
  type IdempotencyRecord,
} from '../core/redis/reserve.js';
import type { Rejection } from './answers.js';
import type { ApiMetrics, OrderOutcome } from './metrics.js';

export interface OrderRequest {
  productId: string;
  userId: string;
  quantity: number;
  idempotencyKey: string;
}

export interface SuccessBody {
  status: 'success';
  orderId: string;
  productId: string;
  remaining: number;
}

export type OrderResult =
  | { ok: true; body: SuccessBody; replayed: boolean }
  | { ok: false; code: Rejection; retryAfterSec?: number; message?: string };

export interface OrderSettings {
  soldOutCacheMs: number;
  idempotencyTtlSec: number;
  orderStatusTtlSec: number;
  pendingStaleMs: number;
  idempotencyWaitMs: number;
}

export interface OrderServiceDeps {
  redis: FluxRedis;
  producer: { send(order: OrderMessage): Promise<void> };
  isProductKnown(productId: string): Promise<boolean>;
  metrics: ApiMetrics;
  logger: Logger;
  settings: OrderSettings;
}

const RECENT_MAX = 50_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class OrderService {
  /** productId -> time until which "sold out" is answered without asking Redis. */
  private readonly soldOutUntil = new Map<string, number>();
  /** Orders being placed by this process, by product + idempotency key. */
  private readonly inFlight = new Map<string, Promise<OrderResult>>();
  /** Answers of orders this process accepted recently (replays skip Redis, even when sold out). */
  private readonly recent = new Map<string, SuccessBody>();

  constructor(private readonly d: OrderServiceDeps) {}

  place(req: OrderRequest): Promise<OrderResult> {
    const local = `${req.productId}\n${req.idempotencyKey}`;
    const known = this.recent.get(local);
    if (known) return Promise.resolve(this.outcome({ ok: true, body: known, replayed: true }));
    const running = this.inFlight.get(local);
    if (running) return running.then((r) => this.outcome(r.ok ? { ...r, replayed: true } : r));
    const until = this.soldOutUntil.get(req.productId);
    if (until !== undefined) {
      if (until > Date.now()) {
        this.d.metrics.order('sold_out_cached');
        return Promise.resolve({ ok: false, code: 'sold_out' });
      }
      this.soldOutUntil.delete(req.productId);
    }
    const placing = this.placeNew(req).then((r) => this.outcome(r));
    this.inFlight.set(local, placing);
    placing.finally(() => this.inFlight.delete(local));
    return placing;
  }

  /** Forgets in-process knowledge about a sale (after it was seeded again). */
  forgetSale(productId: string): void {
    this.soldOutUntil.delete(productId);
  }

  private outcome(r: OrderResult): OrderResult {
    const o: OrderOutcome = r.ok ? (r.replayed ? 'replayed' : 'accepted') : (r.code as OrderOutcome);
    this.d.metrics.order(o);
    return r;
  }

  private async placeNew(req: OrderRequest): Promise<OrderResult> {
    const { redis, settings: s } = this.d;
    const orderId = newOrderId(req.productId);
    let r;
    try {
      r = await reserve(redis, {
        orderId,
        productId: req.productId,
        userId: req.userId,
        idempotencyKey: req.idempotencyKey,
        quantity: req.quantity,
        idempotencyTtlSec: s.idempotencyTtlSec,
        orderStatusTtlSec: s.orderStatusTtlSec,
        pendingStaleMs: s.pendingStaleMs,
      });
    } catch (err) {
      this.d.metrics.redisErrors.inc();
      // The script may have run before the connection failed: undo it if so (fenced by orderId).
      this.release(req, orderId);
      return { ok: false, code: 'unavailable', message: `Redis unavailable: ${(err as Error).message}` };
    }
    switch (r.kind) {
      case 'ok':
        break;
      case 'replay':
        return this.replay(req, r.record);
      case 'sold_out':
        if (r.stockLeft === 0 && s.soldOutCacheMs > 0) this.soldOutUntil.set(req.productId, Date.now() + s.soldOutCacheMs);
        return r.stockLeft === 0
          ? { ok: false, code: 'sold_out' }
          : { ok: false, code: 'sold_out', message: `only ${r.stockLeft} left, ${req.quantity} requested` };
      case 'not_seeded':
        return this.notSeeded(req.productId);
      case 'recovering':
      case 'paused':
      case 'ended':
      case 'limit_reached':
        return { ok: false, code: r.kind };
      case 'unknown_state':
        return { ok: false, code: 'recovering', message: `the sale's gate is ${JSON.stringify(r.state)}; retry shortly` };
      case 'not_started':
        return { ok: false, code: 'not_started', retryAfterSec: Math.max(1, Math.ceil(r.msUntilStart / 1000)) };
      case 'rate_limited':
        return { ok: false, code: 'rate_limited', retryAfterSec: 1 };
    }

    const order: OrderMessage = {
      v: 1,
      orderId,
      productId: req.productId,
      userId: req.userId,
      idempotencyKey: req.idempotencyKey,
      quantity: req.quantity,
      acceptedAt: new Date(r.acceptedAtMs).toISOString(),
      epoch: r.epoch,
    };
    try {
      await this.d.producer.send(order);
    } catch (err) {
      this.d.metrics.kafkaProduceErrors.inc();
      await this.release(req, orderId);
      return { ok: false, code: 'unavailable', message: `order not accepted (Kafka unavailable: ${(err as Error).message}); nothing was reserved, retry` };
    }
    // Not awaited: the answer does not depend on it; a duplicate meanwhile waits on the record.
    confirmReservation(redis, req.productId, req.idempotencyKey, orderId).catch(() => this.d.metrics.redisErrors.inc());
    const body: SuccessBody = { status: 'success', orderId, productId: req.productId, remaining: r.remaining };
    this.remember(`${req.productId}\n${req.idempotencyKey}`, body);
    return { ok: true, body, replayed: false };
  }

  private remember(local: string, body: SuccessBody): void {
    if (this.recent.size >= RECENT_MAX) {
      // Drop the oldest entry (Map keeps insertion order).
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
    this.recent.set(local, body);
  }

  private async release(req: OrderRequest, orderId: string): Promise<void> {
    try {
      const result = await releaseReservation(this.d.redis, { productId: req.productId, idempotencyKey: req.idempotencyKey, userId: req.userId, orderId });
      this.d.metrics.releases.labels(result).inc();
    } catch (err) {
      this.d.metrics.redisErrors.inc();
      this.d.metrics.releases.labels('failed').inc();
      // A unit stays reserved without an order: undersell, found by the operator's audit.
      this.d.logger.error({ err: (err as Error).message, productId: req.productId, orderId }, 'could not release the reservation of a failed order');
    }
  }

  private async notSeeded(productId: string): Promise<OrderResult> {
    try {
      return (await this.d.isProductKnown(productId)) ? { ok: false, code: 'recovering' } : { ok: false, code: 'unknown_sale' };
    } catch (err) {
      return { ok: false, code: 'unavailable', message: `PostgreSQL unavailable: ${(err as Error).message}` };
    }
  }

  /** A repeated key: answer the first order, waiting (bounded) while it is still being produced. */
  private async replay(req: OrderRequest, first: IdempotencyRecord): Promise<OrderResult> {
    const deadline = Date.now() + this.d.settings.idempotencyWaitMs;
    let record: IdempotencyRecord | null = first;
    let pause = 5;
    while (record && record.state === 'pending' && Date.now() < deadline) {
      await sleep(pause);
      pause = Math.min(pause * 2, 100);
      try {
        record = await readIdempotencyRecord(this.d.redis, req.productId, req.idempotencyKey);
      } catch (err) {
        this.d.metrics.redisErrors.inc();
        return { ok: false, code: 'unavailable', message: `Redis unavailable: ${(err as Error).message}` };
      }
    }
    if (!record) return { ok: false, code: 'unavailable', message: 'the first order with this x-idempotency-key failed; retry' };
    if (record.state === 'pending') return { ok: false, code: 'in_progress' };
    return {
      ok: true,
      body: { status: 'success', orderId: record.orderId, productId: req.productId, remaining: record.remaining },
      replayed: true,
    };
  }
}
