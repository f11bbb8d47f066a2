// The API on the stack's Redis TLS listener as the ACL user fluxgate-api (password with characters
// a URL would need escaped, client certificate for mutual TLS): it sells exactly the stock and the
// server logs no NOPERM for it. The ACL is real: the same user is refused FLUSHALL, KEYS, CONFIG and
// keys outside fg:. A client trusting only another CA, a wrong password, or a client certificate of
// another CA is refused, and the API says which variable to fix.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type FluxRedis } from '../../core/redis/client.js';
import { orderStatusKey, saleKeys } from '../../core/redis/keys.js';
import { ensureClientCert, ensureStackPki } from '../../tools/stack/certs.js';
import { requireState } from '../../tools/stack/state.js';
import { http, initSale, order, requireEnv, startApi, startWorkerFor, storedOrders, waitFor, type ApiHarness } from '../support/api.js';
import { startComponent, type RunningProcess } from '../support/processes.js';

const STOCK = 30;
const tlsUrl = () => requireEnv('FLUXGATE_REDIS_TLS_URL');
const apiUser = () => ({ REDIS_USERNAME: requireEnv('FLUXGATE_REDIS_API_USERNAME'), REDIS_PASSWORD: requireEnv('FLUXGATE_REDIS_API_PASSWORD') });

let h: ApiHarness;
let worker: RunningProcess;
let probe: FluxRedis;

/** ACL LOG entries (as objects) of connections named `name`: every NOPERM the server recorded for them. */
async function aclDenials(admin: FluxRedis, name: string): Promise<Array<Record<string, string>>> {
  const entries = (await admin.call('ACL', 'LOG', '1000')) as unknown[][];
  return entries
    .map((e) => Object.fromEntries(Array.from({ length: e.length / 2 }, (_, i) => [String(e[2 * i]), String(e[2 * i + 1])])))
    .filter((e) => e['client-info']?.includes(` name=${name}@`));
}

beforeAll(async () => {
  const state = requireState(requireEnv('FLUXGATE_STACK_STATE'));
  const client = ensureClientCert(state, 'fluxgate-api');
  h = await startApi('secure', {
    REDIS_URL: tlsUrl(),
    REDIS_TLS_CA_FILE: requireEnv('FLUXGATE_TLS_CA'),
    REDIS_TLS_CERT_FILE: client.cert,
    REDIS_TLS_KEY_FILE: client.key,
    ...apiUser(),
  });
  worker = await startWorkerFor(h);
  // The same user as the API, from the test: what it may not do.
  probe = createRedis(
    { mode: 'single', url: tlsUrl(), username: apiUser().REDIS_USERNAME, password: apiUser().REDIS_PASSWORD, tls: { ca: readFileSync(requireEnv('FLUXGATE_TLS_CA'), 'utf8') } },
    { connectionName: 'e2e-acl-probe' },
  );
  probe.on('error', () => undefined);
  await probe.connect();
}, 180_000);

afterAll(async () => {
  probe?.disconnect();
  await worker?.stop();
  await h?.close();
});

