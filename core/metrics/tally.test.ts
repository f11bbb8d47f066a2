// The tallies export exactly what prom-client's own Counter and Histogram export for the same
// observations: dashboards, alerts and e2e tests read these series by name and label.
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TallyCounter, TallyHistogram } from './tally.js';

function registry(): Registry {
  const r = new Registry();
  r.setDefaultLabels({ component: 'api' });
  return r;
}

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVATIONS: Array<[string, number]> = [['/order', 0.0004], ['/order', 0.001], ['/order', 0.05], ['/order', 7], ['/healthz', 0.002]];

describe('TallyCounter and TallyHistogram', () => {
  it('write the same exposition text as prom-client for the same observations', async () => {
    const theirs = registry();
    const ours = registry();
    const c = new Counter({ name: 't_requests_total', help: 'h', labelNames: ['route', 'status'], registers: [theirs] });
    const h = new Histogram({ name: 't_seconds', help: 'h', labelNames: ['route'], buckets: BUCKETS, registers: [theirs] });
    const tc = new TallyCounter({ name: 't_requests_total', help: 'h', labelNames: ['route', 'status'], registers: [ours] });
    const th = new TallyHistogram({ name: 't_seconds', help: 'h', labelNames: ['route'], buckets: BUCKETS, registers: [ours] });
    new Histogram({ name: 't_batch_size', help: 'h', buckets: BUCKETS, registers: [theirs] });
    new TallyHistogram({ name: 't_batch_size', help: 'h', buckets: BUCKETS, registers: [ours] });
    c.labels('/order', '200').inc(0);
    tc.child('/order', '200');
    for (const [route, s] of OBSERVATIONS) {
      c.labels(route, '409').inc();
      tc.child(route, '409').inc();
      h.labels(route).observe(s);
      th.child(route).observe(s);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  });

  it('count what was added since the last scrape, and start a created series at 0', async () => {
    const r = registry();
    const tc = new TallyCounter({ name: 't_orders_total', help: 'h', labelNames: ['outcome'], registers: [r] });
    const accepted = tc.child('accepted');
    tc.child('sold_out');
    expect(await r.metrics()).toContain('t_orders_total{outcome="sold_out",component="api"} 0\n');
    accepted.inc();
    accepted.inc(2);
    expect(await r.metrics()).toContain('t_orders_total{outcome="accepted",component="api"} 3\n');
    accepted.inc();
    expect(await r.metrics()).toContain('t_orders_total{outcome="accepted",component="api"} 4\n');
    expect(tc.child('accepted')).toBe(accepted);
  });

  it('refuses a label set of the wrong length, naming the labels', () => {
    const tc = new TallyCounter({ name: 't_x_total', help: 'h', labelNames: ['route', 'status'], registers: [registry()] });
    expect(() => tc.child('/order')).toThrow(/expected 2 label values \(route, status\), got 1/);
  });
});
