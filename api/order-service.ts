// The order hot path, free of HTTP: one Redis round trip (the reserve script), one Kafka produce,
// then the answer. Repeated idempotency keys are answered from memory when this process placed the
// order, by waiting on the first request when it is still running here, else from Redis.
// Invariant: an idempotency key names one orderId for one user and quantity, and every request
// carrying it gets that order's answer, even from a process that holds the sale as sold out (a
// retry routed to another pod after its 200 was lost). A produce that may have written its order
// never gives the unit back nor frees the key: the key's retries produce that same orderId again
// until Kafka acks it (the worker stores an orderId once).
import { Unavailable } from '../core/errors.js';
import type { OrderMessage } from '../core/kafka/order-message.js';
import { ProduceError } from '../core/kafka/producer.js';
import type { Logger } from '../core/logging.js';
import type { FluxRedis } from '../core/redis/client.js';
import { newOrderId } from '../core/redis/keys.js';
import { markOutcomeUnknown, readIdempotencyRecord, releaseReservation, type IdempotencyRecord } from '../core/redis/reserve.js';
import type { Durability } from '../core/redis/durability.js';
import type { Rejection } from './answers.js';
import { SaleCalls } from './sale-calls.js';
import type { ApiMetrics, OrderOutcome } from './metrics.js';

export interface OrderRequest {
  productId: string;
  userId: string;
  quantity: number;
  idempotencyKey: string;
  /** A verified admission token came with the request (queued sales; Redis checks and consumes it). */
  admissionToken?: boolean;
}

export interface SuccessBody {
  status: 'success';
  orderId: string;
  productId: string;
  remaining: number;
}

export type OrderResult =
  | { ok: true; body: SuccessBody; replayed: boolean }
  /** orderId: the order the key is tied to when its fate is not known yet (503, retry the same key). */
  | { ok: false; code: Rejection; retryAfterSec?: number; message?: string; orderId?: string };

export interface OrderSettings {
  soldOutCacheMs: number;
  idempotencyTtlSec: number;
  orderStatusTtlSec: number;
  pendingStaleMs: number;
  idempotencyWaitMs: number;
}

export interface OrderServiceDeps {
  redis: FluxRedis;
  /** Passed between reservation and produce, so the reservation survives a Redis failover; default none. */
  durability?: Durability;
  producer: { send(order: OrderMessage): Promise<void> };
  isProductKnown(productId: string): Promise<boolean>;
  metrics: ApiMetrics;
  logger: Logger;
  settings: OrderSettings;
}

const RECENT_MAX = 50_000;
const KEY_REUSED: OrderResult = { ok: false, code: 'idempotency_key_reused' };
const SOLD_OUT: OrderResult = { ok: false, code: 'sold_out' };

/** The key of an order in this process's memory: the product is part of the idempotency key. */
const localKey = (req: OrderRequest) => `${req.productId}\n${req.idempotencyKey}`;

/** A key's parameters: reusing the key with others is refused (the product is part of the key). */
function sameParameters(a: OrderRequest, b: OrderRequest): boolean {
  return a.userId === b.userId && a.quantity === b.quantity;
}

