// Self-healing: Redis loses the sale (FLUSHALL, then a real Redis restart) while orders keep
// arriving through the real API, and the real worker persists them. The operator closes the gate
// (503 recovering, never sold out), waits for the workers to drain the topic, reseeds from
// PostgreSQL, reopens. At the end nothing is oversold and every 200 is in PostgreSQL.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saleKeys } from '../../core/redis/keys.js';
import { readState } from '../../tools/stack/state.js';
import { ensureService, stopService } from '../../tools/stack/services/index.js';
import { startComponent, type RunningProcess } from '../support/processes.js';
import { order } from '../support/api.js';
import {
  applyCrd, backends, condition, createNamespace, flashSale, kubectl, operatorKubeconfig, requireEnv, startOperator, uniqueName,
  waitFor, waitForSale, type Backends,
} from './support.js';

let ns = '';
let b: Backends;
const procs: RunningProcess[] = [];
let apiBase = '';

beforeAll(async () => {
  await applyCrd();
  ns = await createNamespace('op-recovery');
  const kubeconfig = await operatorKubeconfig(ns);
  b = await backends('recovery', 3);
  procs.push(await startComponent('worker', b.env, { readyTimeoutMs: 90_000 }));
  const api = await startComponent('api', { ...b.env, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN: 'e2e-operator-admin-token-0123', PRODUCT_LOOKUP_CACHE_MS: '200' }, { readyTimeoutMs: 90_000 });
  procs.push(api);
  apiBase = `http://127.0.0.1:${api.port}`;
  procs.push(await startOperator(ns, kubeconfig, b));
}, 240_000);

afterAll(async () => {
  for (const p of procs.reverse()) await p.stop();
  await b?.close();
});

interface Answer { sent: number; at: number; status: number; body: { status?: string; orderId?: string } | undefined }

/** Orders at a steady pace from distinct users until stopped. */
function orderStream(productId: string, everyMs: number) {
  const answers: Answer[] = [];
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      const res = await order(apiBase, { productId, userId: `u${n++}`, quantity: 1 }, randomUUID()).catch(() => undefined);
      if (res) answers.push({ sent: t, at: Date.now(), status: res.status, body: res.body });
      const wait = everyMs - (Date.now() - t);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return { answers, stop: async () => { running = false; await loop; } };
}

async function lostAndRecovered(
  name: string,
  productId: string,
  stream: ReturnType<typeof orderStream>,
  /** Makes Redis lose the sale; resolves with the moment the loss took effect. */
  breakRedis: () => Promise<number>,
): Promise<{ ms: number; during: Answer[]; statusSeconds: number }> {
  const before = (await waitForSale(ns, name, 'seeded', (x) => condition(x, 'StockSeeded')?.status === 'True')).status?.recovery?.count ?? 0;
  await waitFor('a few orders accepted first', async () => stream.answers.filter((a) => a.status === 200).length >= 5 || undefined, 30_000, 50);
  const lostAt = await breakRedis();
  const s = await waitForSale(ns, name, 'recovered', (x) => (x.status?.recovery?.count ?? 0) > before && x.status?.phase !== 'Recovering', 120_000);
  // Only requests sent after the loss count (one in flight at that moment may still succeed).
  const firstSale = await waitFor('an order accepted after the recovery', async () => stream.answers.find((a) => a.sent > lostAt && a.status === 200), 60_000, 50);
  return {
    ms: firstSale.at - lostAt,
    during: stream.answers.filter((a) => a.sent > lostAt && a.sent < firstSale.sent),
    statusSeconds: s.status?.recovery?.lastDurationSeconds ?? -1,
  };
}

describe('recovery after Redis loses the sale, under load', () => {
  const name = 'hot';
  const productId = uniqueName('hot');
  const stock = 250;

  it('FLUSHALL, then a Redis restart: 503 meanwhile, reseeded from PostgreSQL, nothing oversold, nothing lost', async () => {
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale(name, { productId, stock, limits: { perUser: 1 } }) });
    await waitForSale(ns, name, 'Active', (x) => x.status?.phase === 'Active');
    const stream = orderStream(productId, 25);

    const flush = await lostAndRecovered(name, productId, stream, async () => {
      await b.redis.flushall();
      return Date.now();
    });
    const state = readState(requireEnv('FLUXGATE_STACK_STATE'))!;
    const restart = await lostAndRecovered(name, productId, stream, async () => {
      await stopService(state, 'redis');
      const down = Date.now();
      await ensureService({ state, log: () => undefined }, 'redis');
      return down;
    });

    // keep buying until the sale says sold out
    await waitFor('sold out', async () => stream.answers.some((a) => a.status === 409 && a.body?.status === 'sold_out') || undefined, 120_000, 100);
    await stream.stop();
    const final = await waitForSale(ns, name, 'SoldOut and drained', (x) => x.status?.phase === 'SoldOut' && x.status.workers?.lag === 0 && x.status.stock?.postgres === 0, 120_000);

    const accepted = stream.answers.filter((a) => a.status === 200).map((a) => a.body!.orderId!);
    const rows = await b.pool.query<{ status: string; n: string }>(
      'SELECT status, count(*)::text AS n FROM orders WHERE product_id = $1 GROUP BY status ORDER BY status', [productId]);
    const byStatus = Object.fromEntries(rows.rows.map((r) => [r.status, Number(r.n)]));
    const report = {
      flushall: { clientSeenRecoveryMs: flush.ms, gateClosedSeconds: flush.statusSeconds, answers503: flush.during.length },
      redisRestart: { clientSeenRecoveryMs: restart.ms, gateClosedSeconds: restart.statusSeconds, answers503: restart.during.length },
      orders: { accepted: accepted.length, confirmed: byStatus.confirmed, rejected: byStatus.rejected ?? 0 },
    };
    console.log(`[operator recovery] ${JSON.stringify(report)}`);

    // While Redis had lost the sale: only 503s, never "sold out".
    for (const w of [flush, restart]) {
      expect(w.during.length).toBeGreaterThan(0);
      for (const a of w.during) expect(a.status, JSON.stringify(a.body)).toBe(503);
    }
    expect(flush.during.filter((a) => a.body?.status !== 'recovering')).toEqual([]);

    // Nothing oversold: confirmed orders are exactly the stock; nothing lost: every 200 is stored.
    expect(byStatus.confirmed).toBe(stock);
    const stored = await b.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM orders WHERE id = ANY($1::uuid[])', [accepted]);
    expect(Number(stored.rows[0]!.n)).toBe(accepted.length);
    expect(accepted.length).toBe(stock + (byStatus.rejected ?? 0));
    expect(final.status?.stock).toMatchObject({ postgres: 0, redis: 0, sold: stock });
    expect(await b.redis.get(saleKeys(productId).stock)).toBe('0');
    expect(final.status?.recovery?.count).toBe(2);
    expect(final.status?.redis?.epoch).toBe(3);
    expect(condition(final, 'Consistent')?.status).toBe('True');

  }, 300_000);
});
