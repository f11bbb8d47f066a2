// fluxgate_redis_up: what the FluxGateRedisDown alert watches (helm/flux-gate/templates/prometheusrule.yaml).
import { Gauge, type Registry } from 'prom-client';
import type { RedisClient } from './client.js';

/**
 * 1 while the client is connected and ready (for a Cluster: its slot map is loaded), else 0.
 * Read from the client's status at scrape time; ioredis moves that status on its connection
 * events (ready, close, reconnecting, end), so the gauge cannot miss one.
 */
export function registerRedisUpGauge(registry: Registry, client: RedisClient): Gauge {
  return new Gauge({
    name: 'fluxgate_redis_up',
    help: 'Whether this process has a ready Redis connection (1) or not (0)',
    registers: [registry],
    collect() {
      this.set(client.status === 'ready' ? 1 : 0);
    },
  });
}
