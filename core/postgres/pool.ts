// The one way processes open PostgreSQL: a pg pool that never waits forever. A server that stops
// answering without closing the socket (frozen host, network black hole) would otherwise hang a
// query for good (the server-side statement_timeout cannot fire on a frozen server), so every query
// also has a client-side timeout, connections use TCP keepalive, and connecting has a deadline.
import pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logging.js';
import { pgConnectionConfig, postgresConnection, type PostgresSettings } from './connection.js';

export type Pool = pg.Pool;

export interface PoolOptions {
  max?: number;
  /** Shown in pg_stat_activity, so a DBA can tell which process holds a connection. */
  applicationName?: string;
  /**
   * Longest a query may take: server-side statement_timeout (PostgreSQL cancels it cleanly) and,
   * a little later, client-side query_timeout (the server itself is not answering). Default 30 s.
   */
  queryTimeoutMs?: number;
  /** Deadline to open a connection. Default 5 s. */
  connectTimeoutMs?: number;
  logger?: Logger;
}

const CLIENT_TIMEOUT_MARGIN_MS = 500;

/**
 * A pg pool whose idle-client errors (PostgreSQL restarted, connection cut) are logged instead of
 * crashing the process: the next query gets a fresh connection, and callers retry their own work.
 * `target`: a URL, or the PostgreSQL variables (DATABASE_URL and the PG_SSL* TLS settings, read by
 * core/postgres/connection.ts: a bad one throws ConfigError here, at start).
 */
export function createPool(target: string | PostgresSettings, opts: PoolOptions = {}): Pool {
  const queryTimeout = opts.queryTimeoutMs ?? 30_000;
  const conn = postgresConnection(target);
  const pool = new pg.Pool({
    ...pgConnectionConfig(conn),
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'flux-gate',
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: queryTimeout,
    // The client's timer fires only when the server did not answer its own timeout in time.
    query_timeout: queryTimeout + CLIENT_TIMEOUT_MARGIN_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  pool.on('error', (err) => opts.logger?.warn({ err: err.message }, 'idle PostgreSQL connection failed'));
  return pool;
}

/**
 * fluxgate_pg_pool_in_use / fluxgate_pg_pool_max for the pool-busy alerts: connections checked out
 * (total minus idle) and the ceiling, read at scrape time. One pool per process.
 */
export function registerPoolGauges(registry: Registry, pool: Pool): void {
  new Gauge({
    name: 'fluxgate_pg_pool_in_use',
    help: 'PostgreSQL connections of this process checked out of its pool (busy)',
    registers: [registry],
    collect() {
      this.set(pool.totalCount - pool.idleCount);
    },
  });
  new Gauge({
    name: 'fluxgate_pg_pool_max',
    help: 'Most PostgreSQL connections the pool of this process opens',
    registers: [registry],
    collect() {
      this.set(pool.options.max);
    },
  });
}
