// PostgreSQL connections cut while a batch holds one (a PostgreSQL restart, a network reset): the
// worker must not die of the connection's 'error' event (pg-pool listens for it only while a
// connection is idle); the batch fails, is retried, and once PostgreSQL is reachable again every
// order is stored exactly once. Seen in a long chaos run: the worker exited with "Unhandled 'error'
// event ... Connection terminated unexpectedly" at a postgres-restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../tools/stack/proc.js';
import type { RunningProcess } from '../support/processes.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { databaseUrl, makeOrder, produceOrders, seedProduct, setUp, startWorker, summarize, uniqueName, waitFor, waitForOrders, type TestSetup } from './support.js';

let s: TestSetup;
let worker: RunningProcess;
let proxy: TcpProxy | undefined;
let pgPort: number;
const pgTarget = () => {
  const u = new URL(databaseUrl());
  return { host: u.hostname, port: Number(u.port) };
};

beforeAll(async () => {
  s = await setUp('pg-cut', 1);
  pgPort = await freePort();
  proxy = await startTcpProxy(pgTarget(), '127.0.0.1', pgPort);
  const url = new URL(databaseUrl());
  url.port = String(pgPort);
  worker = await startWorker({ ...s.workerEnv, DATABASE_URL: url.toString(), PG_QUERY_TIMEOUT_MS: '60000', WORKER_RETRY_MAX_MS: '500' });
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  await proxy?.close();
  await s?.pool.end();
});

describe('PostgreSQL connections cut mid-batch', () => {
  it('the worker survives, retries the batch, and stores every order once', async () => {
    const alive = () => {
      if (worker.child.exitCode !== null || worker.child.signalCode !== null)
        throw new Error(`the worker died (${worker.child.exitCode ?? worker.child.signalCode}):\n${worker.lines.slice(-20).join('\n')}`);
      return true;
    };
    const p = uniqueName('cut');
    await seedProduct(s.pool, p, 100);
    await produceOrders(s.topic, [makeOrder(p)]);
    await waitForOrders(s.pool, [p], 1);

    // Hold the product's row: the next batch waits for it inside its transaction, its connection checked out.
    const locker = await s.pool.connect();
    await locker.query('BEGIN');
    await locker.query('SELECT 1 FROM products WHERE id = $1 FOR UPDATE', [p]);
    await produceOrders(s.topic, Array.from({ length: 5 }, () => makeOrder(p)));
    await waitFor('the worker\'s batch waiting on the row lock', async () => {
      const r = await s.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'flux-gate-worker' AND wait_event_type = 'Lock'`);
      return r.rows[0].n > 0 || undefined;
    }, 60_000);

    await proxy!.close(); // every worker connection cut; new ones refused
    proxy = undefined;
    await locker.query('ROLLBACK');
    locker.release();
    await waitFor('a retry of the cut batch', async () => (alive(), worker.lines.some((l) => l.includes('"msg":"batch failed, retrying"')) || undefined), 60_000, 100);

    proxy = await startTcpProxy(pgTarget(), '127.0.0.1', pgPort);
    await waitForOrders(s.pool, [p], 6);
    alive();
    expect(await summarize(s.pool, p)).toMatchObject({ stock: 94, confirmed: 6, rows: 6, distinctIds: 6, rejected: {} });
  }, 240_000);
});
