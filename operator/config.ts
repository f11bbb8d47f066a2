// The operator's configuration: shared connection settings plus its own knobs.
import { ConfigError, loadConfig, pick, type ConfigOf, type VarSpec } from '../core/config/env.js';
import { KAFKA_CONNECTION_VARS, POSTGRES_CONNECTION_VARS, REDIS_CONNECTION_VARS, connectionVars } from '../core/config/variables.js';
import { kafkaClientOptions } from '../core/kafka/client.js';
import { metricsServerVars } from '../core/metrics/server.js';
import { postgresConnection } from '../core/postgres/connection.js';

export const operatorOwnVars = {
  KUBECONFIG: {
    type: 'string',
    optional: true,
    description: 'Kubeconfig file of the cluster to watch; absent = in-cluster ServiceAccount credentials',
    usedBy: ['operator'],
  },
  WATCH_NAMESPACE: {
    type: 'string',
    optional: true,
    description: 'Reconcile FlashSales of these namespaces only (one, or a comma list); absent or empty = every namespace (needs the ClusterRole)',
    usedBy: ['operator'],
  },
  OPERATOR_NAMESPACE: {
    type: 'string',
    default: 'default',
    description: 'Namespace of the leader-election Lease (the operator pod namespace; the chart sets it from the downward API)',
    usedBy: ['operator'],
  },
  OPERATOR_IDENTITY: {
    type: 'string',
    optional: true,
    description: 'Lease holder identity; absent = <hostname>-<pid> (the pod name in a cluster)',
    usedBy: ['operator'],
  },
  LEASE_NAME: {
    type: 'string',
    default: 'flux-gate-operator',
    description: 'Name of the coordination.k8s.io/v1 Lease the operator replicas elect a leader with',
    usedBy: ['operator'],
  },
  LEASE_DURATION_SECONDS: {
    type: 'int',
    default: '15',
    min: 2,
    max: 600,
    description: 'How long a leader keeps the Lease without renewing; a standby takes over after that',
    usedBy: ['operator'],
  },
  LEASE_RENEW_DEADLINE_SECONDS: {
    type: 'int',
    default: '10',
    min: 1,
    max: 600,
    description: 'A leader that could not renew for this long stops acting at once (must be < LEASE_DURATION_SECONDS)',
    usedBy: ['operator'],
  },
  LEASE_RETRY_PERIOD_SECONDS: {
    type: 'number',
    default: '2',
    min: 0.1,
    max: 60,
    description: 'How often the Lease is renewed by the leader and tried by the standbys',
    usedBy: ['operator'],
  },
  RESYNC_SECONDS: {
    type: 'int',
    default: '30',
    min: 1,
    max: 3600,
    description: 'Every FlashSale is reconciled at least this often, even without a change (Redis audit, time boundaries)',
    usedBy: ['operator'],
  },
  LAG_POLL_SECONDS: {
    type: 'number',
    default: '2',
    min: 0.1,
    max: 5,
    description: 'How often the consumer lag is read (worker scaling, recovery drain, Redis restart detection)',
    usedBy: ['operator'],
  },
  AUDIT_CONFIRM_SECONDS: {
    type: 'number',
    default: '10',
    min: 0,
    max: 3600,
    description: 'A Redis/PostgreSQL stock mismatch at lag 0 is repaired only if a second read this much later agrees',
    usedBy: ['operator'],
  },
  RECOVERY_IN_FLIGHT_WAIT_SECONDS: {
    type: 'int',
    default: '30',
    min: 1,
    max: 3600,
    description:
      "A recovery captures its drain barrier only once every reservation made before its gate closed reached Kafka; one accepted longer ago than this is deemed abandoned (its API pod died). When Redis lost the sale's keys (and those reservations' records), the recovery waits this long before its barrier. Keep it above the API's longest produce (KAFKA_PRODUCE_RETRIES × KAFKA_REQUEST_TIMEOUT_MS plus backoff)",
    usedBy: ['operator'],
  },
  RECONCILE_RETRY_MAX_SECONDS: {
    type: 'number',
    default: '60',
    min: 0.1,
    max: 3600,
    description: 'Longest backoff between retries of a FlashSale whose reconcile failed (doubles from 0.5 s)',
    usedBy: ['operator'],
  },
  WATCH_SILENCE_SECONDS: {
    type: 'int',
    default: '300',
    min: 5,
    max: 3600,
    description: 'Restart the FlashSale watch when it delivered nothing for this long (client-node watches can go silent)',
    usedBy: ['operator'],
  },
} as const satisfies Record<string, VarSpec>;

export const operatorVars = {
  ...pick(connectionVars, ...REDIS_CONNECTION_VARS, ...POSTGRES_CONNECTION_VARS, ...KAFKA_CONNECTION_VARS, 'ORDERS_TOPIC', 'KAFKA_GROUP_ID', 'LOG_LEVEL'),
  ...metricsServerVars,
  ...operatorOwnVars,
} as const satisfies Record<string, VarSpec>;

export type OperatorConfig = ConfigOf<typeof operatorVars>;

/** A namespace name as the apiserver accepts it (DNS-1123 label). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The namespaces WATCH_NAMESPACE names, or undefined for "every namespace". A list never holds
 * an empty or repeated entry: "shop," or "shop,shop" would otherwise watch (and reconcile) twice.
 */
export function watchNamespaces(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const list = raw.split(',').map((s) => s.trim());
  const bad = list.filter((n) => !NAMESPACE.test(n));
  if (bad.length) throw new ConfigError([`WATCH_NAMESPACE entries must be namespace names (DNS-1123 labels), got ${bad.map((b) => JSON.stringify(b)).join(', ')}`]);
  const repeated = list.filter((n, i) => list.indexOf(n) !== i);
  if (repeated.length) throw new ConfigError([`WATCH_NAMESPACE names ${repeated.join(', ')} more than once`]);
  return list;
}

export function loadOperatorConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const c = loadConfig(operatorVars, env);
  postgresConnection(c); // DATABASE_URL's TLS and the PG_SSL* files: fail at start, before any connection
  const problems: string[] = [];
  for (const check of [() => watchNamespaces(c.WATCH_NAMESPACE), () => kafkaClientOptions(c, 'operator')]) {
    try {
      check();
    } catch (e) {
      problems.push(...(e as ConfigError).problems);
    }
  }
  if (c.LEASE_RENEW_DEADLINE_SECONDS >= c.LEASE_DURATION_SECONDS)
    problems.push(`LEASE_RENEW_DEADLINE_SECONDS (${c.LEASE_RENEW_DEADLINE_SECONDS}) must be < LEASE_DURATION_SECONDS (${c.LEASE_DURATION_SECONDS})`);
  if (c.LEASE_RETRY_PERIOD_SECONDS >= c.LEASE_RENEW_DEADLINE_SECONDS)
    problems.push(`LEASE_RETRY_PERIOD_SECONDS (${c.LEASE_RETRY_PERIOD_SECONDS}) must be < LEASE_RENEW_DEADLINE_SECONDS (${c.LEASE_RENEW_DEADLINE_SECONDS})`);
  if (problems.length) throw new ConfigError(problems);
  return c;
}
