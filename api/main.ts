// flux-gate api: serve the order API until SIGTERM/SIGINT, then shut down gracefully:
// readiness fails, (optional drain delay), stop accepting, finish in-flight requests, flush the
// Kafka producer, quit Redis and PostgreSQL, exit 0.
import type { AddressInfo } from 'node:net';
import { createLogger } from '../core/logging.js';
import { buildApp } from './app.js';
import { loadApiConfig } from './config.js';

export async function main(): Promise<void> {
  const config = loadApiConfig();
  const logger = createLogger('api', config.LOG_LEVEL);
  const app = await buildApp(config, { logger });
  await app.listen({ port: config.PORT, host: config.HOST });
  const port = (app.server.address() as AddressInfo).port;
  logger.info({ port, topic: config.ORDERS_TOPIC }, 'ready');

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
