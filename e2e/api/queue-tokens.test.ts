// Admission tokens and admissions running out, against the built API process and the real stack:
// a token is good for the units its holder may buy (perUserLimit in all, each consumed with its
// reservation), and an admission nobody uses (token expired, or never even fetched) gives its slot
// to the next in line. Verdicts come from what clients saw and what Redis holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saleKeys } from '../../core/redis/keys.js';
import { http, initSale, order, redisStock, startApi, uniqueName, waitFor, type ApiHarness, type Res } from '../support/api.js';

const KEYS = 'k1:first-key-0123456789-0123456789-abcdef';
let h: ApiHarness;

beforeAll(async () => {
  h = await startApi('queue-tokens', { ADMISSION_SIGNING_KEYS: KEYS });
});

afterAll(async () => {
  await h?.close();
});

const join = (productId: string, userId: string) => http(h.base, 'POST', '/queue', { body: { productId, userId } });
const poll = (ticket: string) => http(h.base, 'GET', `/queue/${ticket}`);
const orderWith = (productId: string, userId: string, token: string, quantity = 1) =>
  order(h.base, { productId, userId, quantity }, undefined, { 'x-admission-token': token });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until the ticket is admitted; returns the poll's body (token, tokenExpiresAt). */
const admittedBody = (ticket: string) =>
  waitFor('admitted', async () => {
    const r = await poll(ticket);
    return r.body.state === 'admitted' ? r.body : undefined;
  }, 60_000);

