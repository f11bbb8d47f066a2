import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './env.js';
import { connectionVars } from './variables.js';

const good = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
  KAFKA_BROKERS: '127.0.0.1:9092, 127.0.0.1:9093',
};

describe('loadConfig', () => {
  it('parses values and applies defaults', () => {
    const c = loadConfig(connectionVars, good);
    expect(c.KAFKA_BROKERS).toEqual(['127.0.0.1:9092', '127.0.0.1:9093']);
    expect(c.ORDERS_TOPIC).toBe('orders');
    expect(c.ORDERS_TOPIC_PARTITIONS).toBe(6);
  });

  it.each([
    [{ REDIS_URL: undefined }, /REDIS_URL is required/],
    [{ REDIS_URL: 'http://x' }, /REDIS_URL must use redis: or rediss:/],
    [{ REDIS_URL: 'not a url' }, /REDIS_URL must be a URL/],
    [{ KAFKA_BROKERS: 'localhost' }, /KAFKA_BROKERS entries must be host:port/],
    [{ ORDERS_TOPIC_PARTITIONS: '0' }, /ORDERS_TOPIC_PARTITIONS must be >= 1/],
    [{ ORDERS_TOPIC_PARTITIONS: '1.5' }, /ORDERS_TOPIC_PARTITIONS must be an integer/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
  ])('names the bad variable: %j', (override, message) => {
    expect(() => loadConfig(connectionVars, { ...good, ...override })).toThrow(message);
  });

  it('reports every problem at once and hides secrets', () => {
    try {
      loadConfig(connectionVars, { DATABASE_URL: 'secret-password-not-a-url' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const err = e as ConfigError;
      expect(err.problems.length).toBeGreaterThanOrEqual(3);
      expect(err.message).not.toContain('secret-password');
    }
  });

  describe('Redis: exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES', () => {
    const { REDIS_URL: _, ...noRedis } = good;

    it('accepts each one alone', () => {
      expect(loadConfig(connectionVars, { ...noRedis, REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_MASTER: 'mymaster' }).REDIS_SENTINELS).toEqual([
        's1:26379',
        's2:26379',
      ]);
      const c = loadConfig(connectionVars, { ...noRedis, REDIS_CLUSTER_NODES: 'rc-0:6379', REDIS_TLS: 'true' });
      expect([c.REDIS_CLUSTER_NODES, c.REDIS_URL, c.REDIS_TLS]).toEqual([['rc-0:6379'], undefined, true]);
    });

    it('names all three when none is set', () => {
      expect(() => loadConfig(connectionVars, noRedis)).toThrow(
        /REDIS_URL is required \(.*\), or else REDIS_SENTINELS or REDIS_CLUSTER_NODES: set exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES/,
      );
    });

    it('names the ones set when several are', () => {
      expect(() => loadConfig(connectionVars, { ...good, REDIS_CLUSTER_NODES: 'rc-0:6379' })).toThrow(
        'set exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES, got REDIS_URL and REDIS_CLUSTER_NODES',
      );
    });

    it('still checks the one that is set', () => {
      expect(() => loadConfig(connectionVars, { ...noRedis, REDIS_SENTINELS: 'sentinel-without-port' })).toThrow(/REDIS_SENTINELS entries must be host:port/);
    });
  });
});
