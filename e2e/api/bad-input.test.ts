// Bad input gets a 4xx naming the problem, and changes nothing: Redis stock, the Kafka topic's end
// offsets and PostgreSQL rows are the same after the whole table as before it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, initSale, order, redisStock, startApi, topicEndOffset, uniqueName, type ApiHarness, type Res } from '../support/api.js';

let h: ApiHarness;
let productId: string;
let before: { stock: number | null; offset: number; products: unknown[]; orders: number };

async function snapshot() {
  const products = (await h.pool.query('SELECT id, stock, initial_stock FROM products WHERE id = $1', [productId])).rows;
  const orders = (await h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE product_id = $1', [productId])).rows[0]!.n;
  return { stock: await redisStock(h.redis, productId), offset: await topicEndOffset(h.topic), products, orders };
}

beforeAll(async () => {
  h = await startApi('bad-input');
  productId = uniqueName('bad');
  await initSale(h.base, { productId, quantity: 5 });
  before = await snapshot();
});

afterAll(async () => {
  await h?.close();
});

const json = (body: string, headers: Record<string, string> = {}) =>
  http(h.base, 'POST', '/order', { body, headers: { 'content-type': 'application/json', 'x-idempotency-key': 'k-bad', ...headers } });
const valid = () => ({ productId, userId: 'mallory' });

interface Case {
  name: string;
  send: () => Promise<Res>;
  status: number;
  message: RegExp;
  field?: string;
}

const ids = [
  ['a NUL byte', 'p\u0000'],
  ['a newline', 'p1\nSET fg:x 1'],
  ['CRLF', 'p1\r\nDEL x'],
  ['a tab', 'p\t1'],
  ['SQL injection', "p1' OR '1'='1"],
  ['a SQL statement', 'p1; DROP TABLE orders;--'],
  ['a path', '../../etc/passwd'],
  ['a Redis hash tag', 'fg:{other}:stock'],
  ['a glob', '*'],
  ['a shell substitution', '$(rm -rf /)'],
  ['HTML', '<script>alert(1)</script>'],
  ['non-ASCII', 'pröduct'],
  ['129 characters', `p${'x'.repeat(128)}`],
  ['an empty string', ''],
  ['a leading dash', '-p1'],
] as const;

const cases: Case[] = [
  { name: 'missing x-idempotency-key', send: () => order(h.base, valid(), null), status: 400, message: /required property 'x-idempotency-key'/, field: 'headers.x-idempotency-key' },
  { name: 'empty x-idempotency-key', send: () => order(h.base, valid(), ''), status: 400, message: /x-idempotency-key must NOT have fewer than 1 characters/ },
  { name: 'x-idempotency-key of 129 characters', send: () => order(h.base, valid(), 'k'.repeat(129)), status: 400, message: /x-idempotency-key must NOT have more than 128 characters/ },
  { name: 'x-idempotency-key with a tab', send: () => order(h.base, valid(), 'a\tb'), status: 400, message: /x-idempotency-key must match/ },
  { name: 'missing productId', send: () => order(h.base, { userId: 'u' }), status: 400, message: /required property 'productId'/, field: 'body.productId' },
  { name: 'missing userId', send: () => order(h.base, { productId }), status: 400, message: /required property 'userId'/, field: 'body.userId' },
  { name: 'productId a number', send: () => order(h.base, { productId: 42, userId: 'u' }), status: 400, message: /body\/productId must be string/, field: 'body.productId' },
  { name: 'userId an object', send: () => order(h.base, { productId, userId: { $gt: '' } }), status: 400, message: /body\/userId must be string/, field: 'body.userId' },
  { name: 'quantity a string', send: () => order(h.base, { ...valid(), quantity: '2' }), status: 400, message: /body\/quantity must be integer/, field: 'body.quantity' },
  { name: 'quantity 0', send: () => order(h.base, { ...valid(), quantity: 0 }), status: 400, message: /body\/quantity must be >= 1/, field: 'body.quantity' },
  { name: 'quantity negative', send: () => order(h.base, { ...valid(), quantity: -3 }), status: 400, message: /body\/quantity must be >= 1/ },
  { name: 'quantity 101', send: () => order(h.base, { ...valid(), quantity: 101 }), status: 400, message: /body\/quantity must be <= 100/ },
  { name: 'quantity huge', send: () => json(`{"productId":"${productId}","userId":"u","quantity":1e308}`), status: 400, message: /body\/quantity must be/ },
  { name: 'quantity fractional', send: () => order(h.base, { ...valid(), quantity: 1.5 }), status: 400, message: /body\/quantity must be integer/ },
  { name: 'quantity null', send: () => order(h.base, { ...valid(), quantity: null }), status: 400, message: /body\/quantity must be integer/ },
  { name: 'unknown field', send: () => order(h.base, { ...valid(), price: 0 }), status: 400, message: /body has unknown field "price"/, field: 'body.price' },
  { name: '__proto__ field', send: () => json(`{"productId":"${productId}","userId":"u","__proto__":{"admin":true}}`), status: 400, message: /body must not contain "__proto__"/, field: 'body' },
  { name: 'constructor.prototype field', send: () => json(`{"productId":"${productId}","userId":"u","constructor":{"prototype":{"admin":true}}}`), status: 400, message: /constructor\.prototype/, field: 'body' },
  { name: 'a JSON array', send: () => json('[]'), status: 400, message: /body must be object/ },
  { name: 'JSON null', send: () => json('null'), status: 400, message: /body must be object/ },
  { name: 'not JSON', send: () => json('{"productId":'), status: 400, message: /body is not valid JSON: /, field: 'body' },
  { name: 'empty body', send: () => json(''), status: 400, message: /body is empty/ },
  { name: 'text/plain', send: () => http(h.base, 'POST', '/order', { body: JSON.stringify(valid()), headers: { 'content-type': 'text/plain', 'x-idempotency-key': 'k' } }), status: 415, message: /Content-Type must be application\/json/ },
  { name: 'form-encoded', send: () => http(h.base, 'POST', '/order', { body: `productId=${productId}&userId=u`, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-idempotency-key': 'k' } }), status: 415, message: /Content-Type must be application\/json/ },
  { name: 'no content type', send: () => http(h.base, 'POST', '/order', { body: JSON.stringify(valid()), headers: { 'x-idempotency-key': 'k' } }), status: 415, message: /Content-Type must be application\/json/ },
  { name: 'oversized body (20 KiB)', send: () => json(JSON.stringify({ ...valid(), pad: 'x'.repeat(20 * 1024) })), status: 413, message: /too large/ },
  { name: 'GET /order/<not a uuid>', send: () => http(h.base, 'GET', "/order/1'%20OR%201=1"), status: 400, message: /params\/orderId must be a lowercase UUID/, field: 'params.orderId' },
  { name: 'GET /inventory/<bad id>', send: () => http(h.base, 'GET', '/inventory/%2A'), status: 400, message: /params\/productId must be 1-128 characters/, field: 'params.productId' },
  ...ids.flatMap(([what, id]): Case[] => [
    { name: `productId with ${what}`, send: () => order(h.base, { productId: id, userId: 'u' }), status: 400, message: /body\/productId (must be 1-128 characters|must NOT have)/, field: 'body.productId' },
    { name: `userId with ${what}`, send: () => order(h.base, { productId, userId: id }), status: 400, message: /body\/userId (must be 1-128 characters|must NOT have)/, field: 'body.userId' },
  ]),
];

describe('bad input', () => {
  it.each(cases)('$name → $status naming the problem', async (c) => {
    const r = await c.send();
    expect(r.status).toBe(c.status);
    expect(r.body.message).toMatch(c.message);
    if (c.field) expect(r.body.field).toBe(c.field);
  });

  it('changed nothing: Redis stock, Kafka end offsets, PostgreSQL rows', async () => {
    expect(await snapshot()).toEqual(before);
    expect(before).toMatchObject({ stock: 5, orders: 0, products: [{ id: productId, stock: 5, initial_stock: 5 }] });
    // And the same API still takes a good order (the table did not wedge anything).
    expect((await order(h.base, valid())).status).toBe(200);
    expect(await redisStock(h.redis, productId)).toBe(4);
  });
});
