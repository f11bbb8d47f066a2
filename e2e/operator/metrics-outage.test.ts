// A lag that cannot be read is never taken as 0: with Kafka unreachable the operator keeps the
// worker Deployment where it is (no scale-down) and says so in the status; and it never seeds a
// sale it cannot prove drained (orders of an earlier FlashSale for the product may still be in the
// topic): the sale waits in Recovering, gate closed, until a lag reading proves the drain.
// Lost AFTER good readings (Kafka cut behind a proxy the operator alone goes through): the last good
// lag holds, nothing scales down or flaps on it, MetricsAvailable=False and the error counter say the
// lag is unknown, and once Kafka answers again fresh readings drive the scaling again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaRewriter } from '../../tools/chaos/kafka-frames.js';
import { TcpProxy } from '../../tools/chaos/proxy.js';
import { Rng } from '../../tools/chaos/rng.js';
import { freePort } from '../../tools/stack/proc.js';
import { kafka } from '../support/api.js';
import type { RunningProcess } from '../support/processes.js';
import {
  condition, createDeployment, flashSale, getSale, kubectl, requireEnv, scaleOf, startOperator, stopGracefully, testbed, uniqueName,
  waitFor, waitForSale, type Backends, type FlashSaleDoc,
} from './support.js';

let ns = '';
let b: Backends;
let operator: RunningProcess | undefined;

beforeAll(async () => {
  const t = await testbed('nometrics');
  ({ ns, b } = t);
  await createDeployment(ns, 'workers', 3);
  // A broker address nothing listens on: every lag read fails.
  operator = await startOperator(ns, t.kubeconfig, b, { KAFKA_BROKERS: '127.0.0.1:9' });
}, 180_000);

afterAll(async () => {
  await stopGracefully(operator);
  await b?.close();
});

describe('lag unreadable', () => {
  it('keeps the replicas (never reads the failure as lag 0), reports MetricsAvailable=False, seeds nothing without a proven drain', async () => {
    const workers = { deployment: 'workers', minReplicas: 1, maxReplicas: 6, lagPerReplica: 10, scaleDownStabilizationSeconds: 0 };
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('blind', { productId: uniqueName('blind'), stock: 5, workers }) });
    const s = await waitForSale(ns, 'blind', 'metrics unavailable', (x) =>
      condition(x, 'MetricsAvailable')?.status === 'False' && condition(x, 'WorkersScaled')?.reason === 'MetricsUnavailable' && x.status?.phase === 'Recovering');
    expect(condition(s, 'MetricsAvailable')?.reason).toBe('LagReadFailed');
    expect(s.status?.workers).toMatchObject({ replicas: 3, cap: 'noMetrics' });
    expect(condition(s, 'Ready')?.status).toBe('False');
    expect(s.status?.redis?.epoch, 'seeded without a proven drain').toBeUndefined();
    // With a readable lag of 0 and a window of 0 s this Deployment would go down to 1 at once.
    expect(await scaleOf(ns, 'workers')).toBe(3);
  });
});

