// Connection settings shared by several processes. Component-specific variables live next to
// their component (api/config.ts, worker/config.ts, operator/config.ts).
import type { VarSpec } from './env.js';

export const connectionVars = {
  // Redis: exactly one of REDIS_URL (single instance), REDIS_SENTINELS, REDIS_CLUSTER_NODES.
  REDIS_URL: {
    type: 'url',
    protocols: ['redis:', 'rediss:'],
    optional: true,
    exactlyOneOf: 'redis',
    description: 'Redis (single instance) the API gates orders with, e.g. redis://127.0.0.1:6379/0; Sentinel and Cluster take the next variables instead',
    usedBy: ['api', 'operator'],
  },
  REDIS_SENTINELS: {
    type: 'brokers',
    optional: true,
    exactlyOneOf: 'redis',
    description: 'Redis Sentinel mode: comma-separated Sentinels, host:port; the client follows failovers by itself',
    usedBy: ['api', 'operator'],
  },
  REDIS_SENTINEL_MASTER: {
    type: 'string',
    optional: true,
    description: 'Redis Sentinel mode: name of the monitored master (required with REDIS_SENTINELS)',
    usedBy: ['api', 'operator'],
  },
  REDIS_CLUSTER_NODES: {
    type: 'brokers',
    optional: true,
    exactlyOneOf: 'redis',
    description: 'Redis Cluster mode: comma-separated seed nodes, host:port (the rest are discovered)',
    usedBy: ['api', 'operator'],
  },
  REDIS_USERNAME: {
    type: 'string',
    optional: true,
    description: 'Redis ACL user (Redis 6+; README "Redis ACL" lists the rules each process needs); needs REDIS_PASSWORD. In single mode a user in REDIS_URL wins',
    usedBy: ['api', 'operator'],
  },
  REDIS_PASSWORD: {
    type: 'string',
    optional: true,
    secret: true,
    description: 'Redis password (of REDIS_USERNAME, else of the default user), sent as is: any character works, nothing to URL-encode. In single mode a password in REDIS_URL wins; in Sentinel mode also sent to the Sentinels unless REDIS_SENTINEL_USERNAME or REDIS_SENTINEL_PASSWORD is set',
    usedBy: ['api', 'operator'],
  },
  REDIS_SENTINEL_USERNAME: {
    type: 'string',
    optional: true,
    description: "Sentinel mode: the ACL user of the Sentinels (their own `user` lines, not the data nodes'); needs REDIS_SENTINEL_PASSWORD",
    usedBy: ['api', 'operator'],
  },
  REDIS_SENTINEL_PASSWORD: {
    type: 'string',
    optional: true,
    secret: true,
    description: "Sentinel mode: the Sentinels' own password (their `requirepass`, or REDIS_SENTINEL_USERNAME's), sent as is",
    usedBy: ['api', 'operator'],
  },
  REDIS_TLS: {
    type: 'bool',
    default: 'false',
    description: 'Connect to Redis (and the Sentinels) with TLS; in single mode a rediss:// REDIS_URL does the same',
    usedBy: ['api', 'operator'],
  },
  REDIS_TLS_CA_FILE: {
    type: 'string',
    optional: true,
    description: "PEM file of the CA(s) that sign the certificates of Redis and the Sentinels, trusted instead of Node's public CAs; read at start (needs TLS on)",
    usedBy: ['api', 'operator'],
  },
  REDIS_TLS_CERT_FILE: {
    type: 'string',
    optional: true,
    description: 'PEM client certificate for mutual TLS (Redis `tls-auth-clients`); needs REDIS_TLS_KEY_FILE; read at start',
    usedBy: ['api', 'operator'],
  },
  REDIS_TLS_KEY_FILE: {
    type: 'string',
    optional: true,
    description: 'PEM private key of REDIS_TLS_CERT_FILE (unencrypted); read at start',
    usedBy: ['api', 'operator'],
  },
  REDIS_TLS_SERVERNAME: {
    type: 'string',
    optional: true,
    description: 'Name sent as TLS SNI and checked against the certificate of Redis, when the address dialled is not in it (an IP, or addresses Sentinel or Cluster hand out)',
    usedBy: ['api', 'operator'],
  },
  DATABASE_URL: {
    type: 'url',
    protocols: ['postgres:', 'postgresql:'],
    description: 'PostgreSQL, the system of record, e.g. postgres://user:pass@127.0.0.1:5432/fluxgate',
    usedBy: ['api', 'worker', 'operator', 'migrate'],
    secret: true,
  },
  // PostgreSQL TLS, libpq's sslmode semantics (core/postgres/connection.ts). The URL may carry the
  // same settings as libpq parameters (sslmode, sslrootcert, sslcert, sslkey); both set and
  // different is an error.
  PG_SSLMODE: {
    type: 'enum',
    values: ['disable', 'require', 'verify-ca', 'verify-full'],
    optional: true,
    description: 'PostgreSQL TLS as libpq means it: require = encrypted, certificate not checked (checked against PG_SSLROOTCERT when that is set, as libpq does); verify-ca = chain checked against PG_SSLROOTCERT, host name not; verify-full = chain and host name; absent = the sslmode of DATABASE_URL, else disable (prefer is not supported: no fallback)',
    usedBy: ['api', 'worker', 'operator', 'migrate'],
  },
  PG_SSLROOTCERT: {
    type: 'string',
    optional: true,
    description: 'PEM file of the CA(s) the PostgreSQL server certificate must lead to (required by verify-ca and verify-full); "system" = the public CAs Node ships (verify-full only, as libpq 16)',
    usedBy: ['api', 'worker', 'operator', 'migrate'],
  },
  PG_SSLCERT: {
    type: 'string',
    optional: true,
    description: 'PEM file of the client certificate presented to PostgreSQL (cert authentication: its CN is the database user); needs PG_SSLKEY',
    usedBy: ['api', 'worker', 'operator', 'migrate'],
  },
  PG_SSLKEY: {
    type: 'string',
    optional: true,
    description: 'PEM file of the private key of PG_SSLCERT (unencrypted)',
    usedBy: ['api', 'worker', 'operator', 'migrate'],
  },
  KAFKA_BROKERS: {
    type: 'brokers',
    description: 'Comma-separated Kafka bootstrap brokers, host:port (use 127.0.0.1, not localhost)',
    usedBy: ['api', 'worker', 'operator'],
  },
  KAFKA_CLIENT_ID: {
    type: 'string',
    default: 'flux-gate',
    description: 'Kafka client id prefix',
    usedBy: ['api', 'worker', 'operator'],
  },
  KAFKA_TLS: {
    type: 'bool',
    default: 'false',
    description: 'Connect to Kafka with TLS (a SSL or SASL_SSL listener); the broker certificate and host name are always verified',
    usedBy: ['api', 'worker', 'operator'],
  },
  KAFKA_TLS_CA_FILE: {
    type: 'string',
    optional: true,
    description: 'Kafka TLS: PEM file of the CA(s) the broker certificate must chain to, trusted instead of the system CAs (needs KAFKA_TLS=true)',
    usedBy: ['api', 'worker', 'operator'],
  },
  KAFKA_TLS_CERT_FILE: {
    type: 'string',
    optional: true,
    description: 'Kafka mutual TLS: PEM client certificate (with KAFKA_TLS_KEY_FILE; needs KAFKA_TLS=true)',
    usedBy: ['api', 'worker', 'operator'],
  },
  KAFKA_TLS_KEY_FILE: {
    type: 'string',
    optional: true,
    description: 'Kafka mutual TLS: PEM private key of KAFKA_TLS_CERT_FILE (unencrypted)',
    usedBy: ['api', 'worker', 'operator'],
  },
  KAFKA_SASL_MECHANISM: {
    type: 'enum',
    values: ['plain', 'scram-sha-256', 'scram-sha-512'],
    optional: true,
    description: 'Kafka SASL mechanism (with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD); absent = no SASL. Use TLS with plain: it sends the password as is',
    usedBy: ['api', 'worker', 'operator'],
  },
  KAFKA_SASL_USERNAME: {
    type: 'string',
    optional: true,
    description: 'Kafka SASL user of this process (each component its own, so ACLs can tell them apart)',
    usedBy: ['api', 'worker', 'operator'],
  },
  KAFKA_SASL_PASSWORD: {
    type: 'string',
    optional: true,
    secret: true,
    description: 'Kafka SASL password of KAFKA_SASL_USERNAME',
    usedBy: ['api', 'worker', 'operator'],
  },
  ORDERS_TOPIC: {
    type: 'string',
    default: 'orders',
    description: 'Kafka topic accepted orders are written to; the dead-letter topic is "<ORDERS_TOPIC>.dlq"',
    usedBy: ['api', 'worker', 'operator'],
  },
  ORDERS_TOPIC_PARTITIONS: {
    type: 'int',
    default: '6',
    min: 1,
    max: 1000,
    description: 'Partitions for the orders topic when Flux-Gate creates it (an existing topic is left as is)',
    usedBy: ['api', 'worker'],
  },
  ORDERS_TOPIC_REPLICATION_FACTOR: {
    type: 'int',
    optional: true,
    min: 1,
    max: 16,
    description: 'Replication factor of the orders and dead-letter topics when Flux-Gate creates them; absent = min(3, brokers in the cluster)',
    usedBy: ['api', 'worker'],
  },
  ORDERS_TOPIC_MIN_INSYNC_REPLICAS: {
    type: 'int',
    optional: true,
    min: 1,
    max: 16,
    description: 'min.insync.replicas of those topics (copies an acks=all write waits for); absent = replication factor − 1, at least 1. A warning is logged at start when it is 1 (one copy)',
    usedBy: ['api', 'worker'],
  },
  KAFKA_GROUP_ID: {
    type: 'string',
    default: 'flux-gate-worker',
    description: 'Consumer group of the workers (the operator reads its lag)',
    usedBy: ['worker', 'operator'],
  },
  LOG_LEVEL: {
    type: 'enum',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    description: 'Log level (JSON logs on stdout)',
    usedBy: ['api', 'worker', 'operator', 'migrate'],
  },
} as const satisfies Record<string, VarSpec>;

/** The PostgreSQL connection variables, for every process that opens a pool (core/postgres/connection.ts). */
export const POSTGRES_CONNECTION_VARS = ['DATABASE_URL', 'PG_SSLMODE', 'PG_SSLROOTCERT', 'PG_SSLCERT', 'PG_SSLKEY'] as const;

/** The Redis connection variables, for the processes that talk to Redis (api, operator). */
export const REDIS_CONNECTION_VARS = [
  'REDIS_URL', 'REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER', 'REDIS_CLUSTER_NODES', 'REDIS_USERNAME', 'REDIS_PASSWORD',
  'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_TLS', 'REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE',
  'REDIS_TLS_SERVERNAME',
] as const;

/** The Kafka connection variables every process reads (core/kafka/client.ts turns them into kafkajs options). */
export const KAFKA_CONNECTION_VARS = [
  'KAFKA_BROKERS', 'KAFKA_CLIENT_ID', 'KAFKA_TLS', 'KAFKA_TLS_CA_FILE', 'KAFKA_TLS_CERT_FILE', 'KAFKA_TLS_KEY_FILE',
  'KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD',
] as const;
