// API, worker and operator on the stack's Redis TLS listener, API and operator each as its own ACL
// user (core/redis/acl.ts, passwords a URL would need escaped): a FlashSale is seeded, sold out end
// to end, restocked (WATCH/MULTI), recovered after Redis lost it (gate, in-flight SCAN, reseed) and
// deleted (SCAN + UNLINK); Redis logs no NOPERM for either process: their ACLs hold all they do.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saleKeys } from '../../core/redis/keys.js';
import { order } from '../support/api.js';
import type { RunningProcess } from '../support/processes.js';
import {
  buyers, condition, flashSale, kubectl, requireEnv, startSaleStack, stopAll, storedOrders, testbed, uniqueName, waitFor,
  waitForSale, type Backends,
} from './support.js';

let ns = '';
let b: Backends;
let procs: RunningProcess[] = [];
let apiBase = '';

beforeAll(async () => {
  const t = await testbed('redis-tls');
  ({ ns, b } = t);
  const tls = { REDIS_URL: requireEnv('FLUXGATE_REDIS_TLS_URL'), REDIS_TLS_CA_FILE: requireEnv('FLUXGATE_TLS_CA') };
  ({ procs, apiBase } = await startSaleStack(
    t,
    tls,
    { REDIS_USERNAME: requireEnv('FLUXGATE_REDIS_API_USERNAME'), REDIS_PASSWORD: requireEnv('FLUXGATE_REDIS_API_PASSWORD') },
    { REDIS_USERNAME: requireEnv('FLUXGATE_REDIS_OPERATOR_USERNAME'), REDIS_PASSWORD: requireEnv('FLUXGATE_REDIS_OPERATOR_PASSWORD') },
  ));
}, 240_000);

afterAll(() => stopAll(procs, b));

/** NOPERM entries Redis logged for the processes' connections (names set by api/operator) as the ACL users. */
async function denials(): Promise<string[]> {
  const log = (await b.redis.call('ACL', 'LOG', '1000')) as unknown[][];
  return log.map((e) => e.join(' ')).filter((e) => / username fluxgate-(api|operator) /.test(e) && /name=flux-gate-(api|operator)/.test(e));
}

describe('Redis over TLS with an ACL user per process', () => {
  const name = 'tls';
  const productId = uniqueName('redis-tls');
  const stock = 20;

  it('seeds, sells out end to end, restocks, recovers and deletes with no NOPERM', async () => {
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale(name, { productId, stock }) });
    await waitForSale(ns, name, 'Ready', (x) => condition(x, 'Ready')?.status === 'True');
    const conns = String(await b.redis.call('CLIENT', 'LIST')).split('\n');
    const tlsPort = requireEnv('FLUXGATE_REDIS_TLS_PORT');
    for (const [conn, user] of [['flux-gate-api', 'fluxgate-api'], ['flux-gate-operator', 'fluxgate-operator'], ['flux-gate-operator-tx', 'fluxgate-operator']]) {
      const line = conns.find((l) => l.includes(` name=${conn}@`) && l.includes(` user=${user} `));
      expect(line, `${conn} as ${user}`).toContain(` laddr=127.0.0.1:${tlsPort} `);
    }

    // Sold out through the API; every 200 confirmed by the worker.
    const crowd = buyers(apiBase, productId, { buyers: 4 });
    await waitFor('sold out', async () => crowd.answers.some((a) => a.code === 'sold_out') || undefined, 60_000);
    await crowd.stop();
    const accepted = crowd.accepted();
    expect(accepted).toHaveLength(stock);
    expect((await storedOrders(b, productId, accepted)).filter((o) => o.status === 'confirmed')).toHaveLength(stock);

    // Restock: the operator raises Redis's stock in a WATCH/MULTI transaction.
    await kubectl(['patch', 'fs', name, '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { stock: stock + 5 } })]);
    await waitForSale(ns, name, 'restocked', (x) => x.status?.stock?.redis === 5 && x.status.stock.allocated === stock + 5);

    // Redis loses the sale: the operator closes the gate, counts reservations in flight, reseeds.
    const before = (await waitForSale(ns, name, 'Ready', (x) => condition(x, 'Ready')?.status === 'True')).status?.recovery?.count ?? 0;
    const k = saleKeys(productId);
    await b.redis.del(k.stock, k.meta, k.epoch);
    await waitForSale(ns, name, 'recovered', (x) => (x.status?.recovery?.count ?? 0) > before && condition(x, 'Ready')?.status === 'True', 120_000);
    expect(await b.redis.get(k.stock)).toBe('5');
    const more = await Promise.all(Array.from({ length: 6 }, (_, i) => fetchOrder(productId, `late-${i}`)));
    expect(more.sort()).toEqual([200, 200, 200, 200, 200, 409]);

    // Delete: the finalizer removes the sale's keys (SCAN + UNLINK) as the operator's user.
    await kubectl(['delete', 'fs', name, '-n', ns, '--wait=true', '--timeout=90s']);
    expect(await b.redis.exists(k.stock, k.meta, k.epoch)).toBe(0);

    expect(await denials(), 'NOPERM logged for Flux-Gate: an ACL in core/redis/acl.ts lacks what the process does').toEqual([]);
  }, 300_000);
});

async function fetchOrder(productId: string, userId: string): Promise<number> {
  return (await order(apiBase, { productId, userId }, randomUUID())).status;
}
