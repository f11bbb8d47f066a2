import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startMetricsServer, type MetricsServer } from './server.js';

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('metrics server', () => {
  it('answers /healthz, /readyz (with the reason) and /metrics', async () => {
    const registry = new Registry();
    new Counter({ name: 'test_things_total', help: 'things', registers: [registry] }).inc(3);
    let ready = false;
    server = await startMetricsServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      isReady: () => ({ ready, detail: { groupJoined: ready } }),
    });
    const base = `http://127.0.0.1:${server.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not_ready', groupJoined: false });
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(await metrics.text()).toContain('test_things_total 3');
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'no route /nope; try /healthz, /readyz or /metrics' });
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('reports a failing liveness check', async () => {
    server = await startMetricsServer({ port: 0, host: '127.0.0.1', registry: new Registry(), isAlive: () => false, isReady: () => ({ ready: true }) });
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(503);
  });

  it('a readiness check that throws answers 500 with the message', async () => {
    server = await startMetricsServer({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      isReady: () => {
        throw new Error('boom');
      },
    });
    const r = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    expect(r.status).toBe(500);
    expect(await r.json()).toEqual({ error: 'boom' });
  });
});
