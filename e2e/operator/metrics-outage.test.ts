// A lag that cannot be read is never taken as 0: with Kafka unreachable the operator keeps the
// worker Deployment where it is (no scale-down) and says so in the status; and it never seeds a
// sale it cannot prove drained (orders of an earlier FlashSale for the product may still be in the
// topic): the sale waits in Recovering, gate closed, until a lag reading proves the drain.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProcess } from '../support/processes.js';
import {
  applyCrd, backends, condition, createDeployment, createNamespace, flashSale, kubectl, operatorKubeconfig, scaleOf, startOperator,
  stopGracefully, uniqueName, waitForSale, type Backends,
} from './support.js';

let ns = '';
let b: Backends;
let operator: RunningProcess | undefined;

beforeAll(async () => {
  await applyCrd();
  ns = await createNamespace('op-nometrics');
  const kubeconfig = await operatorKubeconfig(ns);
  b = await backends('nometrics');
  await createDeployment(ns, 'workers', 3);
  // A broker address nothing listens on: every lag read fails.
  operator = await startOperator(ns, kubeconfig, b, { KAFKA_BROKERS: '127.0.0.1:9' });
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
