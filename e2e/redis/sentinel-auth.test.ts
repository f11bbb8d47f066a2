// Redis Sentinel with its own auth: the Sentinel has a requirepass and a Flux-Gate user allowed
// only what ioredis asks of it (SENTINEL_ACL_RULES); the data nodes know the ACL user fluxgate-api.
// The API logs in to both with their own credentials (REDIS_SENTINEL_USERNAME/PASSWORD, REDIS_USERNAME/
// PASSWORD, passwords a URL would need escaped), follows a forced failover and sells exactly the
// stock; the Sentinel user is refused anything else; wrong Sentinel credentials are named as such.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SENTINEL_ACL_RULES, aclRules } from '../../core/redis/acl.js';
import { initSale, order, startApi, topicEndOffset, type ApiHarness, type Res } from '../support/api.js';
import { startComponent } from '../support/processes.js';
import { MASTER_NAME, reseedOn, startSentinelTopology, type SentinelTopology } from '../support/redis-topologies.js';
import { waitFor } from '../support/wait.js';

const STOCK = 20;
const DATA = { username: 'fluxgate-api', password: 'd@ta:p/w#%?& 1' };
const SENTINEL = { username: 'fluxgate', password: 's3nt:p@ss/#?& 2' };
const SENTINEL_ROOT = 'r00t:p@ss/#?& 3';
const sha = (pw: string) => createHash('sha256').update(pw).digest('hex');

let topo: SentinelTopology;
let h: ApiHarness;

beforeAll(async () => {
  topo = await startSentinelTopology({
    replicas: 1,
    dataConf: `user ${DATA.username} on #${sha(DATA.password)} ${aclRules('api')}`,
    sentinelConf: [`requirepass "${SENTINEL_ROOT}"`, `user ${SENTINEL.username} on #${sha(SENTINEL.password)} ${SENTINEL_ACL_RULES}`].join('\n'),
    sentinelAdmin: { password: SENTINEL_ROOT },
  });
  h = await startApi('sentinel-auth', {
    REDIS_URL: '',
    ...topo.env,
    REDIS_USERNAME: DATA.username,
    REDIS_PASSWORD: DATA.password,
    REDIS_SENTINEL_USERNAME: SENTINEL.username,
    REDIS_SENTINEL_PASSWORD: SENTINEL.password,
    REDIS_COMMAND_TIMEOUT_MS: '1000',
  });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await topo?.stop();
});

const sentinelAs = async (auth: { username?: string; password?: string }, ...cmd: string[]) => {
  const { Redis } = await import('ioredis');
  const c = new Redis({ port: topo.sentinel.port, host: '127.0.0.1', maxRetriesPerRequest: 1, lazyConnect: true, enableReadyCheck: false, ...auth });
  c.on('error', () => undefined);
  try {
    await c.connect().catch(() => undefined);
    return await c.call(cmd[0]!, ...cmd.slice(1)).then((r) => r, (e: Error) => e.message);
  } finally {
    c.disconnect();
  }
};

describe('Sentinel with its own auth', () => {
  it(`sells exactly ${STOCK} through a forced failover, logged in to the Sentinel and the data nodes with their own users`, async () => {
    const productId = `sentinel-auth-${randomUUID().slice(0, 8)}`;
    await initSale(h.base, { productId, quantity: STOCK });
    const answers: Res[] = [];
    const buyUntil = async (n: number) => {
      let accepted = 0;
      while (accepted < n) {
        const r = await order(h.base, { productId, userId: `u-${randomUUID().slice(0, 8)}` });
        answers.push(r);
        if (r.status === 200) accepted++;
        else if (r.status === 503) await new Promise((res) => setTimeout(res, 50));
        else throw new Error(`unexpected ${r.status}: ${r.text}`);
      }
    };
    const first = await topo.master();
    await buyUntil(10);
    await topo.syncReplicas();
    const admin = topo.sentinel.client();
    await admin.call('SENTINEL', 'FAILOVER', MASTER_NAME).finally(() => admin.disconnect());
    await reseedOn(await topo.waitForNewMaster(first), productId); // as the operator does after a failover
    await buyUntil(STOCK - 10);
    const last = await order(h.base, { productId, userId: 'late' });
    expect(last.status).toBe(409);
    expect(answers.filter((r) => r.status === 200)).toHaveLength(STOCK);
    expect(await topicEndOffset(h.topic), 'orders in Kafka').toBe(STOCK);
    // The data nodes saw the API as fluxgate-api and logged no NOPERM for it.
    for (const node of topo.nodes) {
      const c = node.client();
      try {
        const log = (await c.call('ACL', 'LOG')) as unknown[][];
        expect(log.map((e) => e.join(' ')).filter((e) => e.includes('name=flux-gate-api@')), `ACL LOG of :${node.port}`).toEqual([]);
      } finally {
        c.disconnect();
      }
    }
    const clients = String(await (async () => {
      const c = (await topo.master()).client();
      try { return await c.call('CLIENT', 'LIST'); } finally { c.disconnect(); }
    })());
    expect(clients.split('\n').find((l) => l.includes(' name=flux-gate-api@'))).toMatch(/ user=fluxgate-api /);
  }, 180_000);

  it('the Sentinel refuses anonymous clients and lets its Flux-Gate user do only what ioredis needs', async () => {
    expect(await sentinelAs({}, 'SENTINEL', 'get-master-addr-by-name', MASTER_NAME)).toMatch(/^NOAUTH/);
    expect(await sentinelAs(SENTINEL, 'SENTINEL', 'get-master-addr-by-name', MASTER_NAME)).toEqual(['127.0.0.1', expect.any(String)]);
    for (const cmd of [['SENTINEL', 'FAILOVER', MASTER_NAME], ['SENTINEL', 'SET', MASTER_NAME, 'quorum', '2'], ['SENTINEL', 'REMOVE', MASTER_NAME], ['SENTINEL', 'CONFIG', 'GET', '*']])
      expect(await sentinelAs(SENTINEL, ...cmd), cmd.join(' ')).toMatch(/^NOPERM/);
  });

  it('wrong Sentinel credentials: the API never becomes ready and names REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD', async () => {
    const p = await startComponent('api', { ...h.env, PORT: '0', METRICS_PORT: '0', REDIS_SENTINEL_PASSWORD: `${SENTINEL.password}x` }, { waitReady: false });
    try {
      const line = await waitFor('the credentials error in the log', async () => p.lines.find((l) => l.includes('the Sentinels refused the credentials')), 60_000);
      expect(line).toContain('check REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD');
      expect(p.lines.some((l) => l.includes('"msg":"ready"'))).toBe(false);
    } finally {
      await p.stop('SIGKILL');
    }
  });
});