describe('Redis over TLS with an ACL user', () => {
  it(`the API sells exactly ${STOCK} as fluxgate-api over mutual TLS; Redis logged no NOPERM for it`, async () => {
    const productId = `secure-${randomUUID().slice(0, 8)}`;
    await initSale(h.base, { productId, quantity: STOCK, perUserLimit: 2 }); // seeds Redis through the API's user
    const answers = await Promise.all(Array.from({ length: STOCK + 10 }, (_, i) => order(h.base, { productId, userId: `u${i}` })));
    const accepted = answers.filter((r) => r.status === 200);
    expect(answers.filter((r) => r.status !== 200).map((r) => r.status)).toEqual(Array(10).fill(409));
    expect(accepted).toHaveLength(STOCK);
    // the same key again: the idempotency record is read back through the ACL user
    const key = randomUUID();
    expect((await order(h.base, { productId, userId: 'again' }, key)).status).toBe(409);
    expect((await http(h.base, 'GET', `/inventory/${productId}`)).body).toMatchObject({ remaining: 0 });
    const someOrder = (accepted[0]!.body as { orderId: string }).orderId;
    expect((await http(h.base, 'GET', `/order/${someOrder}`)).status).toBe(200);
    // end to end: the worker stores every accepted order
    await waitFor('every accepted order in PostgreSQL', async () => ((await storedOrders(h.pool, productId)).length === STOCK ? true : undefined), 60_000);
    expect((await storedOrders(h.pool, productId)).filter((o) => o.status === 'confirmed')).toHaveLength(STOCK);

    // The API's connections on the TLS port are the ACL user's (other suites' APIs, running at the
    // same time on the plain port, share the role and host of the connection name: pick ours by the port).
    const clients = String(await h.redis.call('CLIENT', 'LIST')).split('\n');
    const tlsPort = ` laddr=127.0.0.1:${requireEnv('FLUXGATE_REDIS_TLS_PORT')} `;
    const apiConns = clients.filter((l) => l.includes(' name=flux-gate-api@') && l.includes(tlsPort));
    expect(apiConns.length, 'the API is connected on the TLS port').toBeGreaterThan(0);
    for (const c of apiConns) expect(c).toMatch(/ user=fluxgate-api /);
    expect(await aclDenials(h.redis, 'flux-gate-api'), 'NOPERM entries for the API: its ACL lacks a command or key').toEqual([]);
  }, 180_000);

  it('the ACL is real: the same user is refused what Flux-Gate never does', async () => {
    const refused = async (f: () => Promise<unknown>) => {
      const err = await f().then(() => undefined, (e: Error) => e);
      return err?.message.split(' ').slice(0, 1)[0];
    };
    expect(await refused(() => probe.flushall())).toBe('NOPERM');
    expect(await refused(() => probe.call('KEYS', 'fg:*'))).toBe('NOPERM');
    expect(await refused(() => probe.call('CONFIG', 'GET', 'requirepass'))).toBe('NOPERM');
    expect(await refused(() => probe.call('ACL', 'LIST'))).toBe('NOPERM');
    expect(await refused(() => probe.get('session:alice'))).toBe('NOPERM');
    expect(await refused(() => probe.set('fgx:{a}:stock', '1'))).toBe('NOPERM');
    // a script may not reach outside fg: either
    expect(await refused(() => probe.eval("return redis.call('GET', 'session:alice')", 1, 'fg:{a}:stock'))).toMatch(/^(ERR|NOPERM)$/);
    // what it needs works
    const k = saleKeys(`probe-${randomUUID().slice(0, 8)}`);
    expect(await probe.set(k.stock, '5')).toBe('OK');
    expect(await probe.get(orderStatusKey(randomUUID()))).toBeNull();
    await probe.del(k.stock);
    const denied = await aclDenials(h.redis, 'e2e-acl-probe');
    expect(denied.map((e) => e.object)).toEqual(expect.arrayContaining(['flushall', 'keys', 'session:alice']));
    expect(new Set(denied.map((e) => e.username))).toEqual(new Set(['fluxgate-api']));
  });

  const refusedStart = async (label: string, env: Record<string, string>): Promise<string> => {
    const p = await startComponent('api', { ...h.env, PORT: '0', METRICS_PORT: '0', ...env }, { waitReady: false });
    const code = await waitFor(`${label}: the API exits`, () => p.exited, 60_000);
    expect(code, p.lines.join('\n')).not.toBe(0);
    return p.lines.join('\n');
  };

  it('an API that trusts only another CA refuses the server, naming REDIS_TLS_CA_FILE', async () => {
    const out = await refusedStart('unknown CA', { REDIS_TLS_CA_FILE: requireEnv('FLUXGATE_TLS_UNKNOWN_CA'), REDIS_TLS_CERT_FILE: '', REDIS_TLS_KEY_FILE: '' });
    expect(out).toContain('TLS: the certificate of Redis is not signed by a CA the client trusts: check REDIS_TLS_CA_FILE');
  });

  it('a wrong password is refused, naming REDIS_USERNAME / REDIS_PASSWORD', async () => {
    const out = await refusedStart('wrong password', { REDIS_PASSWORD: `${apiUser().REDIS_PASSWORD}x` });
    expect(out).toContain('Redis refused the credentials: check REDIS_USERNAME / REDIS_PASSWORD');
  });

  it('a client certificate of another CA is refused by Redis (tls-auth-clients verifies what is presented)', async () => {
    const pki = ensureStackPki(requireState(requireEnv('FLUXGATE_STACK_STATE')));
    const out = await refusedStart('foreign client cert', { REDIS_TLS_CERT_FILE: pki.unknownServer.cert, REDIS_TLS_KEY_FILE: pki.unknownServer.key });
    // Usually Redis's alert (unknown ca) is read first; under TLS 1.3 the client may still be writing
    // AUTH when Redis closes, and then sees only a reset. Either way the API does not start.
    expect(out).toMatch(/Redis \(single rediss:\/\/127\.0\.0\.1:\d+\/0\): (TLS: Redis refused the client certificate .*alert unknown ca|write ECONNRESET|read ECONNRESET)/);
  });
});
