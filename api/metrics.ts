// The API's own metrics (HTTP metrics come from core/metrics/http-plugin.ts).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { TallyCounter, TallyHistogram } from '../core/metrics/tally.js';

export const ORDER_OUTCOMES = [
  'accepted', 'replayed', 'sold_out', 'sold_out_cached', 'limit_reached', 'not_started', 'ended', 'unknown_sale',
  'rate_limited', 'recovering', 'paused', 'unavailable', 'in_progress', 'idempotency_key_reused',
  'admission_token_required', 'admission_token_invalid', 'admission_token_unknown', 'admission_token_expired', 'admission_token_used',
] as const;
export type OrderOutcome = (typeof ORDER_OUTCOMES)[number];

export interface ApiMetrics {
  order(outcome: OrderOutcome): void;
  redisErrors: Counter;
  kafkaProduceErrors: Counter;
  releases: Counter<'result'>;
  produceBatch(size: number, ok: boolean, seconds: number): void;
  /** One reserve.lua call of the order path: the orders it decided (api/sale-calls.ts). */
  reserveCall(orders: number): void;
  /** One Redis WAIT for replica acknowledgement (core/redis/durability.ts). */
  replicaWait(orders: number, ok: boolean, seconds: number): void;
  queue: QueueMetrics;
}

export interface QueueMetrics {
  /** POST /queue answers: joined (a new place), rejoined (the same place again), or the refusal. */
  joins: Counter<'result'>;
  /** Admission tokens handed out (a place the serving counter reached, first poll). */
  admissions: Counter;
  /** Tokens that expired unused; their places went to the next in line. */
  tokenExpiries: Counter;
  /** From joining to the token being handed out. */
  waitSeconds: Histogram;
}

export function createApiMetrics(registry: Registry): ApiMetrics {
  // Counted once per answer: a tally (core/metrics/tally.ts), not a prom-client child.
  const orders = new TallyCounter({
    name: 'fluxgate_orders_total',
    help: 'POST /order answers by outcome (accepted = reserved and durable in Kafka; sold_out_cached = answered from the in-process sold-out flag)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const byOutcome = new Map(ORDER_OUTCOMES.map((o) => [o, orders.child(o)]));
  const redisErrors = new Counter({ name: 'fluxgate_redis_errors_total', help: 'Redis commands that failed or timed out', registers: [registry] });
  const kafkaProduceErrors = new Counter({
    name: 'fluxgate_kafka_produce_errors_total',
    help: 'Orders whose Kafka produce failed (answered 503, reservation released)',
    registers: [registry],
  });
  const releases = new Counter({
    name: 'fluxgate_reservation_releases_total',
    help: 'Compensations after failed produces: released, fenced (Redis reseeded since: stock left alone), not_ours, failed',
    labelNames: ['result'],
    registers: [registry],
  });
  // Observed once per produce request (as often as per order when the load is light): tallies too.
  const batchSize = new TallyHistogram({
    name: 'fluxgate_kafka_produce_batch_size',
    help: 'Orders per Kafka produce request',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
    registers: [registry],
  });
  const batchSeconds = new TallyHistogram({
    name: 'fluxgate_kafka_produce_duration_seconds',
    help: 'Time for one Kafka produce request (acks=all), by result',
    labelNames: ['result'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const sizes = batchSize.child();
  const reserveCallOrders = new TallyHistogram({
    name: 'fluxgate_redis_reserve_call_orders',
    help: 'Orders decided per reserve.lua call (the orders of one sale read in one turn of the event loop; 0 = confirmations alone)',
    buckets: [0, 1, 2, 4, 8, 16, 32, 64],
    registers: [registry],
  }).child();
  const produceOk = batchSeconds.child('ok');
  const produceFailed = batchSeconds.child('failed');
  const replicaWaitSeconds = new Histogram({
    name: 'fluxgate_redis_replica_wait_seconds',
    help: 'Time for one Redis WAIT acknowledging a batch of reservations on the replicas (REDIS_REPLICA_ACKS), by result',
    labelNames: ['result'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const replicaWaitOrders = new Counter({
    name: 'fluxgate_redis_replica_wait_orders_total',
    help: 'Orders whose reservations a Redis WAIT covered, by result (failed = answered 503, released)',
    labelNames: ['result'],
    registers: [registry],
  });
  const queue: QueueMetrics = {
    joins: new Counter({ name: 'fluxgate_queue_joins_total', help: 'POST /queue answers by result (joined = new place, rejoined = the same place again)', labelNames: ['result'], registers: [registry] }),
    admissions: new Counter({ name: 'fluxgate_queue_admissions_total', help: 'Admission tokens handed out by this pod (places the serving counter reached)', registers: [registry] }),
    tokenExpiries: new Counter({ name: 'fluxgate_queue_token_expiries_total', help: 'Admissions that ran out unused, counted by this pod: tokens expired without an order, and admissions whose token was never fetched within tokenTtlSeconds (their places went to the next in line)', registers: [registry] }),
    waitSeconds: new Histogram({
      name: 'fluxgate_queue_wait_seconds',
      help: 'Time from joining the queue to the admission token (seconds, 1 s resolution)',
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
      registers: [registry],
    }),
  };
  queue.admissions.inc(0);
  queue.tokenExpiries.inc(0);
  return {
    queue,
    order: (o) => byOutcome.get(o)!.inc(),
    redisErrors,
    kafkaProduceErrors,
    releases,
    produceBatch(size, ok, seconds) {
      sizes.observe(size);
      (ok ? produceOk : produceFailed).observe(seconds);
    },
    reserveCall: (n) => reserveCallOrders.observe(n),
    replicaWait(orders, ok, seconds) {
      replicaWaitSeconds.labels(ok ? 'ok' : 'failed').observe(seconds);
      replicaWaitOrders.labels(ok ? 'ok' : 'failed').inc(orders);
    },
  };
}

/** 1 while the order producer is connected to Kafka (read at scrape time): the dependency an alert watches, since /readyz does not. */
export function registerKafkaConnectedGauge(registry: Registry, producer: { readonly connected: boolean }): void {
  new Gauge({
    name: 'fluxgate_kafka_producer_connected',
    help: '1 while the API order producer is connected to Kafka, else 0',
    registers: [registry],
    collect() {
      this.set(producer.connected ? 1 : 0);
    },
  });
}
