// Consumer-group lag per partition: how many messages the group still has to process.
// The operator scales workers on it and gates Redis reseeding on "lag is 0".
import type { Admin } from 'kafkajs';

export interface PartitionOffsets {
  partition: number;
  /** Log start offset (the oldest message still retained). */
  low: string;
  /** Log end offset (the offset the next produced message will get). */
  high: string;
}

export interface CommittedOffset {
  partition: number;
  /** Next offset the group will read; "-1" when the group never committed on this partition. */
  offset: string;
}

export interface PartitionLag {
  partition: number;
  lag: number;
  /** The group has no committed offset here; lag counts every retained message (the worker reads from the beginning). */
  noCommittedOffset: boolean;
}

export interface TopicLag {
  topic: string;
  partitions: PartitionLag[];
  total: number;
}

/**
 * lag = log end − max(committed, log start), never negative.
 * No committed offset (-1): the worker starts from the earliest retained message, so all of
 * high − low is lag. A committed offset below the log start (retention deleted messages) also
 * counts from the log start: those messages cannot be consumed anymore.
 */
export function computeLag(topic: string, offsets: PartitionOffsets[], committed: CommittedOffset[]): TopicLag {
  const committedBy = new Map(committed.map((c) => [c.partition, BigInt(c.offset)]));
  const partitions = offsets
    .map((o) => {
      const high = BigInt(o.high);
      const low = BigInt(o.low);
      const c = committedBy.get(o.partition);
      const noCommittedOffset = c === undefined || c < 0n;
      const from = noCommittedOffset ? low : c! > low ? c! : low;
      const lag = high > from ? Number(high - from) : 0;
      return { partition: o.partition, lag, noCommittedOffset };
    })
    .sort((a, b) => a.partition - b.partition);
  return { topic, partitions, total: partitions.reduce((s, p) => s + p.lag, 0) };
}

/** Reads the offsets with the admin client (one ListOffsets and one OffsetFetch round) and computes the lag. */
export async function readConsumerLag(admin: Admin, groupId: string, topic: string): Promise<TopicLag> {
  const [offsets, fetched] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const committed = fetched.find((t) => t.topic === topic)?.partitions ?? [];
  return computeLag(
    topic,
    offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high })),
    committed.map((p) => ({ partition: p.partition, offset: p.offset })),
  );
}
