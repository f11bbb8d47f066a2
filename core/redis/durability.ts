// Replica acknowledgement of reservations before their orders leave the API (Redis WAIT, batched).
// Invariant: an order is produced (and so may be answered 200) only after `replicas` replicas
// acknowledged its reservation, on the very connection that made it. Redis replicates
// asynchronously; without this a failover can promote a replica that never saw acknowledged
// reservations, and it then sells units PostgreSQL will refuse (a 200 that ends rejected).
// One WAIT covers every write issued earlier on its connection, so concurrent orders share one.
import { Cluster } from 'ioredis';
import type { RedisClient } from './client.js';

export class ReplicaAckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicaAckError';
  }
}

/** What the order path awaits between its reservation and its produce. */
export interface Durability {
  /** Resolves once every reservation this process completed before the call is on enough replicas. */
  settle(): Promise<void>;
}

interface Waiter {
  /** Connection generation the caller's reservation was answered on. */
  gen: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface ReplicaAckOptions {
  replicas: number;
  timeoutMs: number;
  /** Observability hook: one call per WAIT. */
  onWait?: (orders: number, ok: boolean, seconds: number) => void;
}

/**
 * WAIT on the client's own connection, at most one in flight; callers arriving meanwhile share the
 * next one. A reconnect between a reservation and its WAIT (a failover, or ioredis resending the
 * WAIT on a new connection) would make WAIT count the new master's replicas for writes made on the
 * old one: the generation check refuses that case, and the caller releases and answers 503.
 */
export class ReplicaAcks implements Durability {
  private gen = 0;
  private queue: Waiter[] = [];
  private inFlight = false;
  private scheduled = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly opts: ReplicaAckOptions,
  ) {
    // WAIT counts the writes of one connection; a Cluster spreads a batch over several nodes.
    if (redis instanceof Cluster) throw new ReplicaAckError('replica acknowledgement (WAIT) is not supported on Redis Cluster yet');
    redis.on('close', () => this.gen++);
  }

  settle(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ gen: this.gen, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      // Let every reservation answered in this tick join the same WAIT.
      setImmediate(this.flush);
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.inFlight || this.queue.length === 0) return;
    const gen = this.gen;
    const batch = this.queue.splice(0);
    const moved = new ReplicaAckError('the Redis connection changed since the reservation: its replication cannot be confirmed');
    const current = batch.filter((w) => w.gen === gen);
    for (const w of batch) if (w.gen !== gen) w.reject(moved);
    if (current.length === 0) return;
    this.inFlight = true;
    const started = process.hrtime.bigint();
    const { replicas, timeoutMs } = this.opts;
    const done = (err?: Error) => {
      this.opts.onWait?.(current.length, !err, Number(process.hrtime.bigint() - started) / 1e9);
      for (const w of current) if (err) w.reject(err);
      else w.resolve();
    };
    this.redis
      .call('WAIT', replicas, timeoutMs)
      .then(
        (acked) => {
          if (this.gen !== gen) done(moved);
          else if (Number(acked) < replicas) done(new ReplicaAckError(`${acked} of ${replicas} Redis replicas acknowledged the reservation within ${timeoutMs} ms`));
          else done();
        },
        (err: Error) => done(new ReplicaAckError(`Redis WAIT failed: ${err.message}`)),
      )
      .finally(() => {
        this.inFlight = false;
        this.flush();
      });
  };
}