/** Redis's clock (ms): the serving counter runs on it. */
async function redisNowMs(): Promise<number> {
  const [s, us] = await h.redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

describe('admission tokens', () => {
  it('a token is good for perUserLimit units in all, across orders, each unit consumed with its reservation; beyond that 409 and nothing changes', async () => {
    const productId = uniqueName('units');
    await initSale(h.base, { productId, quantity: 10, perUserLimit: 3, admission: { mode: 'queue', ratePerSecond: 100 } });
    const ticket = (await join(productId, 'carol')).body.ticket as string;
    const token = (await admittedBody(ticket)).token as string;

    const first = await orderWith(productId, 'carol', token, 1);
    expect(first.status, first.text).toBe(200);
    // Two more units on a second order with the same token: the user may buy 3 in all.
    const second = await orderWith(productId, 'carol', token, 2);
    expect(second.status, second.text).toBe(200);
    expect(await redisStock(h.redis, productId)).toBe(7);
    expect((await poll(ticket)).body).toMatchObject({ state: 'admitted', tokenUsed: true });

    const beyond: Res[] = [await orderWith(productId, 'carol', token, 1), await orderWith(productId, 'carol', token, 1)];
    for (const r of beyond) expect([r.status, r.body.status]).toEqual([409, 'admission_token_used']);
    expect(await redisStock(h.redis, productId)).toBe(7);
    expect(await h.redis.get(saleKeys(productId).user('carol'))).toBe('3');
  });

  it('an order over what is left of the allowance is refused whole (403 limit_reached), the rest stays usable', async () => {
    const productId = uniqueName('units-left');
    await initSale(h.base, { productId, quantity: 10, perUserLimit: 3, admission: { mode: 'queue', ratePerSecond: 100 } });
    const ticket = (await join(productId, 'dave')).body.ticket as string;
    const token = (await admittedBody(ticket)).token as string;
    expect((await orderWith(productId, 'dave', token, 2)).status).toBe(200);
    expect((await poll(ticket)).body.tokenUsed).toBeUndefined(); // one unit left: still usable
    const over = await orderWith(productId, 'dave', token, 2);
    expect([over.status, over.body.status]).toEqual([403, 'limit_reached']);
    expect(await redisStock(h.redis, productId)).toBe(8);
    expect((await orderWith(productId, 'dave', token, 1)).status).toBe(200);
    const replay = await orderWith(productId, 'dave', token, 1);
    expect([replay.status, replay.body.status]).toEqual([409, 'admission_token_used']);
    expect(await redisStock(h.redis, productId)).toBe(7);
  });

  it('without a per-user limit a token buys one order', async () => {
    const productId = uniqueName('one-order');
    await initSale(h.base, { productId, quantity: 10, admission: { mode: 'queue', ratePerSecond: 100 } });
    const token = (await admittedBody((await join(productId, 'erin')).body.ticket)).token as string;
    expect((await orderWith(productId, 'erin', token, 2)).status).toBe(200);
    const again = await orderWith(productId, 'erin', token, 1);
    expect([again.status, again.body.status]).toEqual([409, 'admission_token_used']);
    expect(await redisStock(h.redis, productId)).toBe(8);
  });
});

describe('admissions nobody uses go to the next in line', () => {
  const RATE = 1;
  const TTL = 5;
  const USERS = 60;
  const IDLE = 5; // the first five in line are admitted and never order

  /**
   * A line of USERS at RATE/s whose first IDLE places are admitted and left unused (`idle` says how),
   * the others buying as soon as they are admitted. Returns once more places were admitted than the
   * rate alone can reach by Redis's clock: 1 + floor((now - time before the first join) × rate) —
   * only the idle slots given to the next in line explain that.
   */
  async function lineWithIdleFront(name: string, idle: (tickets: string[]) => Promise<void>) {
    const productId = uniqueName(name);
    await initSale(h.base, { productId, quantity: 1000, admission: { mode: 'queue', ratePerSecond: RATE, tokenTtlSeconds: TTL } });
    const users = Array.from({ length: USERS }, (_, i) => `w${i}`);
    const joinedFrom = await redisNowMs();
    const tickets: string[] = [];
    for (const u of users) tickets.push((await join(productId, u)).body.ticket as string);
    await idle(tickets.slice(0, IDLE));
    let next = IDLE; // the first buyer not seen admitted yet (FIFO: user i holds place i + 1)
    const deadline = Date.now() + 120_000;
    for (;;) {
      for (; next < USERS; next++) {
        const r = await poll(tickets[next]!);
        if (r.body.state !== 'admitted') {
          expect(r.body.state, r.text).toBe('waiting');
          break;
        }
        // Bought at once: a used slot is never given again, so only the idle ones can be.
        const o = await orderWith(productId, users[next]!, r.body.token as string);
        expect(o.status, o.text).toBe(200);
      }
      const rateOnly = 1 + Math.floor(((await redisNowMs()) - joinedFrom) * RATE / 1000);
      // Places 1..admitted were reached (the idle ones are never polled here: that would claim them).
      const admitted = next > IDLE ? next : 0;
      if (admitted > rateOnly) return { productId, tickets, users, admitted, rateOnly };
      expect(next, 'the line ran out before the idle slots were given on').toBeLessThan(USERS);
      expect(Date.now(), `admitted ${admitted}, the rate alone reaches ${rateOnly}: the idle slots were never given on`).toBeLessThan(deadline);
      await sleep(250);
    }
  }

  it('tokens expired unused: their holders get 403 admission_token_expired and nothing changes; their slots went to the next in line', async () => {
    const tokens: string[] = [];
    const run = await lineWithIdleFront('expire', async (front) => {
      for (const t of front) tokens.push((await admittedBody(t)).token as string);
    });
    const bought = run.admitted - IDLE;
    expect(await redisStock(h.redis, run.productId)).toBe(1000 - bought);
    for (const [i, t] of tokens.entries()) {
      await waitFor(`token ${i} to expire`, async () => (await poll(run.tickets[i]!)).body.state === 'expired' || undefined, 60_000);
      await waitFor(`token ${i} swept`, async () => (await h.redis.zscore(saleKeys(run.productId).tokens, run.users[i]!)) === '1' || undefined, 60_000);
      const late = await orderWith(run.productId, run.users[i]!, t);
      expect([late.status, late.body.status]).toEqual([403, 'admission_token_expired']);
    }
    expect(await redisStock(h.redis, run.productId)).toBe(1000 - bought);
  }, 180_000);

  it('admitted buyers who never poll: their admission runs out tokenTtlSeconds after the counter reached them, the slot goes on', async () => {
    const run = await lineWithIdleFront('never-poll', async () => {});
    for (const [i, t] of run.tickets.slice(0, IDLE).entries()) {
      // Too late now (once the sweep settled it): no token is handed out, and without one nothing can be bought.
      await waitFor(`place ${i + 1} to run out`, async () => Number(await h.redis.hget(saleKeys(run.productId).meta, 'qSettled')) > i || undefined, 60_000);
      expect((await poll(t)).body.state).toBe('expired');
      expect(await h.redis.zscore(saleKeys(run.productId).tokens, run.users[i]!)).toBeNull();
      const o = await order(h.base, { productId: run.productId, userId: run.users[i]! });
      expect([o.status, o.body.status]).toEqual([403, 'admission_token_required']);
    }
    expect(await redisStock(h.redis, run.productId)).toBe(1000 - (run.admitted - IDLE));
  }, 180_000);
});