/** 503 for an order whose fate is not known yet: the same key's retry produces it again. */
function limbo(orderId: string, why: string): OrderResult {
  return {
    ok: false,
    code: 'unavailable',
    orderId,
    message: `order ${orderId} may have been placed (${why}); retry with the same x-idempotency-key to get its answer`,
  };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class OrderService {
  /** productId -> time until which "sold out" is answered without asking Redis. */
  private readonly soldOutUntil = new Map<string, number>();
  /** Orders being placed by this process, by product + idempotency key. */
  private readonly inFlight = new Map<string, { req: OrderRequest; placing: Promise<OrderResult> }>();
  /**
   * Answers of orders this process accepted recently (replays skip Redis, even when sold out), in
   * two generations of up to RECENT_MAX / 2 each: when the newer one is full the older is dropped
   * whole. Why not evict the oldest entry one by one: a Map that is deleted from its front keeps
   * its tombstones until it rehashes, and `keys().next()` walks them on every insert (measured: 1.2 %
   * of the accept path's CPU, docs/perf/profile-after.md).
   */
  private recent = new Map<string, { req: OrderRequest; body: SuccessBody }>();
  private older = new Map<string, { req: OrderRequest; body: SuccessBody }>();

  /** Reserves the orders of one event-loop turn, and confirms those Kafka acknowledged, in one Redis call per sale. */
  private readonly sales: SaleCalls;

  constructor(private readonly d: OrderServiceDeps) {
    const s = d.settings;
    const settings = { idempotencyTtlSec: s.idempotencyTtlSec, orderStatusTtlSec: s.orderStatusTtlSec, pendingStaleMs: s.pendingStaleMs };
    this.sales = new SaleCalls(d.redis, settings, { confirmError: () => d.metrics.redisErrors.inc(), call: (n) => d.metrics.reserveCall(n) });
  }

  /**
   * The answer to an order: at once when this process knows it without Redis (a replay of an order
   * it placed, a key reused with other parameters), so the route sends those in the same turn
   * without a promise; else a promise of it (Redis, then Kafka; or, under the sale's sold-out flag,
   * one lookup of the key in Redis). The order's key in memory is built once here and handed down
   * (hashing a fresh string per lookup showed in the profile).
   */
  answer(req: OrderRequest): OrderResult | Promise<OrderResult> {
    const local = localKey(req);
    return this.knownHere(req, local) ?? (this.soldOutFlagged(req.productId) ? this.soldOutUnlessKeyInUse(req, local) : this.placeUnknown(req, local));
  }

  /** answer(), always as a promise, for callers that await. */
  place(req: OrderRequest): Promise<OrderResult> {
    return Promise.resolve(this.answer(req));
  }

  /** The answer when this process placed the key's order, or is placing it; else undefined. */
  private knownHere(req: OrderRequest, local: string): OrderResult | Promise<OrderResult> | undefined {
    const known = this.recent.get(local) ?? this.older.get(local) ?? this.inFlight.get(local);
    if (!known) return undefined;
    if (!sameParameters(known.req, req)) return this.outcome(KEY_REUSED);
    if ('body' in known) return this.outcome({ ok: true, body: known.body, replayed: true });
    return known.placing.then((r) => this.outcome(r.ok ? { ...r, replayed: true } : r)); // still being placed here
  }

  /** True while Redis's last word on the sale, less than soldOutCacheMs ago, was "sold out". */
  private soldOutFlagged(productId: string): boolean {
    const until = this.soldOutUntil.get(productId);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.soldOutUntil.delete(productId);
    return false;
  }

  /**
   * Under the sold-out flag: "sold out" for a key Redis holds no record of, without running the
   * reserve script; a key in use (placed here or by another pod, maybe long ago) takes the full
   * path, whose script answers its order, waits for it, or refuses other parameters.
   * Why ask at all: the flag cannot tell a new buyer from a retry whose 200 was lost, and answering
   * that retry 409 would say the order failed while it is in Kafka (e2e/api/two-pods.test.ts).
   */
  private async soldOutUnlessKeyInUse(req: OrderRequest, local: string): Promise<OrderResult> {
    let inUse: boolean;
    try {
      inUse = await this.sales.keyInUse(req.productId, req.idempotencyKey);
    } catch (err) {
      this.d.metrics.redisErrors.inc();
      // Not "sold out": the request may be a retry of an accepted order. Its retry will tell.
      return this.outcome({ ok: false, code: 'unavailable', message: new Unavailable('Redis', err).message });
    }
    if (!inUse) {
      this.d.metrics.order('sold_out_cached');
      return SOLD_OUT;
    }
    return this.knownHere(req, local) ?? this.placeUnknown(req, local); // a duplicate may have started placing it meanwhile
  }

  /** For an order knownHere knows nothing of: placed, and tracked in inFlight until settled. */
  private placeUnknown(req: OrderRequest, local: string): Promise<OrderResult> {
    const entry = { req, placing: undefined as unknown as Promise<OrderResult> };
    this.inFlight.set(local, entry);
    entry.placing = this.placeTracked(local, req);
    return entry.placing;
  }

  /** placeNew, counted, and forgotten from inFlight when settled (one promise per order, no .then/.finally chain). */
  private async placeTracked(local: string, req: OrderRequest): Promise<OrderResult> {
    try {
      return this.outcome(await this.placeNew(req, local));
    } finally {
      this.inFlight.delete(local);
    }
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

  /**
   * Reserves and produces. `firstAttempt` is false when reserving again under the key's first
   * orderId (a reissue): that order may be in Kafka already, so nothing of it is ever released.
   */
  private async placeNew(req: OrderRequest, local: string, orderId = newOrderId(req.productId), firstAttempt = true): Promise<OrderResult> {
    const s = this.d.settings;
    let r;
    try {
      r = await this.sales.reserve(req.productId, {
        orderId,
        userId: req.userId,
        idempotencyKey: req.idempotencyKey,
        quantity: req.quantity,
        admissionToken: req.admissionToken,
      });
    } catch (err) {
      this.d.metrics.redisErrors.inc();
      // The script may have run before the connection failed: undo it if so (fenced by orderId).
      if (firstAttempt) await this.release(req, orderId);
      return { ok: false, code: 'unavailable', message: new Unavailable('Redis', err).message };
    }
    switch (r.kind) {
      case 'ok':
        return this.produce(req, local, { orderId, remaining: r.remaining, epoch: r.epoch, acceptedAtMs: r.acceptedAtMs }, firstAttempt);
      case 'adopt':
        return this.produce(req, local, r.record, false);
      case 'reissue':
        if (firstAttempt) return this.placeNew(req, local, r.record.orderId, false);
        return limbo(r.record.orderId, 'the sale was reseeded while it was placed');
      case 'key_reused':
        return KEY_REUSED;
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
      case 'token_required':
      case 'token_unknown':
      case 'token_used':
      case 'token_expired':
        return { ok: false, code: `admission_${r.kind}` };
      case 'fenced':
        return { ok: false, code: 'recovering', message: 'Redis changed under the sale (failover or restart); it is reloaded from PostgreSQL shortly: retry' };
      case 'unknown_state':
        return { ok: false, code: 'recovering', message: `the sale's gate is ${JSON.stringify(r.state)}; retry shortly` };
      case 'not_started':
        return { ok: false, code: 'not_started', retryAfterSec: Math.max(1, Math.ceil(r.msUntilStart / 1000)) };
      case 'rate_limited':
        return { ok: false, code: 'rate_limited', retryAfterSec: 1 };
    }
  }

  /**
   * Produces the reserved order and answers. Its stock goes back only when the produce certainly
   * wrote nothing and `mayRelease` (this attempt made the reservation); a maybe-written order is
   * marked unknown and answered 503 naming its orderId: the key's next attempt produces it again.
   */
  private async produce(
    req: OrderRequest,
    local: string,
    o: { orderId: string; remaining: number; epoch: number; acceptedAtMs: number },
    mayRelease: boolean,
  ): Promise<OrderResult> {
    const order: OrderMessage = {
      v: 1,
      orderId: o.orderId,
      productId: req.productId,
      userId: req.userId,
      idempotencyKey: req.idempotencyKey,
      quantity: req.quantity,
      acceptedAt: new Date(o.acceptedAtMs).toISOString(),
      epoch: o.epoch,
    };
    // Without replica acks there is nothing to wait for, and no await (one microtask per order fewer).
    if (this.d.durability) {
      try {
        await this.d.durability.settle();
      } catch (err) {
        // Not produced by this attempt: a new order's unit goes back (fenced by orderId); an adopted
        // one (maybe in the log from an earlier attempt) keeps its unit and its key.
        if (mayRelease) await this.release(req, o.orderId);
        return { ok: false, code: 'unavailable', message: `order not accepted (${(err as Error).message}); nothing was reserved, retry` };
      }
    }
    try {
      await this.d.producer.send(order);
    } catch (err) {
      this.d.metrics.kafkaProduceErrors.inc();
      const message = (err as Error).message;
      if (mayRelease && err instanceof ProduceError && err.outcome === 'not_written') {
        await this.release(req, o.orderId);
        return { ok: false, code: 'unavailable', message: `order not accepted (${new Unavailable('Kafka', err).message}); nothing was reserved, retry` };
      }
      await this.markUnknown(req, o.orderId);
      return limbo(o.orderId, `Kafka: ${message}`);
    }
    // Not awaited: the answer does not depend on it; a duplicate meanwhile waits on the record.
    this.sales.confirm(req.productId, req.idempotencyKey, o.orderId);
    const body: SuccessBody = { status: 'success', orderId: o.orderId, productId: req.productId, remaining: o.remaining };
    this.remember(local, req, body);
    return { ok: true, body, replayed: false };
  }

  /** Best effort: if it fails the record stays pending, and is adopted after PENDING_STALE_MS. */
  private async markUnknown(req: OrderRequest, orderId: string): Promise<void> {
    this.d.metrics.releases.labels('kept_maybe_written').inc();
    try {
      await markOutcomeUnknown(this.d.redis, req.productId, req.idempotencyKey, orderId);
    } catch {
      this.d.metrics.redisErrors.inc();
    }
  }

  private remember(local: string, req: OrderRequest, body: SuccessBody): void {
    if (this.recent.size >= RECENT_MAX / 2) {
      this.older = this.recent;
      this.recent = new Map();
    }
    this.recent.set(local, { req, body });
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
      return { ok: false, code: 'unavailable', message: new Unavailable('PostgreSQL', err).message };
    }
  }

  /** A repeated key: answer the first order, waiting (bounded) while it is still being produced. */
  private async replay(req: OrderRequest, first: IdempotencyRecord): Promise<OrderResult> {
    const deadline = Date.now() + this.d.settings.idempotencyWaitMs;
    let record: IdempotencyRecord | null = first;
    let pause = 5;
    while (record?.state === 'pending' && Date.now() < deadline) {
      await sleep(pause);
      pause = Math.min(pause * 2, 100);
      try {
        record = await readIdempotencyRecord(this.d.redis, req.productId, req.idempotencyKey);
      } catch (err) {
        this.d.metrics.redisErrors.inc();
        return { ok: false, code: 'unavailable', message: new Unavailable('Redis', err).message };
      }
    }
    if (!record) return { ok: false, code: 'unavailable', message: 'the first order with this x-idempotency-key failed; retry' };
    if (record.state === 'unknown') return limbo(record.orderId, 'its produce failed and may have written it');
    if (record.state === 'pending') return { ok: false, code: 'in_progress' };
    return {
      ok: true,
      body: { status: 'success', orderId: record.orderId, productId: req.productId, remaining: record.remaining },
      replayed: true,
    };
  }
}
