// The API's own metrics (HTTP metrics come from core/metrics/http-plugin.ts).
import { Counter, Histogram, type Registry } from 'prom-client';

export const ORDER_OUTCOMES = [
  'accepted', 'replayed', 'sold_out', 'sold_out_cached', 'limit_reached', 'not_started', 'ended', 'unknown_sale',
  'rate_limited', 'recovering', 'paused', 'unavailable', 'in_progress', 'idempotency_key_reused',
] as const;
export type OrderOutcome = (typeof ORDER_OUTCOMES)[number];

export interface ApiMetrics {
  order(outcome: OrderOutcome): void;
  redisErrors: Counter;
  kafkaProduceErrors: Counter;
  releases: Counter<'result'>;
  produceBatch(size: number, ok: boolean, seconds: number): void;
  /** One Redis WAIT for replica acknowledgement (core/redis/durability.ts). */
  replicaWait(orders: number, ok: boolean, seconds: number): void;
}

export function createApiMetrics(registry: Registry): ApiMetrics {
  const orders = new Counter({
    name: 'fluxgate_orders_total',
    help: 'POST /order answers by outcome (accepted = reserved and durable in Kafka; sold_out_cached = answered from the in-process sold-out flag)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const byOutcome = new Map(ORDER_OUTCOMES.map((o) => [o, orders.labels(o)]));
  for (const c of byOutcome.values()) c.inc(0);
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
  const batchSize = new Histogram({
    name: 'fluxgate_kafka_produce_batch_size',
    help: 'Orders per Kafka produce request',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: 'fluxgate_kafka_produce_duration_seconds',
    help: 'Time for one Kafka produce request (acks=all), by result',
    labelNames: ['result'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
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
  return {
    order: (o) => byOutcome.get(o)!.inc(),
    redisErrors,
    kafkaProduceErrors,
    releases,
    produceBatch(size, ok, seconds) {
      batchSize.observe(size);
      batchSeconds.labels(ok ? 'ok' : 'failed').observe(seconds);
    },
    replicaWait(orders, ok, seconds) {
      replicaWaitSeconds.labels(ok ? 'ok' : 'failed').observe(seconds);
      replicaWaitOrders.labels(ok ? 'ok' : 'failed').inc(orders);
    },
  };
}
