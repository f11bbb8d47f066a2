// The waiting room against the built API process and the real stack: FIFO admission (0 inversions),
// a randomized start, one place per user, single-use signed tokens consumed with the reservation,
// an API restart, sold out told to everyone waiting, and the order invariants with the queue on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComponent, type RunningProcess } from '../support/processes.js';
import { http, initSale, order, redisStock, startApi, startWorkerFor, settledSale, uniqueName, waitFor, type ApiHarness, type Res } from '../support/api.js';
import { admissionRounds, countInversions, joinInOrder as pipelinedJoin, type Joined } from '../../tools/bench/queue-fairness.js';

const KEYS = 'k2:second-key-0123456789-0123456789-abcdef,k1:first-key-0123456789-0123456789-abcdef';
let h: ApiHarness;
let worker: RunningProcess | undefined;

beforeAll(async () => {
  h = await startApi('queue', { ADMISSION_SIGNING_KEYS: KEYS });
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  await h?.close();
});

const join = (productId: string, userId: string, base = h.base) => http(base, 'POST', '/queue', { body: { productId, userId } });
const poll = (ticket: string, base = h.base) => http(base, 'GET', `/queue/${ticket}`);
const queued = (productId: string, quantity: number, admission: { mode?: string; ratePerSecond: number; tokenTtlSeconds?: number; maxQueue?: number }, startsAt?: Date) =>
  initSale(h.base, { productId, quantity, admission: { mode: 'queue', ...admission }, ...(startsAt ? { startsAt: startsAt.toISOString() } : {}) });

/** Joins one user after the other (a known order); returns their tickets in that order. */
async function joinInOrder(productId: string, users: string[]): Promise<string[]> {
  const tickets: string[] = [];
  for (const u of users) {
    const r = await join(productId, u);
    expect(r.status, r.text).toBe(200);
    tickets.push(r.body.ticket);
  }
  return tickets;
}

/** One place per user: distinct join numbers, one queue entry each, a repeated join gives the same ticket. */
async function expectOnePlaceEach(productId: string, users: string[], joined: Joined) {
  expect(new Set(joined.numbers).size).toBe(users.length);
  expect(await h.redis.hlen(`fg:{${productId}}:q`)).toBe(users.length);
  const again = await pipelinedJoin(h.base, productId, users.slice(0, 100));
  expect(again.tickets).toEqual(joined.tickets.slice(0, 100));
}

