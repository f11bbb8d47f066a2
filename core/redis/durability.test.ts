// ReplicaAcks on a fake connection (the WAIT reply and the reconnects are scripted): one WAIT per
// batch of callers, too few acknowledgements or a reconnect in between fail the whole batch.
import { EventEmitter } from 'node:events';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { RedisClient } from './client.js';
import { ReplicaAckError, ReplicaAcks } from './durability.js';

/** A connection whose WAIT answers are resolved by the test. */
function fakeRedis() {
  const calls: Array<{ args: unknown[]; answer: (n: number) => void; fail: (e: Error) => void }> = [];
  const conn = Object.assign(new EventEmitter(), {
    call: (...args: unknown[]) => new Promise((answer, fail) => calls.push({ args, answer, fail })),
  });
  return { conn: conn as unknown as RedisClient, calls, reconnect: () => conn.emit('close') };
}

const tick = () => new Promise((r) => setImmediate(r));
const settled = (p: Promise<void>) => p.then(() => 'ok', (e: Error) => e);

describe('ReplicaAcks', () => {
  it('sends one WAIT for every caller of the same tick, the next ones wait for the next WAIT', async () => {
    const f = fakeRedis();
    const acks = new ReplicaAcks(f.conn, { replicas: 1, timeoutMs: 300 });
    const first = [acks.settle(), acks.settle(), acks.settle()].map(settled);
    await tick();
    expect(f.calls.map((c) => c.args)).toEqual([['WAIT', 1, 300]]);
    const later = settled(acks.settle());
    await tick();
    expect(f.calls).toHaveLength(1); // one WAIT in flight at a time
    f.calls[0]!.answer(1);
    expect(await Promise.all(first)).toEqual(['ok', 'ok', 'ok']);
    await tick();
    expect(f.calls).toHaveLength(2);
    f.calls[1]!.answer(2);
    expect(await later).toBe('ok');
  });

  it('fails the batch when fewer replicas acknowledged than asked', async () => {
    const f = fakeRedis();
    const acks = new ReplicaAcks(f.conn, { replicas: 2, timeoutMs: 100 });
    const p = settled(acks.settle());
    await tick();
    f.calls[0]!.answer(1);
    const err = await p;
    expect(err).toBeInstanceOf(ReplicaAckError);
    expect(String(err)).toMatch(/1 of 2 Redis replicas acknowledged the reservation within 100 ms/);
  });

  it('fails callers whose reservation was answered on an earlier connection', async () => {
    const f = fakeRedis();
    const acks = new ReplicaAcks(f.conn, { replicas: 1, timeoutMs: 100 });
    const before = settled(acks.settle());
    f.reconnect();
    const after = settled(acks.settle());
    await tick();
    expect(String(await before)).toMatch(/connection changed/);
    f.calls[0]!.answer(1);
    expect(await after).toBe('ok');
  });

  it('fails the batch when the connection changed while its WAIT was out (a resent WAIT counts the wrong writes)', async () => {
    const f = fakeRedis();
    const acks = new ReplicaAcks(f.conn, { replicas: 1, timeoutMs: 100 });
    const p = settled(acks.settle());
    await tick();
    f.reconnect();
    f.calls[0]!.answer(1);
    expect(String(await p)).toMatch(/connection changed/);
  });

  it('fails the batch when WAIT itself fails', async () => {
    const f = fakeRedis();
    const acks = new ReplicaAcks(f.conn, { replicas: 1, timeoutMs: 100 });
    const p = settled(acks.settle());
    await tick();
    f.calls[0]!.fail(new Error('Connection is closed.'));
    expect(String(await p)).toMatch(/Redis WAIT failed: Connection is closed/);
  });

  it('refuses a Cluster client (WAIT counts the writes of one node)', () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    expect(() => new ReplicaAcks(cluster, { replicas: 1, timeoutMs: 100 })).toThrow(/not supported on Redis Cluster/);
  });
});
