// Reads the consumer lag of the orders topic (per partition, via core/kafka/lag.ts), and
// answers "have the workers persisted everything that was in the topic at time T?" for recovery.
import type { Admin } from 'kafkajs';
import { computeLag, type TopicLag } from '../../core/kafka/lag.js';

/** Log end offset per partition at the moment a recovery began. */
export type DrainBarrier = Map<number, bigint>;

export interface LagReading {
  lag: TopicLag;
  partitions: number;
  partitionsWithLag: number;
  /** Log end offsets now (a barrier when captured). */
  high: DrainBarrier;
  low: Map<number, string>;
  committed: Map<number, string>;
}

export class LagReader {
  private connected: Promise<void> | undefined;

  constructor(
    private readonly admin: Admin,
    private readonly groupId: string,
    private readonly topic: string,
    /** A read that takes longer fails: a hung broker must not stall scaling and restart detection. */
    private readonly timeoutMs = 5_000,
  ) {}

  async read(): Promise<LagReading> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.readOnce(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`lag read timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async readOnce(): Promise<LagReading> {
    this.connected ??= this.admin.connect();
    try {
      await this.connected;
    } catch (e) {
      this.connected = undefined; // try again on the next read
      throw e;
    }
    const [offsets, fetched] = await Promise.all([
      this.admin.fetchTopicOffsets(this.topic),
      this.admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] }),
    ]);
    if (offsets.length === 0) throw new Error(`topic ${this.topic} has no partitions`);
    const committedList = fetched.find((t) => t.topic === this.topic)?.partitions ?? [];
    const lag = computeLag(this.topic, offsets, committedList);
    return {
      lag,
      partitions: offsets.length,
      partitionsWithLag: lag.partitions.filter((p) => p.lag > 0).length,
      high: new Map(offsets.map((o) => [o.partition, BigInt(o.high)])),
      low: new Map(offsets.map((o) => [o.partition, o.low])),
      committed: new Map(committedList.map((c) => [c.partition, c.offset])),
    };
  }

  async close(): Promise<void> {
    if (!this.connected) return;
    await this.connected.catch(() => undefined); // let a pending connect settle, then disconnect
    await this.admin.disconnect().catch(() => undefined);
  }
}

/** Messages below the barrier the group has not processed yet (0 = drained). Same rules as the lag. */
export function remainingBeforeBarrier(reading: LagReading, barrier: DrainBarrier): number {
  const offsets = [...barrier].map(([partition, high]) => ({
    partition,
    low: reading.low.get(partition) ?? '0',
    high: String(high),
  }));
  const committed = [...reading.committed].map(([partition, offset]) => ({ partition, offset }));
  return computeLag('barrier', offsets, committed).total;
}