describe('the waiting room', () => {
  // Through the API with a fast client: one pipelined keep-alive connection carries the joins in a
  // known order (tools/bench/queue-fairness.ts; npm run bench runs the same at 20,000 users).
  it('queue: 2,000 users joined in a known order are admitted in that order (0 inversions), one place each', async () => {
    const productId = uniqueName('fifo');
    await queued(productId, 1_000_000, { ratePerSecond: 100, tokenTtlSeconds: 3600 });
    const users = Array.from({ length: 2000 }, (_, i) => `u${i}`);
    const joined = await pipelinedJoin(h.base, productId, users);
    expect(joined.numbers).toEqual(users.map((_, i) => i + 1)); // Redis numbered them in the order sent
    const { inversions, round } = await admissionRounds(h.base, joined.tickets);
    expect(inversions).toBe(0);
    expect(Math.max(...round)).toBeGreaterThan(0); // a line did form: some still waited at the first round
    expect(countInversions(round)).toBe(0); // rounds never decrease along the join order
    await expectOnePlaceEach(productId, users, joined);
  }, 300_000);

  it('queue-randomized-start: 1,000 arrivals before the start are shuffled, 1,000 later ones are FIFO and after every early one', async () => {
    const productId = uniqueName('rand');
    // Lead time for 1,000 joins on a loaded machine: every "early" join must land before the start.
    const startsAt = new Date(Date.now() + 20_000);
    await queued(productId, 1_000_000, { mode: 'queue-randomized-start', ratePerSecond: 200, tokenTtlSeconds: 3600 }, startsAt);
    const earlyUsers = Array.from({ length: 1000 }, (_, i) => `e${i}`);
    const early = await pipelinedJoin(h.base, productId, earlyUsers);
    expect(Date.now(), 'the early joins finished before the start (else the test set-up, not the queue, failed)').toBeLessThan(startsAt.getTime());
    const before = await poll(early.tickets[0]!);
    expect(before.body).toMatchObject({ state: 'waiting', position: null });
    await waitFor('the start', async () => Date.now() > startsAt.getTime() + 200 || undefined, 40_000);
    const lateUsers = Array.from({ length: 1000 }, (_, i) => `l${i}`);
    const late = await pipelinedJoin(h.base, productId, lateUsers);
    const { round, inversions } = await admissionRounds(h.base, [...early.tickets, ...late.tickets], early.tickets.length);
    expect(inversions).toBe(0); // no later arrival ever admitted while an early one waits, and FIFO among them
    const earlyRounds = round.slice(0, early.tickets.length);
    const lateRounds = round.slice(early.tickets.length);
    expect(countInversions(earlyRounds)).toBeGreaterThan(0); // shuffled
    expect(countInversions(lateRounds)).toBe(0);
    expect(Math.min(...lateRounds)).toBeGreaterThanOrEqual(Math.max(...earlyRounds));
    await expectOnePlaceEach(productId, [...earlyUsers, ...lateUsers], { ...early, tickets: [...early.tickets, ...late.tickets], numbers: [...early.numbers, ...late.numbers] });
  }, 300_000);

  it('a line forms even when buyers arrive one by one: the rate holds from the first admission on', async () => {
    const productId = uniqueName('pace');
    await queued(productId, 100, { ratePerSecond: 1 });
    const joins: Res[] = [];
    for (let i = 0; i < 5; i++) joins.push(await join(productId, `p${i}`));
    expect(joins[0]!.body.position).toBe(0);
    expect(joins[4]!.body.position).toBeGreaterThan(0);
  });

  it('one place per user: joining again, even 20 times at once, returns the same ticket and place', async () => {
    const productId = uniqueName('once');
    await queued(productId, 10, { ratePerSecond: 1 }, new Date(Date.now() + 60_000));
    const first = await join(productId, 'x0');
    const again = await Promise.all(Array.from({ length: 20 }, () => join(productId, 'x1')));
    expect(new Set(again.map((r) => r.body.ticket)).size).toBe(1);
    expect((await join(productId, 'x0')).body.ticket).toBe(first.body.ticket);
    expect(again[0]!.body.position).toBe(2);
    expect(await h.redis.hlen(`fg:{${productId}}:q`)).toBe(2);
  });

  it('tokens: single use, bound to the user and the sale, forged or missing ones refused; nothing changes', async () => {
    const productId = uniqueName('tok');
    const other = uniqueName('tok-other');
    await queued(productId, 10, { ratePerSecond: 100 });
    await queued(other, 10, { ratePerSecond: 100 });
    const ticket = (await join(productId, 'alice')).body.ticket as string;
    const adm = await waitFor('alice admitted', async () => {
      const r = await poll(ticket);
      return r.body.state === 'admitted' ? r.body : undefined;
    });
    const token = adm.token as string;
    const bob = (await join(productId, 'bob')).body.ticket as string;
    const bobToken = (await waitFor('bob admitted', async () => ((await poll(bob)).body.state === 'admitted' ? (await poll(bob)).body : undefined))).token as string;
    const withToken = (body: object, t: string) => order(h.base, body, undefined, { 'x-admission-token': t });
    const refusals: Array<[string, Res]> = [
      ['no token', await order(h.base, { productId, userId: 'alice' })],
      ['forged signature', await withToken({ productId, userId: 'alice' }, token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA'))],
      ['unknown key id', await withToken({ productId, userId: 'alice' }, 'k9' + token.slice(2))],
      ["another user's token", await withToken({ productId, userId: 'alice' }, bobToken)],
      ['a token for another sale', await withToken({ productId: other, userId: 'alice' }, token)],
      ['not a token at all', await withToken({ productId, userId: 'alice' }, ticket)],
      ['malformed', await withToken({ productId, userId: 'alice' }, 'nope')],
    ];
    for (const [why, r] of refusals) {
      expect(r.status, why).toBeGreaterThanOrEqual(400);
      expect(r.status, why).toBeLessThan(500);
    }
    expect(refusals.map(([, r]) => r.body.status)).toEqual([
      'admission_token_required', 'admission_token_invalid', 'admission_token_invalid', 'admission_token_invalid', 'admission_token_invalid', 'admission_token_invalid', 'invalid_request',
    ]);
    expect(await redisStock(h.redis, productId)).toBe(10);
    expect(await redisStock(h.redis, other)).toBe(10);

    const ok = await withToken({ productId, userId: 'alice' }, token);
    expect(ok.status, ok.text).toBe(200);
    const replayed = await withToken({ productId, userId: 'alice' }, token);
    expect([replayed.status, replayed.body.status]).toEqual([409, 'admission_token_used']);
    expect(await redisStock(h.redis, productId)).toBe(9);
    expect((await poll(ticket)).body).toMatchObject({ state: 'admitted', tokenUsed: true });

    const badTicket = await poll(ticket.slice(0, -3) + 'xyz');
    expect([badTicket.status, badTicket.body.status]).toEqual([403, 'ticket_invalid']);
  });

  it('an expired token is refused and its holder told so', async () => {
    const productId = uniqueName('ttl');
    await queued(productId, 10, { ratePerSecond: 100, tokenTtlSeconds: 5 });
    const ticket = (await join(productId, 'slow')).body.ticket as string;
    const token = (await waitFor('admitted', async () => {
      const r = await poll(ticket);
      return r.body.state === 'admitted' ? r.body : undefined;
    })).token as string;
    await waitFor('the token to expire', async () => ((await poll(ticket)).body.state === 'expired' ? true : undefined), 30_000);
    const late = await order(h.base, { productId, userId: 'slow' }, undefined, { 'x-admission-token': token });
    expect([late.status, late.body.status]).toEqual([403, 'admission_token_expired']);
    expect(await redisStock(h.redis, productId)).toBe(10);
  });

  it('an API restart loses no place: the same tickets poll on, rejoining returns them', async () => {
    const productId = uniqueName('restart');
    await queued(productId, 10, { ratePerSecond: 1 }, new Date(Date.now() + 120_000));
    const tickets = await joinInOrder(productId, ['r0', 'r1', 'r2', 'r3']);
    const other = await startComponent('api', h.env, { readyTimeoutMs: 90_000 });
    try {
      await h.api.stop('SIGKILL');
      const base = `http://127.0.0.1:${other.port}`;
      for (const [i, t] of tickets.entries()) {
        expect((await poll(t, base)).body).toMatchObject({ state: 'waiting', position: i + 1 });
        expect((await join(productId, `r${i}`, base)).body.ticket).toBe(t);
      }
    } finally {
      // The harness's API is gone; the rest of the file goes on with the new one.
      h.api = other;
      h.base = `http://127.0.0.1:${other.port}`;
    }
  });

  it('polls answer from a per-sale snapshot, yet a ticket joined just after one is placed, not told queue_reset', async () => {
    const productId = uniqueName('snap');
    await queued(productId, 10, { ratePerSecond: 1 }, new Date(Date.now() + 120_000));
    const [first] = await joinInOrder(productId, ['n0']);
    expect((await poll(first!)).body).toMatchObject({ state: 'waiting', position: 1 }); // the pod's snapshot now holds 1 join
    const rounds = await Promise.all(Array.from({ length: 5 }, async (_, i) => {
      const [t] = await joinInOrder(productId, [`n${i + 1}`]);
      return (await poll(t!)).body;
    }));
    expect(rounds.map((b) => [b.state, b.position]).sort((a, b) => a[1] - b[1])).toEqual([2, 3, 4, 5, 6].map((n) => ['waiting', n]));
  });

  it('a reseed (what a recovery does) keeps the line: same places, same order, same tickets', async () => {
    const productId = uniqueName('reseed');
    const startsAt = new Date(Date.now() + 120_000);
    await queued(productId, 10, { ratePerSecond: 1 }, startsAt);
    const tickets = await joinInOrder(productId, ['s0', 's1', 's2']);
    const before = await Promise.all(tickets.map((t) => poll(t)));
    expect(before.map((r) => [r.body.state, r.body.position])).toEqual([['waiting', 1], ['waiting', 2], ['waiting', 3]]);
    await queued(productId, 10, { ratePerSecond: 1 }, startsAt);
    const after = await Promise.all(tickets.map((t) => poll(t)));
    expect(after.map((r) => [r.body.state, r.body.position])).toEqual([['waiting', 1], ['waiting', 2], ['waiting', 3]]);
    expect((await join(productId, 's3')).body.position).toBe(4);
  });

  it('sold out: everyone still waiting is told at once, no admission afterwards; the order invariants hold', async () => {
    const productId = uniqueName('sold');
    await queued(productId, 20, { ratePerSecond: 40 });
    const users = Array.from({ length: 80 }, (_, i) => `b${i}`);
    const tickets = await joinInOrder(productId, users);
    const answered200: string[] = [];
    const finals = await Promise.all(
      tickets.map(async (t, i) => {
        for (;;) {
          const r = await poll(t);
          if (r.body.state === 'admitted' && !r.body.tokenUsed) {
            const o = await order(h.base, { productId, userId: users[i] }, undefined, { 'x-admission-token': r.body.token });
            if (o.status === 200) answered200.push(o.body.orderId);
            else expect(o.body.status, o.text).toBe('sold_out');
            continue;
          }
          if (r.body.state !== 'waiting' && r.body.state !== 'admitted') return r.body.state as string;
          await new Promise((res) => setTimeout(res, Math.min(r.body.pollAfterMs ?? 200, 200)));
        }
      }),
    );
    expect(answered200.length).toBe(20);
    expect(finals.every((s) => s === 'sold_out')).toBe(true);
    expect((await join(productId, 'newcomer')).body.status).toBe('sold_out');
    worker = await startWorkerFor(h);
    const settled = await settledSale(h, productId, answered200);
    expect(settled.orders.filter((o) => o.status === 'confirmed').length).toBe(20);
    expect(settled.pgStock).toBe(0);
  }, 120_000);

  it('bad input at the boundary: clear 4xx naming the field, direct sales refuse the queue', async () => {
    const direct = uniqueName('direct');
    await initSale(h.base, { productId: direct, quantity: 5 });
    expect((await join(direct, 'u')).body.status).toBe('queue_not_enabled');
    expect((await http(h.base, 'POST', '/queue', { body: { productId: direct } })).body).toMatchObject({ status: 'invalid_request' });
    expect((await join(uniqueName('nothing'), 'u')).status).toBe(404);
    const noRate = await http(h.base, 'POST', '/init', {
      body: { productId: uniqueName('bad'), quantity: 1, admission: { mode: 'queue' } },
      headers: { authorization: 'Bearer e2e-admin-token-0123456789' },
    });
    expect([noRate.status, noRate.body.field]).toEqual([400, 'body.admission.ratePerSecond']);
    // A direct sale still sells without any token: today's behaviour.
    expect((await order(h.base, { productId: direct, userId: 'u' })).status).toBe(200);
  });
});
