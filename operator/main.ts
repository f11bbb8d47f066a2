// `flux-gate operator`: watches FlashSales, and while it holds the leader Lease reconciles them,
// watches Redis for restarts, and scales the worker Deployments on the consumer lag.
import { hostname } from 'node:os';
import { kafkaClientOptions } from '../core/kafka/client.js';
import { createKafka } from '../core/kafka/consumer.js';
import { createLogger } from '../core/logging.js';
import { startMetricsServer } from '../core/metrics/server.js';
import { createPool, registerPoolGauges } from '../core/postgres/pool.js';
import { connectRedis, createRedis, explainRedisError, redisTargetFromConfig } from '../core/redis/client.js';
import { registerRedisUpGauge } from '../core/redis/metrics.js';
import { LagReader } from './adapters/lag-reader.js';
import { Products } from './adapters/products.js';
import { RedisSales } from './adapters/redis-sales.js';
import { loadOperatorConfig, watchNamespaces } from './config.js';
import { Kube, describeError, loadKubeConfig } from './kube/client.js';
import { EventRecorder } from './kube/events.js';
import { FlashSaleInformers } from './kube/informer.js';
import { LeaderElector } from './kube/leader.js';
import { LagMonitor } from './lag-monitor.js';
import { createOperatorMetrics } from './metrics.js';
import { PollLoop } from './poll-loop.js';
import { NotLeader, Reconciler } from './reconciler.js';
import { RedisWatch } from './redis-watch.js';
import { ScalerLoop } from './scaling/scaler-loop.js';
import { WorkQueue } from './work-queue.js';
import type { FlashSale } from './model/types.js';

const keyOf = (s: FlashSale) => `${s.metadata.namespace}/${s.metadata.name}`;

