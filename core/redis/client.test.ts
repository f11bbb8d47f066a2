import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/env.js';
import { describeRedisTarget, redisTargetFromConfig } from './client.js';

describe('redisTargetFromConfig', () => {
  it('single: the URL, REDIS_PASSWORD and REDIS_TLS alongside', () => {
    expect(redisTargetFromConfig({ REDIS_URL: 'redis://r:6379/0', REDIS_PASSWORD: 'pw', REDIS_TLS: false })).toEqual({
      mode: 'single',
      url: 'redis://r:6379/0',
      password: 'pw',
      tls: false,
    });
  });

  it('sentinel: needs the master name', () => {
    expect(redisTargetFromConfig({ REDIS_SENTINELS: ['s0:26379', 's1:26379'], REDIS_SENTINEL_MASTER: 'mymaster', REDIS_TLS: true })).toEqual({
      mode: 'sentinel',
      sentinels: ['s0:26379', 's1:26379'],
      masterName: 'mymaster',
      password: undefined,
      tls: true,
    });
    expect(() => redisTargetFromConfig({ REDIS_SENTINELS: ['s0:26379'] })).toThrow(
      new ConfigError(['REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS (the master name the Sentinels monitor)']),
    );
  });

  it('cluster', () => {
    expect(redisTargetFromConfig({ REDIS_CLUSTER_NODES: ['rc-0:6379'], REDIS_PASSWORD: 'pw' })).toMatchObject({ mode: 'cluster', nodes: ['rc-0:6379'], password: 'pw' });
  });

  it('refuses none or several', () => {
    expect(() => redisTargetFromConfig({})).toThrow('set exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES, got none');
    expect(() => redisTargetFromConfig({ REDIS_URL: 'redis://r', REDIS_CLUSTER_NODES: ['rc-0:6379'] })).toThrow('got REDIS_URL and REDIS_CLUSTER_NODES');
  });
});

describe('describeRedisTarget', () => {
  it('never shows a password', () => {
    expect(describeRedisTarget({ mode: 'single', url: 'redis://:s3cret@r:6379/0' })).toBe('single redis://r:6379/0');
    expect(describeRedisTarget({ mode: 'sentinel', sentinels: ['s0:26379'], masterName: 'm', password: 's3cret' })).toBe('sentinel master "m" via s0:26379');
    expect(describeRedisTarget({ mode: 'cluster', nodes: ['a:1', 'b:2'] })).toBe('cluster via a:1,b:2');
  });
});
