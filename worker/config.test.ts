import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/config/env.js';
import { loadWorkerConfig } from './config.js';

const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db', KAFKA_BROKERS: '127.0.0.1:9092' };

describe('worker config', () => {
  it('has defaults for everything but the connections', () => {
    const c = loadWorkerConfig(base);
    expect(c.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(c.ORDERS_TOPIC).toBe('orders');
    expect(c.KAFKA_GROUP_ID).toBe('flux-gate-worker');
    expect(c.METRICS_PORT).toBe(9091);
    expect([c.WORKER_RETRY_MIN_MS, c.WORKER_RETRY_MAX_MS]).toEqual([100, 5000]);
    expect(c.WORKER_SESSION_TIMEOUT_MS).toBe(10000);
  });

  it('names every problem', () => {
    expect(() => loadWorkerConfig({ KAFKA_BROKERS: 'kafka', METRICS_PORT: '70000' })).toThrow(
      /DATABASE_URL is required[\s\S]*KAFKA_BROKERS entries must be host:port, got "kafka"[\s\S]*METRICS_PORT must be <= 65535, got 70000/,
    );
  });

  it('refuses a retry ceiling below the floor', () => {
    expect(() => loadWorkerConfig({ ...base, WORKER_RETRY_MIN_MS: '500', WORKER_RETRY_MAX_MS: '100' })).toThrow(ConfigError);
    expect(() => loadWorkerConfig({ ...base, WORKER_RETRY_MIN_MS: '500', WORKER_RETRY_MAX_MS: '100' })).toThrow(
      'WORKER_RETRY_MAX_MS (100) must be >= WORKER_RETRY_MIN_MS (500)',
    );
  });
});
