// Reservations still on their way to Kafka, for the operator's recovery barrier: an order reserved
// before the gate closed but produced after the barrier was captured would be missed by the reseed.
// Invariant read here: a reservation's idempotency record stays non-durable (not "d") until the
// API saw Kafka acknowledge its produce, or it is released (record deleted).
import { masterNodes, type FluxRedis } from './client.js';
import { saleKeys } from './keys.js';
import { parseIdempotencyRecord } from './reserve.js';

/**
 * How many of the sale's reservations are not yet durable, not counting those accepted more than
 * `maxAgeMs` ago (by Redis's clock): their API pod died, or gave up, long ago. Meaningful only
 * with the gate closed (no new reservation can start). SCANs the node holding the sale's keys.
 */
export async function countReservationsInFlight(redis: FluxRedis, productId: string, maxAgeMs: number): Promise<number> {
  const idemPrefix = saleKeys(productId).idem('');
  let count = 0;
  for (const node of masterNodes(redis)) {
    const [sec, micro] = await node.time();
    const nowMs = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
    const stream = node.scanStream({ match: `${idemPrefix}*`, count: 500 });
    for await (const batch of stream as AsyncIterable<string[]>) {
      if (!batch.length) continue;
      const records = await node.mget(...batch);
      for (const raw of records) {
        if (raw === null) continue;
        const r = parseIdempotencyRecord(raw);
        if (r.state !== 'done' && nowMs - r.acceptedAtMs < maxAgeMs) count++;
      }
    }
  }
  return count;
}
