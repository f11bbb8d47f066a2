// A PostgreSQL that stops answering without closing its connections (a frozen host, a network
// black hole: here every PostgreSQL process SIGSTOPped mid-batch) must not hang the batch forever
// while the worker's heartbeats keep its partition: the query times out on the client side, the
// batch is retried, and once PostgreSQL answers again every order is stored exactly once.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceControl } from '../../tools/stack/control.js';
import { runningPid } from '../../tools/stack/services/index.js';
import type { RunningProcess } from '../support/processes.js';
import { makeOrder, produceOrders, seedProduct, setUp, startWorker, summarize, uniqueName, waitFor, waitForOrders, type TestSetup } from './support.js';

let s: TestSetup;
let worker: RunningProcess;
let frozen: number[] = [];

/** The postmaster and its children (backends of existing connections included). */
function postgresPids(): number[] {
  const control = new ServiceControl();
  const pid = runningPid(control.state, 'postgres');
  if (pid === undefined) throw new Error('the stack PostgreSQL is not running');
  const children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  return [pid, ...children];
}
const signal = (pids: number[], sig: NodeJS.Signals) => pids.forEach((p) => process.kill(p, sig));

beforeAll(async () => {
  s = await setUp('pg-frozen', 1);
  worker = await startWorker({ ...s.workerEnv, PG_QUERY_TIMEOUT_MS: '1000', WORKER_RETRY_MAX_MS: '500' });
});

afterAll(async () => {
  if (frozen.length) signal(frozen, 'SIGCONT');
  await worker?.stop('SIGKILL');
  await s?.pool.end();
});

async function postgresRetries(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
  return Number(/fluxgate_worker_batch_retries_total\{stage="postgres"\} (\d+)/.exec(text)?.[1] ?? 0);
}

describe('PostgreSQL frozen mid-batch', () => {
  it('the batch times out and is retried instead of hanging; nothing is lost or doubled', async () => {
    const p = uniqueName('frozen');
    await seedProduct(s.pool, p, 100);
    await produceOrders(s.topic, [makeOrder(p)]);
    await waitForOrders(s.pool, [p], 1); // the worker's connections are open and idle now
    const orders = Array.from({ length: 20 }, () => makeOrder(p));
    frozen = postgresPids();
    signal(frozen, 'SIGSTOP');
    try {
      await produceOrders(s.topic, orders);
      // While PostgreSQL is frozen the worker must notice (timeout, then retries), not wait on a dead socket.
      await waitFor('a PostgreSQL retry of the frozen batch', async () => ((await postgresRetries()) >= 2 ? true : undefined), 30_000);
    } finally {
      signal(frozen, 'SIGCONT');
      frozen = [];
    }
    await waitForOrders(s.pool, [p], 21);
    expect(await summarize(s.pool, p)).toMatchObject({ stock: 79, confirmed: 21, rows: 21, distinctIds: 21, rejected: {} });
  });
});
