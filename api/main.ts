// flux-gate api: serve the order API until SIGTERM/SIGINT, then shut down gracefully:
// readiness fails, (optional drain delay), stop accepting, finish in-flight requests, flush the
// Kafka producer, quit Redis and PostgreSQL, exit 0.
// Invariant: at boot, an unreachable Redis or Kafka is waited for (retried with a capped backoff,
// alive and not ready meanwhile), never a reason to exit; only bad configuration exits (78 for
// invalid variables, 1 for refused credentials or certificates).
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { retryUntilReachable } from '../core/boot.js';
import { createLogger } from '../core/logging.js';
import { createRegistry } from '../core/metrics/registry.js';
import { startMetricsServer } from '../core/metrics/server.js';
import { buildApp } from './app.js';
import { startBootListener } from './boot-listener.js';
import { loadApiConfig } from './config.js';
import { canServe, dependencyReport } from './routes/health.js';

export async function main(): Promise<void> {
  const config = loadApiConfig();
  const logger = createLogger('api', config.LOG_LEVEL);
  const state: { app?: FastifyInstance; registry: Registry; stopping: boolean } = { registry: createRegistry('api'), stopping: false };
  // /metrics (and /dependencies) on their own listener: never reachable through the public Service.
  const metricsServer = await startMetricsServer({
    port: config.METRICS_PORT,
    host: config.METRICS_HOST,
    // Each boot attempt builds its metrics afresh: serve the current attempt's registry.
    registry: { metrics: () => state.registry.metrics(), get contentType() { return state.registry.contentType; } },
    logger,
    isReady: () => (state.app ? { ready: canServe(state.app) } : { ready: false, detail: { starting: true } }),
    routes: {
      '/dependencies': async () => {
        if (!state.app) return { status: 503, body: { status: 'starting', redis: false, kafka: false } };
        const d = await dependencyReport(state.app);
        return { status: d.ok ? 200 : 503, body: { status: d.ok ? 'ok' : 'degraded', redis: d.redis, kafka: d.kafka } };
      },
    },
  });
  const bootListener = await startBootListener(config.PORT, config.HOST);
  const onBootSignal = (signal: NodeJS.Signals) => {
    state.stopping = true;
    logger.info({ signal }, 'stopping during boot');
    void Promise.all([bootListener.close(), metricsServer.close()]).then(() => process.exit(0));
  };
  process.once('SIGTERM', onBootSignal);
  process.once('SIGINT', onBootSignal);

  const app = await retryUntilReachable('api boot', () => {
    state.registry = createRegistry('api');
    return buildApp(config, { logger, registry: state.registry });
  }, { logger, stopping: () => state.stopping });
  if (!app || state.stopping) return;
  process.off('SIGTERM', onBootSignal);
  process.off('SIGINT', onBootSignal);
  await bootListener.close();
  await app.listen({ port: bootListener.port, host: config.HOST });
  state.app = app;
  const port = (app.server.address() as AddressInfo).port;
  logger.info({ port, metricsPort: metricsServer.port, topic: config.ORDERS_TOPIC }, 'ready');

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    app.lifecycle.shuttingDown = true;
    logger.info({ signal, drainDelayMs: config.SHUTDOWN_DRAIN_DELAY_MS }, 'shutting down');
    setTimeout(() => {
      logger.error({ graceMs: config.SHUTDOWN_GRACE_MS }, 'shutdown took longer than SHUTDOWN_GRACE_MS; exiting anyway');
      process.exit(1);
    }, config.SHUTDOWN_DRAIN_DELAY_MS + config.SHUTDOWN_GRACE_MS).unref();
    if (config.SHUTDOWN_DRAIN_DELAY_MS > 0) await new Promise((r) => setTimeout(r, config.SHUTDOWN_DRAIN_DELAY_MS));
    try {
      await app.close();
      await metricsServer.close();
      logger.info('stopped');
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
