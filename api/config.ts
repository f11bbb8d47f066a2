// The API's configuration: shared connection settings plus its own knobs, validated at start.
import { ConfigError, loadConfig, pick, type ConfigOf, type VarSpec } from '../core/config/env.js';
import { KAFKA_CONNECTION_VARS, POSTGRES_CONNECTION_VARS, REDIS_CONNECTION_VARS, connectionVars } from '../core/config/variables.js';
import { kafkaClientOptions } from '../core/kafka/client.js';
import { metricsServerVars } from '../core/metrics/server.js';
import { postgresConnection } from '../core/postgres/connection.js';
import { redisTargetFromConfig } from '../core/redis/client.js';
import { parseSigningKeys } from './admission.js';

export const apiOwnVars = {
  PORT: { type: 'int', default: '3000', min: 0, max: 65535, description: 'HTTP port of the API (0 = any free port; the ready log line names it)', usedBy: ['api'] },
  HOST: { type: 'string', default: '0.0.0.0', description: 'Address the API listens on', usedBy: ['api'] },
  ADMIN_TOKEN: {
    type: 'string',
    optional: true,
    secret: true,
    min: 16,
    description: 'Bearer token for POST /init (at least 16 characters); unset = admin API disabled (403)',
    usedBy: ['api'],
  },
  ADMISSION_SIGNING_KEYS: {
    type: 'string',
    optional: true,
    secret: true,
    description:
      'Keys signing queue tickets and admission tokens, "<key id>:<secret>" (32+ characters), comma-separated; the first signs, all verify (rotate by putting the new key first, drop the old one after spec.admission.tokenTtlSeconds and the longest wait). Unset = queued sales answer 503',
    usedBy: ['api'],
  },
  BODY_LIMIT_BYTES: { type: 'int', default: '16384', min: 1024, max: 1048576, description: 'Largest accepted request body; larger ones get 413', usedBy: ['api'] },
  SOLD_OUT_CACHE_MS: {
    type: 'int',
    default: '300',
    min: 0,
    max: 10000,
    description: 'After Redis says a sale is sold out, answer 409 for this long without the reserve script: one MGET per turn only checks that the keys are not retries of placed orders (0 = off)',
    usedBy: ['api'],
  },
  IDEMPOTENCY_TTL_SECONDS: { type: 'int', default: '86400', min: 60, description: 'How long an accepted order answer is replayed for a repeated x-idempotency-key', usedBy: ['api'] },
  ORDER_STATUS_TTL_SECONDS: {
    type: 'int',
    default: '86400',
    min: 60,
    description: 'How long Redis remembers an accepted order (GET /order answers "pending" until PostgreSQL has it)',
    usedBy: ['api'],
  },
  IDEMPOTENCY_WAIT_MS: {
    type: 'int',
    default: '5000',
    min: 0,
    max: 60000,
    description: 'How long a repeated request waits for the first one with its key to finish before answering 409 in_progress',
    usedBy: ['api'],
  },
  PENDING_STALE_MS: {
    type: 'int',
    default: '120000',
    min: 10000,
    description: 'A reservation still not confirmed after this long is deemed abandoned (its pod died or its confirm was lost): the next request with its key produces that same order (same orderId) again',
    usedBy: ['api'],
  },
  PRODUCT_LOOKUP_CACHE_MS: {
    type: 'int',
    default: '2000',
    min: 0,
    max: 60000,
    description: 'How long the answer to "does PostgreSQL know this product?" (asked only for sales missing in Redis) is cached',
    usedBy: ['api'],
  },
  REDIS_COMMAND_TIMEOUT_MS: { type: 'int', default: '2000', min: 50, max: 60000, description: 'A Redis command unanswered for this long fails (503)', usedBy: ['api'] },
  REDIS_REPLICA_ACKS: {
    type: 'int',
    optional: true,
    min: 0,
    max: 16,
    description:
      'Redis replicas that must acknowledge a reservation (WAIT, one per batch) before its order is produced and answered 200, so a failover cannot lose it; unset = 1 with REDIS_SENTINELS, else 0 (off); not supported with REDIS_CLUSTER_NODES',
    usedBy: ['api'],
  },
  REDIS_REPLICA_ACK_TIMEOUT_MS: {
    type: 'int',
    default: '500',
    min: 10,
    max: 60000,
    description: 'How long WAIT waits for REDIS_REPLICA_ACKS replicas; orders not acknowledged in time are released and answered 503 (must be below REDIS_COMMAND_TIMEOUT_MS)',
    usedBy: ['api'],
  },
  KAFKA_PRODUCE_RETRIES: {
    type: 'int',
    default: '3',
    min: 1,
    max: 20,
    description: 'Retries of a produce request before its orders are answered 503 (their stock released only if no request went out)',
    usedBy: ['api'],
  },
  KAFKA_REQUEST_TIMEOUT_MS: { type: 'int', default: '5000', min: 500, max: 60000, description: 'Kafka request and acks=all timeout of the API producer', usedBy: ['api'] },
  KAFKA_PRODUCE_BATCH_MAX: { type: 'int', default: '1000', min: 1, max: 10000, description: 'Most orders sent in one Kafka produce request', usedBy: ['api'] },
  KAFKA_ORDER_MESSAGE_VERSION: {
    type: 'int',
    default: '1',
    min: 1,
    max: 2,
    // Why 1 by default: the operator scales workers on consumer lag, which Kafka counts in records.
    // With v1 a record is an order, so spec.workers lag thresholds mean orders; v2 packs a produce
    // request's orders of one sale into one record (fewer bytes and CRCs per order), and lag then
    // counts records, so thresholds must be lowered by the mean batch size.
    description: 'Orders-topic record format the API writes: 1 = one record per order (consumer lag, which the operator scales on, counts orders); 2 = one record per sale per produce request carrying its orders (less CPU per order; lag then counts records, so lower the lag thresholds by the mean batch size). Workers decode both',
    usedBy: ['api'],
  },
  KAFKA_PRODUCERS: {
    type: 'int',
    default: '2',
    min: 1,
    max: 16,
    description: 'Idempotent Kafka producers sending order batches in parallel (kafkajs allows each one request in flight)',
    usedBy: ['api'],
  },
  SHUTDOWN_DRAIN_DELAY_MS: {
    type: 'int',
    default: '0',
    min: 0,
    max: 60000,
    description: 'On SIGTERM, how long /readyz fails before the server stops accepting (lets load balancers notice; ~5000 in Kubernetes)',
    usedBy: ['api'],
  },
  SHUTDOWN_GRACE_MS: {
    type: 'int',
    default: '15000',
    min: 1000,
    max: 600000,
    description: 'On SIGTERM, how long in-flight requests and queued Kafka sends may take before the process exits anyway (code 1)',
    usedBy: ['api'],
  },
} as const satisfies Record<string, VarSpec>;

