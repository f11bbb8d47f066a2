import pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logging.js';

export type Pool = pg.Pool;

export interface PoolOptions {
  max?: number;
  /** Shown in pg_stat_activity, so a DBA can tell which process holds a connection. */
  applicationName?: string;
  /** Server-side statement_timeout: a stuck statement becomes an error the caller sees (and logs). */
  statementTimeoutMs?: number;
  logger?: Logger;
}

/**
 * A pg pool whose idle-client errors (PostgreSQL restarted, connection cut) are logged instead of
 * crashing the process: the next query gets a fresh connection, and callers retry their own work.
 */
export function createPool(databaseUrl: string, opts: PoolOptions = {}): Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'flux-gate',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
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
