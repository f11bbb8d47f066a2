// The API's Redis durability settings: replica acknowledgement on by default with Sentinel, off for
// a single Redis, refused on a Cluster, and its timeout kept below the command timeout.
import { describe, expect, it } from 'vitest';
import { loadApiConfig, replicaAcks } from './config.js';

const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db', KAFKA_BROKERS: '127.0.0.1:9092' };
const sentinel = { ...base, REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_MASTER: 'm' };

describe('REDIS_REPLICA_ACKS', () => {
  it('defaults to 1 with Sentinel and 0 for a single Redis or a Cluster', () => {
    expect(replicaAcks(loadApiConfig(sentinel))).toBe(1);
    expect(replicaAcks(loadApiConfig({ ...base, REDIS_URL: 'redis://127.0.0.1:6379' }))).toBe(0);
    expect(replicaAcks(loadApiConfig({ ...base, REDIS_CLUSTER_NODES: '127.0.0.1:7000' }))).toBe(0);
  });

  it('takes an explicit value in any mode but Cluster', () => {
    expect(replicaAcks(loadApiConfig({ ...sentinel, REDIS_REPLICA_ACKS: '0' }))).toBe(0);
    expect(replicaAcks(loadApiConfig({ ...base, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_REPLICA_ACKS: '2' }))).toBe(2);
    expect(() => loadApiConfig({ ...base, REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_REPLICA_ACKS: '1' })).toThrow(
      /REDIS_REPLICA_ACKS=1 is not supported with REDIS_CLUSTER_NODES/,
    );
  });

  it('refuses bad values naming the variable', () => {
    expect(() => loadApiConfig({ ...sentinel, REDIS_REPLICA_ACKS: 'one' })).toThrow(/REDIS_REPLICA_ACKS must be an integer/);
    expect(() => loadApiConfig({ ...sentinel, REDIS_REPLICA_ACKS: '-1' })).toThrow(/REDIS_REPLICA_ACKS/);
    expect(() => loadApiConfig({ ...sentinel, REDIS_REPLICA_ACK_TIMEOUT_MS: '2000', REDIS_COMMAND_TIMEOUT_MS: '2000' })).toThrow(
      /REDIS_REPLICA_ACK_TIMEOUT_MS \(2000\) must be below REDIS_COMMAND_TIMEOUT_MS \(2000\)/,
    );
  });
});
