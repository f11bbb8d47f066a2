// The worker's configuration: shared connection settings plus its own knobs.
import { ConfigError, loadConfig, pick, type ConfigOf, type VarSpec } from '../core/config/env.js';
import { KAFKA_CONNECTION_VARS, POSTGRES_CONNECTION_VARS, connectionVars } from '../core/config/variables.js';
import { kafkaClientOptions } from '../core/kafka/client.js';
import { metricsServerVars } from '../core/metrics/server.js';
import { postgresConnection } from '../core/postgres/connection.js';

export const workerOwnVars = {
  PG_POOL_MAX: {
    type: 'int',
    default: '4',
    min: 1,
    max: 100,
    description: 'PostgreSQL connections of one worker process; also the most batches (one per partition) persisting at once',
    usedBy: ['worker'],
  },
  PG_QUERY_TIMEOUT_MS: {
    type: 'int',
    default: '60000',
    min: 100,
    max: 3600000,
    description: 'Longest one PostgreSQL statement of a batch may take (statement_timeout, and a client-side timeout for a server that stopped answering); the batch is then retried',
    usedBy: ['worker'],
  },
  PG_CONNECT_TIMEOUT_MS: {
    type: 'int',
    default: '5000',
    min: 100,
    max: 600000,
    description: 'Deadline to open a PostgreSQL connection before the batch is retried',
    usedBy: ['worker'],
  },
  WORKER_PARTITIONS_CONCURRENCY: {
    type: 'int',
    default: '2',
    min: 1,
    max: 64,
    description: 'Partitions one worker persists at the same time (each batch is one PostgreSQL transaction)',
    usedBy: ['worker'],
  },
  WORKER_MAX_BYTES_PER_PARTITION: {
    type: 'int',
    // 2 MiB: a batch's fixed costs (the product lock's and the COMMIT's round trips, the fetch, the
    // pause between two transactions of a partition) are shared by ~8,000 orders instead of ~4,000:
    // 1.01–1.52× (median 1.14×) the orders/s of 1 MiB in 7 paired worker benches, for ~15 MB more
    // worker RSS (156–166 MB against 137–149 MB). 4 MiB gained about as much again but took 210 MB,
    // too close to the chart's 384Mi limit for a pod that holds several partitions' batches.
    default: '2097152',
    min: 1024,
    max: 104857600,
    description: 'Kafka fetch size per partition; bounds the batch (about 250 bytes per order, so 2 MiB ≈ 8,000 orders)',
    usedBy: ['worker'],
  },
  WORKER_SESSION_TIMEOUT_MS: {
    type: 'int',
    default: '10000',
    min: 6000,
    max: 300000,
    description: 'Kafka session timeout: how soon the group hands a dead worker\'s partitions to the others (the worker heartbeats every 3 s, also while retrying)',
    usedBy: ['worker'],
  },
  WORKER_RETRY_MIN_MS: {
    type: 'int',
    default: '100',
    min: 1,
    description: 'First delay before retrying a batch PostgreSQL (or the DLQ) refused; doubles each attempt, with jitter',
    usedBy: ['worker'],
  },
  WORKER_RETRY_MAX_MS: {
    type: 'int',
    default: '5000',
    min: 1,
    description: 'Longest delay between retries of a failed batch (the worker retries forever: it never skips an order)',
    usedBy: ['worker'],
  },
  WORKER_SHUTDOWN_TIMEOUT_MS: {
    type: 'int',
    default: '25000',
    min: 1000,
    description: 'On SIGTERM, how long to wait for the in-flight batch to commit before exiting anyway (uncommitted batches are redelivered)',
    usedBy: ['worker'],
  },
} as const satisfies Record<string, VarSpec>;

export const workerVars = {
  ...pick(
    connectionVars,
    ...POSTGRES_CONNECTION_VARS,
    ...KAFKA_CONNECTION_VARS,
    'ORDERS_TOPIC',
    'ORDERS_TOPIC_PARTITIONS',
    'ORDERS_TOPIC_REPLICATION_FACTOR',
    'ORDERS_TOPIC_MIN_INSYNC_REPLICAS',
    'KAFKA_GROUP_ID',
    'LOG_LEVEL',
  ),
  ...metricsServerVars,
  ...workerOwnVars,
} as const satisfies Record<string, VarSpec>;

export type WorkerConfig = ConfigOf<typeof workerVars>;

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const config = loadConfig(workerVars, env);
  postgresConnection(config); // DATABASE_URL's TLS and the PG_SSL* files: fail at start, before any connection
  kafkaClientOptions(config, 'worker'); // TLS files and SASL settings: fail at start, not at connect
  if (config.WORKER_RETRY_MAX_MS < config.WORKER_RETRY_MIN_MS)
    throw new ConfigError([
      `WORKER_RETRY_MAX_MS (${config.WORKER_RETRY_MAX_MS}) must be >= WORKER_RETRY_MIN_MS (${config.WORKER_RETRY_MIN_MS})`,
    ]);
  return config;
}