export const apiVars = {
  ...pick(connectionVars, ...REDIS_CONNECTION_VARS, ...POSTGRES_CONNECTION_VARS, ...KAFKA_CONNECTION_VARS, 'ORDERS_TOPIC', 'ORDERS_TOPIC_PARTITIONS', 'ORDERS_TOPIC_REPLICATION_FACTOR', 'ORDERS_TOPIC_MIN_INSYNC_REPLICAS', 'LOG_LEVEL'),
  ...metricsServerVars,
  ...apiOwnVars,
} as const satisfies Record<string, VarSpec>;

export type ApiConfig = ConfigOf<typeof apiVars>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const config = loadConfig(apiVars, env);
  postgresConnection(config); // DATABASE_URL's TLS and the PG_SSL* files: fail at start, before any connection
  const target = redisTargetFromConfig(config); // REDIS_SENTINEL_MASTER with REDIS_SENTINELS: fail at start, not at connect
  kafkaClientOptions(config, 'api'); // TLS files and SASL settings: fail at start, not at connect
  const acks = replicaAcks(config);
  if (acks > 0 && target.mode === 'cluster')
    throw new ConfigError([`REDIS_REPLICA_ACKS=${acks} is not supported with REDIS_CLUSTER_NODES (WAIT counts one node's writes); set it to 0`]);
  if (acks > 0 && config.REDIS_REPLICA_ACK_TIMEOUT_MS >= config.REDIS_COMMAND_TIMEOUT_MS)
    throw new ConfigError([
      `REDIS_REPLICA_ACK_TIMEOUT_MS (${config.REDIS_REPLICA_ACK_TIMEOUT_MS}) must be below REDIS_COMMAND_TIMEOUT_MS (${config.REDIS_COMMAND_TIMEOUT_MS}): a WAIT is a Redis command`,
    ]);
  parseSigningKeys(config.ADMISSION_SIGNING_KEYS);
  if (config.PORT !== 0 && config.PORT === config.METRICS_PORT)
    throw new ConfigError([`METRICS_PORT (${config.METRICS_PORT}) must differ from PORT: /metrics is never served on the public port`]);
  return config;
}

/** Replicas each reservation must reach before its order is produced: safe by default on Sentinel. */
export function replicaAcks(config: Pick<ApiConfig, 'REDIS_REPLICA_ACKS' | 'REDIS_SENTINELS'>): number {
  return config.REDIS_REPLICA_ACKS ?? (config.REDIS_SENTINELS ? 1 : 0);
}
