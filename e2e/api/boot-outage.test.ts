// An API (and a worker) started while Redis and Kafka are unreachable stays up and waits for them: it logs each
// retry, answers /healthz 200 (alive: no restart wanted) and /readyz 503 (no traffic yet), and the
// same process serves orders (200) once both can be reached. Only bad configuration ends it.
// The dependencies are "down" through closed ports, later opened by proxies to the real ones.
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../core/postgres/migrate.js';
import { freePort } from '../../tools/stack/proc.js';
import { ADMIN_TOKEN, http, initSale, order, requireEnv, uniqueName, waitFor } from '../support/api.js';
import { startComponent, type RunningProcess } from '../support/processes.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

let api: RunningProcess | undefined;
let worker: RunningProcess | undefined;
const proxies: TcpProxy[] = [];

afterAll(async () => {
  await api?.stop('SIGKILL');
  await worker?.stop('SIGKILL');
  for (const p of proxies) await p.close();
});

const hostPort = (s: string) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) });

describe('API boot while Redis and Kafka are unreachable', () => {
  it('stays up (alive, not ready), retries, and the same process answers 200 once they are reachable', async () => {
    await migrate(requireEnv('DATABASE_URL'));
    const redisUrl = new URL(requireEnv('REDIS_URL'));
    const kafkaTarget = hostPort(requireEnv('KAFKA_BROKERS').split(',')[0]!);
    // Ports nobody listens on (yet): connecting is refused, as while a dependency restarts.
    const [redisPort, kafkaPort, port, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const base = `http://127.0.0.1:${port}`;
    const metrics = `http://127.0.0.1:${metricsPort}`;
    api = await startComponent('api', {
      REDIS_URL: `redis://127.0.0.1:${redisPort}${redisUrl.pathname}`,
      DATABASE_URL: requireEnv('DATABASE_URL'),
      KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
      ORDERS_TOPIC: uniqueName('e2e-api-boot-outage'),
      ORDERS_TOPIC_PARTITIONS: '3',
      PORT: String(port),
      HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      METRICS_HOST: '127.0.0.1',
      ADMIN_TOKEN,
    }, { waitReady: false });
    const pid = api.child.pid;
    const alive = () => {
      if (api!.child.exitCode !== null || api!.child.signalCode !== null)
        throw new Error(`the API exited (${api!.child.exitCode ?? api!.child.signalCode}) instead of waiting:\n${api!.lines.slice(-15).join('\n')}`);
    };
    const retried = (dependency: string) => async () => {
      alive();
      return api!.lines.filter((l) => l.includes('"msg":"dependency unreachable at boot; retrying"') && l.includes(`"dependency":"${dependency}"`)).length >= 2 || undefined;
    };

    await waitFor('two boot retries for Redis', retried('redis'), 90_000, 100);
    // Alive (a liveness probe must not restart it), not ready (no traffic), on both listeners.
    expect((await http(base, 'GET', '/healthz')).status).toBe(200);
    expect((await http(base, 'GET', '/readyz')).status).toBe(503);
    expect((await http(metrics, 'GET', '/healthz')).status).toBe(200);
    expect((await http(metrics, 'GET', '/readyz')).status).toBe(503);
    const early = await order(base, { productId: 'boot-outage', userId: 'early' });
    expect(early.status).toBe(503);
    expect(early.headers['retry-after']).toBeDefined();

    proxies.push(await startTcpProxy({ host: redisUrl.hostname, port: Number(redisUrl.port) }, '127.0.0.1', redisPort));
    await waitFor('two boot retries for Kafka (Redis reached)', retried('kafka'), 120_000, 100);
    expect((await http(base, 'GET', '/readyz')).status).toBe(503);

    proxies.push(await startTcpProxy(kafkaTarget, '127.0.0.1', kafkaPort));
    await waitFor('the API ready', async () => (alive(), api!.lines.some((l) => l.includes('"msg":"ready"')) || undefined), 120_000, 100);

    expect(api.child.pid).toBe(pid);
    expect((await http(base, 'GET', '/readyz')).status).toBe(200);
    const productId = uniqueName('boot-outage');
    await initSale(base, { productId, quantity: 5 });
    const res = await order(base, { productId, userId: 'after' });
    expect(res.status, res.text).toBe(200);
    alive();
  }, 360_000);

  it('a worker started while Kafka is unreachable waits too, and the same process joins its group once Kafka is back', async () => {
    const kafkaTarget = hostPort(requireEnv('KAFKA_BROKERS').split(',')[0]!);
    const kafkaPort = await freePort();
    const topic = uniqueName('e2e-worker-boot-outage');
    worker = await startComponent('worker', {
      DATABASE_URL: requireEnv('DATABASE_URL'),
      KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
      ORDERS_TOPIC: topic,
      KAFKA_GROUP_ID: `${topic}-workers`,
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
    }, { waitReady: false });
    const pid = worker.child.pid;
    const alive = () => {
      if (worker!.child.exitCode !== null || worker!.child.signalCode !== null)
        throw new Error(`the worker exited (${worker!.child.exitCode ?? worker!.child.signalCode}) instead of waiting:\n${worker!.lines.slice(-15).join('\n')}`);
    };
    await waitFor('two boot retries for Kafka', async () => {
      alive();
      return worker!.lines.filter((l) => l.includes('"msg":"dependency unreachable at boot; retrying"') && l.includes('"dependency":"kafka"')).length >= 2 || undefined;
    }, 120_000, 100);
    proxies.push(await startTcpProxy(kafkaTarget, '127.0.0.1', kafkaPort));
    await waitFor('the worker ready', async () => (alive(), worker!.lines.some((l) => l.includes('"msg":"ready"')) || undefined), 120_000, 100);
    expect(worker.child.pid).toBe(pid);
  }, 300_000);
});
