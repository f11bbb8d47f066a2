import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/config/env.js';
import { loadOperatorConfig } from './config.js';

const base = { REDIS_URL: 'redis://127.0.0.1:6379', DATABASE_URL: 'postgres://u:p@127.0.0.1/db', KAFKA_BROKERS: '127.0.0.1:9092' };

describe('operator config', () => {
  it('has the documented defaults', () => {
    const c = loadOperatorConfig(base);
    expect(c).toMatchObject({ LEASE_DURATION_SECONDS: 15, LEASE_RENEW_DEADLINE_SECONDS: 10, LEASE_RETRY_PERIOD_SECONDS: 2, LAG_POLL_SECONDS: 2, RESYNC_SECONDS: 30, OPERATOR_NAMESPACE: 'default' });
    expect(c.KUBECONFIG).toBeUndefined();
  });
  it('refuses a lag poll slower than 5 s', () => {
    expect(() => loadOperatorConfig({ ...base, LAG_POLL_SECONDS: '6' })).toThrow('LAG_POLL_SECONDS must be <= 5, got 6');
  });
  it('refuses a renew deadline not below the lease duration', () => {
    expect(() => loadOperatorConfig({ ...base, LEASE_DURATION_SECONDS: '10', LEASE_RENEW_DEADLINE_SECONDS: '10' })).toThrow(ConfigError);
  });
  it('names every missing variable', () => {
    expect(() => loadOperatorConfig({})).toThrow(/REDIS_URL is required[\s\S]*DATABASE_URL is required[\s\S]*KAFKA_BROKERS is required/);
  });
});