describe('lag lost after good readings', () => {
  let ns2 = '';
  let b2: Backends;
  let op: RunningProcess | undefined;
  let proxy: TcpProxy | undefined;
  const kafkaPort = () => Number(requireEnv('KAFKA_BROKERS').split(',')[0]!.split(':')[1]);
  /** The operator's only way to Kafka; Metadata answers name the proxy, so it never dials the broker itself. */
  const openProxy = async (listenPort: number) => {
    const p = new TcpProxy({ name: 'kafka', listenPort, targetPort: kafkaPort(), rng: new Rng(1), rewriter: kafkaRewriter((x) => (x === kafkaPort() ? listenPort : x)) });
    await p.start();
    return p;
  };
  const lagReadErrors = async () => {
    const text = await (await fetch(`http://127.0.0.1:${op!.port}/metrics`)).text();
    return Number(/^fluxgate_operator_lag_read_errors_total (\S+)$/m.exec(text)?.[1] ?? NaN);
  };

  beforeAll(async () => {
    const t = await testbed('lagloss');
    ({ ns: ns2, b: b2 } = t);
    await createDeployment(ns2, 'workers', 0);
    proxy = await openProxy(await freePort());
    op = await startOperator(ns2, t.kubeconfig, b2, { KAFKA_BROKERS: `127.0.0.1:${proxy.port}` });
  }, 180_000);

  afterAll(async () => {
    await stopGracefully(op);
    await proxy?.stop();
    await b2?.close();
  });

  it('keeps the last good lag (no scale to zero, no flapping, no recovery), says the lag is unknown, and scales on fresh readings once Kafka is back', async () => {
    // minReplicas 0 and a window of 0 s: a failure read as lag 0 would take the workers to 0 at once.
    const workers = { deployment: 'workers', minReplicas: 0, maxReplicas: 6, lagPerReplica: 10, activationLag: 0, scaleDownStabilizationSeconds: 0 };
    await kubectl(['apply', '-n', ns2, '-f', '-'], { input: flashSale('seen', { productId: uniqueName('seen'), stock: 5, workers }) });
    const active = await waitForSale(ns2, 'seen', 'Active with the lag read', (x) => x.status?.phase === 'Active' && condition(x, 'MetricsAvailable')?.status === 'True');
    const epoch = active.status?.redis?.epoch;
    expect(epoch).toBeDefined();

    // 10 orders' worth of lag on each of the 3 partitions (no worker runs): 3 replicas wanted.
    const producer = kafka().producer();
    await producer.connect();
    for (let partition = 0; partition < 3; partition++) {
      await producer.send({ topic: b2.topic, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ partition, value: `lag-${partition}-${i}` })) });
    }
    await producer.disconnect();
    await waitFor('workers scaled to 3 on a good reading', async () => ((await scaleOf(ns2, 'workers')) === 3 ? true : undefined), 90_000);
    const good = await waitForSale(ns2, 'seen', 'lag 10 in the status', (x) => x.status?.workers?.lag === 10 && x.status?.workers?.replicas === 3);
    expect(condition(good, 'MetricsAvailable')?.status).toBe('True');

    // Kafka unreachable for the operator only: the proxy refuses every connection.
    const port = proxy!.port;
    await proxy!.stop();
    const blind = await waitForSale(ns2, 'seen', 'MetricsAvailable=False', (x) => condition(x, 'MetricsAvailable')?.status === 'False', 120_000);
    expect(condition(blind, 'MetricsAvailable')?.reason).toBe('LagReadFailed');
    // While several more reads fail, every look at the Deployment and the status sees the last good state.
    const errorsAtStart = await lagReadErrors();
    const scales: number[] = [];
    const statuses: FlashSaleDoc[] = [];
    await waitFor('3 more failed lag reads', async () => {
      scales.push(await scaleOf(ns2, 'workers'));
      statuses.push((await getSale(ns2, 'seen'))!);
      return (await lagReadErrors()) >= errorsAtStart + 3 ? true : undefined;
    }, 120_000);
    expect(new Set(scales), 'replicas while the lag is unknown (never scaled on a failure)').toEqual(new Set([3]));
    for (const s of statuses) {
      expect(condition(s, 'MetricsAvailable')?.status, 'the lag is said to be unknown').toBe('False');
      expect(s.status?.workers?.lag, 'the last good lag is kept, never 0').toBe(10);
      expect(s.status?.phase, 'no recovery on an unreadable lag').toBe('Active');
      expect(s.status?.redis?.epoch, 'nothing reseeded').toBe(epoch);
    }

    // The topic drained meanwhile (the group committed to the end), then Kafka is back on the same address.
    const admin = kafka().admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(b2.topic);
    await admin.setOffsets({ groupId: b2.groupId, topic: b2.topic, partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })) });
    await admin.disconnect();
    proxy = await openProxy(port);
    const back = await waitForSale(ns2, 'seen', 'MetricsAvailable=True again with lag 0', (x) => condition(x, 'MetricsAvailable')?.status === 'True' && x.status?.workers?.lag === 0, 120_000);
    expect(back.status?.phase).toBe('Active');
    await waitFor('workers scaled to 0 on fresh readings', async () => ((await scaleOf(ns2, 'workers')) === 0 ? true : undefined), 90_000);
  }, 600_000);
});