export async function main(): Promise<void> {
  const cfg = loadOperatorConfig();
  const logger = createLogger('operator', cfg.LOG_LEVEL);
  const identity = cfg.OPERATOR_IDENTITY ?? `${hostname()}-${process.pid}`;
  const metrics = createOperatorMetrics();

  const kube = new Kube(loadKubeConfig(cfg.KUBECONFIG));
  const redisTarget = redisTargetFromConfig(cfg);
  const redis = createRedis(redisTarget, { connectionName: 'flux-gate-operator', commandTimeoutMs: 3_000 });
  const redisTx = createRedis(redisTarget, { connectionName: 'flux-gate-operator-tx', commandTimeoutMs: 3_000, autoPipelining: false });
  redis.on('error', (e) => logger.debug({ err: explainRedisError(e) }, 'redis connection error'));
  redisTx.on('error', (e) => logger.debug({ err: explainRedisError(e) }, 'redis tx connection error'));
  await Promise.all([connectRedis(redis), connectRedis(redisTx)]).catch((e: Error) =>
    logger.warn({ err: e.message }, 'Redis not reachable yet; retrying in the background'),
  );
  const pool = createPool(cfg, { max: 4, applicationName: 'flux-gate-operator', logger });
  registerPoolGauges(metrics.registry, pool);
  registerRedisUpGauge(metrics.registry, redis);
  const kafka = createKafka(kafkaClientOptions(cfg, 'operator'), logger);
  // Few retries: a failed read must surface as MetricsAvailable=False quickly, the next poll retries.
  const lagReader = new LagReader(kafka.admin({ retry: { retries: 1, initialRetryTime: 200 } }), cfg.KAFKA_GROUP_ID, cfg.ORDERS_TOPIC);
  const lag = new LagMonitor(lagReader, metrics, logger);
  const redisSales = new RedisSales(redis, redisTx);
  const events = new EventRecorder(kube, identity, logger);

  let elector: LeaderElector | undefined;
  const isLeader = () => elector?.isLeader() ?? false;
  const scaler = new ScalerLoop(kube, lag, events, metrics, logger, isLeader);
  let informer: FlashSaleInformers | undefined;
  const reconciler = new Reconciler({
    kube, products: new Products(pool), redis: redisSales, lag, scaler, events, metrics, logger, isLeader,
    allSales: () => informer?.list() ?? [],
    inFlightWaitMs: cfg.RECOVERY_IN_FLIGHT_WAIT_SECONDS * 1000,
    settings: { auditConfirmMs: cfg.AUDIT_CONFIRM_SECONDS * 1000, lagPollMs: cfg.LAG_POLL_SECONDS * 1000, retryMs: 2_000, inFlightWaitMs: cfg.RECOVERY_IN_FLIGHT_WAIT_SECONDS * 1000 },
  });
  const queue = new WorkQueue(
    async (key) => {
      const [namespace, name] = key.split('/') as [string, string];
      const end = metrics.reconcileDuration.startTimer();
      try {
        const after = await reconciler.reconcile(namespace, name);
        metrics.reconciles.inc({ result: 'success' });
        return after;
      } catch (e) {
        metrics.reconciles.inc({ result: e instanceof NotLeader ? 'not_leader' : (e as { code?: number }).code === 409 ? 'conflict' : 'error' });
        throw e;
      } finally {
        end();
      }
    },
    {
      concurrency: 4,
      baseBackoffMs: 500,
      maxBackoffMs: cfg.RECONCILE_RETRY_MAX_SECONDS * 1000,
      onError: (key, err, retryInMs) => {
        if (err instanceof NotLeader) return;
        const level = (err as { code?: number }).code === 409 ? 'debug' : 'warn';
        logger[level]({ flashsale: key, err: describeError(err), retryInMs }, 'reconcile failed; retrying');
      },
    },
  );

  informer = new FlashSaleInformers(kube, {
    namespaces: watchNamespaces(cfg.WATCH_NAMESPACE),
    silenceMs: cfg.WATCH_SILENCE_SECONDS * 1000,
    logger,
    onChange: (s) => queue.add(keyOf(s)),
    onDelete: (s) => reconciler.forget(s.metadata.uid),
  });

  const poll = new PollLoop({
    lag, redisWatch: new RedisWatch(redisSales, logger), scaler, logger, isLeader,
    sales: () => informer!.list(),
    requeue: (s) => queue.add(keyOf(s)),
    intervalMs: cfg.LAG_POLL_SECONDS * 1000,
  });
  const resync = setInterval(() => {
    if (isLeader()) for (const s of informer!.list()) queue.add(keyOf(s));
  }, cfg.RESYNC_SECONDS * 1000);

  elector = new LeaderElector(
    kube,
    cfg.OPERATOR_NAMESPACE,
    cfg.LEASE_NAME,
    identity,
    {
      leaseDurationMs: cfg.LEASE_DURATION_SECONDS * 1000,
      renewDeadlineMs: cfg.LEASE_RENEW_DEADLINE_SECONDS * 1000,
      retryPeriodMs: cfg.LEASE_RETRY_PERIOD_SECONDS * 1000,
    },
    {
      onStartedLeading: () => {
        metrics.leader.set(1);
        queue.start();
        poll.start();
      },
      onStoppedLeading: () => {
        metrics.leader.set(0);
        poll.stop();
        void queue.stop();
        reconciler.reset();
      },
    },
    logger,
  );

  const server = await startMetricsServer({
    port: cfg.METRICS_PORT,
    host: cfg.METRICS_HOST,
    registry: metrics.registry,
    logger,
    isReady: () => ({
      ready: informer!.hasSynced(),
      detail: { leader: isLeader(), identity, informerSynced: informer!.hasSynced() },
    }),
  });

  await informer.start();
  elector.start();
  logger.info(
    { port: server.port, identity, watchNamespace: watchNamespaces(cfg.WATCH_NAMESPACE)?.join(',') ?? '(all)', lease: `${cfg.OPERATOR_NAMESPACE}/${cfg.LEASE_NAME}` },
    'ready',
  );

  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  const deadline = setTimeout(() => {
    logger.error('graceful shutdown took longer than 20 s; exiting');
    process.exit(1);
  }, 20_000);
  deadline.unref();
  clearInterval(resync);
  poll.stop();
  await elector.stop(); // stops acting, then releases the Lease so a standby takes over at once
  await queue.stop();
  await informer.stop();
  await server.close();
  await Promise.allSettled([redis.quit(), redisTx.quit(), pool.end(), lagReader.close()]);
  logger.info('stopped');
  // A client still reconnecting in the background (kafkajs mid-connect) must not keep a stopped
  // operator alive: everything that matters is closed by now.
  setTimeout(() => process.exit(0), 2_000).unref();
}
