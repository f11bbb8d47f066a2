// A tiny HTTP server for /healthz, /readyz and /metrics: the worker's and operator's only one, and
// the API's private listener (its /metrics is never on the public port).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { VarSpec } from '../config/env.js';
import type { Logger } from '../logging.js';

export const metricsServerVars = {
  METRICS_PORT: {
    type: 'int',
    default: '9091',
    min: 0,
    max: 65535,
    description: 'Port of the /healthz, /readyz and /metrics server (the API serves /metrics only here, not on PORT; 0 = any free port)',
    usedBy: ['api', 'worker', 'operator'],
  },
  METRICS_HOST: {
    type: 'string',
    default: '0.0.0.0',
    description: 'Address the /healthz, /readyz, /metrics server listens on',
    usedBy: ['api', 'worker', 'operator'],
  },
} as const satisfies Record<string, VarSpec>;

export interface ReadinessReport {
  ready: boolean;
  /** Shown in the /readyz body so an operator sees why a pod is not ready. */
  detail?: Record<string, unknown>;
}

export interface MetricsServerOptions {
  port: number;
  host?: string;
  registry: Pick<Registry, 'metrics' | 'contentType'>;
  /** Liveness: false means "restart me" (a wedged event loop never answers at all). */
  isAlive?: () => boolean;
  isReady: () => ReadinessReport | Promise<ReadinessReport>;
  /** More JSON routes, e.g. the API's /dependencies: status 200 or 503 with a body. */
  routes?: Record<string, () => Promise<{ status: number; body: unknown }>>;
  logger?: Logger;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, JSON.stringify({ error: 'method not allowed' }));
    (async () => {
      switch (path) {
        case '/healthz': {
          const alive = opts.isAlive ? opts.isAlive() : true;
          return send(alive ? 200 : 503, JSON.stringify({ status: alive ? 'ok' : 'failing' }));
        }
        case '/readyz': {
          const r = await opts.isReady();
          return send(r.ready ? 200 : 503, JSON.stringify({ status: r.ready ? 'ready' : 'not_ready', ...r.detail }));
        }
        case '/metrics':
          return send(200, await opts.registry.metrics(), opts.registry.contentType);
        default: {
          const route = path === undefined ? undefined : opts.routes?.[path];
          if (route) {
            const r = await route();
            return send(r.status, JSON.stringify(r.body));
          }
          return send(404, JSON.stringify({ error: `no route ${path}; try /healthz, /readyz or /metrics` }));
        }
      }
    })().catch((err: Error) => {
      opts.logger?.error({ err: err.message, path }, 'metrics server handler failed');
      if (!res.headersSent) send(500, JSON.stringify({ error: err.message }));
      else res.end();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
