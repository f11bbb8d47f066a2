// Where an order goes: the producer's partitioner, and the partition of a product computed with
// that very partitioner, so the operator reads the lag of a sale's own partition.
// Invariant: partitionOfProduct(p, n) is the partition the producer writes p's orders to on a
// topic of n partitions (same key, orderKey, and same hash, kafkajs' Java-compatible murmur2).
import { Partitioners, type ICustomPartitioner } from 'kafkajs';
import { orderKey } from './order-message.js';

export const createOrderPartitioner: ICustomPartitioner = Partitioners.DefaultPartitioner;

export function partitionOfProduct(productId: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`partitions must be a positive integer, got ${partitions}`);
  const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, partitionErrorCode: 0, leader: 0, replicas: [0], isr: [0] }));
  return createOrderPartitioner()({ topic: 'orders', partitionMetadata, message: { key: orderKey({ productId }), value: null } });
}
