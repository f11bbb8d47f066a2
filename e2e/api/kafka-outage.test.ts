// Kafka down: orders get 503 + Retry-After and give their stock back (no leak); the idempotency key
// is free again. Kafka back: readiness returns and the same key places its order.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceControl } from '../../tools/stack/control.js';
import { countBy, http, initSale, order, redisStock, startApi, topicEndOffset, uniqueName, waitFor, type ApiHarness } from '../support/api.js';

let h: ApiHarness;
const control = new ServiceControl();

beforeAll(async () => {
  h = await startApi('kafka-outage', { KAFKA_PRODUCE_RETRIES: '2', KAFKA_REQUEST_TIMEOUT_MS: '2000' });
});

afterAll(async () => {
  await control.start('kafka'); // whatever happened, leave the stack whole for the next file
  if (h) await topicEndOffset(h.topic); // and answering metadata requests again
  await h?.close();
});

describe('Kafka outage', () => {
  it('503 + Retry-After and the stock comes back while the broker is down; orders flow again once it is back', async () => {
    const productId = uniqueName('outage');
    await initSale(h.base, { productId, quantity: 100 });
    expect((await order(h.base, { productId, userId: 'before' })).status).toBe(200);
    const offsetBefore = await topicEndOffset(h.topic);

    await control.stop('kafka');
    const key = randomUUID();
    const failed = await order(h.base, { productId, userId: 'during' }, key);
    expect(failed.status).toBe(503);
    expect(failed.body.status).toBe('unavailable');
    expect(failed.body.message).toMatch(/Kafka unavailable/);
    expect(failed.headers['retry-after']).toBe('1');
    expect(await redisStock(h.redis, productId)).toBe(99);

    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => order(h.base, { productId, userId: `burst-${i}` })));
    expect(countBy(burst, (r) => r.status)).toEqual({ 503: 20 });
    expect(await redisStock(h.redis, productId)).toBe(99);
    const notReady = await waitFor('readiness to fail', async () => {
      const r = await http(h.base, 'GET', '/readyz');
      return r.status === 503 ? r : undefined;
    });
    expect(notReady.body).toEqual({ status: 'not_ready', redis: true, kafka: false, shuttingDown: false });

    await control.start('kafka');
    await waitFor('readiness to come back', async () => ((await http(h.base, 'GET', '/readyz')).status === 200 ? true : undefined), 90_000);
    // As a client does: retry with the same key while the answer is 503 (partition leaders may
    // still be settling right after the broker restart); every 503 gives its stock back.
    let refusedAfterRestart = 0;
    const retried = await waitFor('the order to go through', async () => {
      const r = await order(h.base, { productId, userId: 'during' }, key);
      if (r.status !== 503) return r;
      refusedAfterRestart++;
      return undefined;
    });
    expect(retried.status).toBe(200);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(retried.body.remaining).toBe(98);
    expect(await redisStock(h.redis, productId)).toBe(98);
    expect(await topicEndOffset(h.topic)).toBe(offsetBefore + 1);
    const metrics = (await http(h.base, 'GET', '/metrics')).text;
    const produceFailures = 21 + refusedAfterRestart;
    expect(metrics).toContain(`fluxgate_kafka_produce_errors_total{component="api"} ${produceFailures}\n`);
    expect(metrics).toContain(`fluxgate_reservation_releases_total{result="released",component="api"} ${produceFailures}\n`);
  });
});
