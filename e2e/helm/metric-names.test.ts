// Every fluxgate_* metric the alerts and the dashboard query must be registered by the code;
// otherwise an alert silently never fires. The source is grepped for the name as a string literal.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_ON, CHART, REPO, template } from './chart.js';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.ts$/.test(name) && !/\.test\.ts$/.test(name) ? [p] : [];
  });
}

/** Histogram series carry suffixes the code does not spell out. */
const baseName = (series: string) => series.replace(/_(bucket|sum|count)$/, '');

function namesIn(text: string): Set<string> {
  return new Set([...text.matchAll(/\bfluxgate_[a-z0-9_]+/g)].map((m) => baseName(m[0])));
}

describe('metric names in alerts and dashboard', () => {
  it('are all registered in core/, api/, worker/ or operator/', async () => {
    const rendered = await template({ valuesFiles: [ALL_ON] });
    const rule = rendered.find((o) => o.kind === 'PrometheusRule')!;
    const exprs = rule.spec.groups.flatMap((g: any) => g.rules.map((r: any) => r.expr)).join('\n');
    const dashboard = readFileSync(join(CHART, 'files/grafana-dashboard.json'), 'utf8');
    const used = new Set([...namesIn(exprs), ...namesIn(dashboard)]);
    expect(used.size).toBeGreaterThan(5);

    const source = ['core', 'api', 'worker', 'operator'].flatMap((d) => sourceFiles(join(REPO, d)))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const missing = [...used].filter((n) => !new RegExp(`['"\`]${n}['"\`]`).test(source)).sort();
    expect(missing, 'queried by the chart but registered nowhere in the code').toEqual([]);
  });

  it('the PrometheusRule has every alert of the monitoring table with its threshold', async () => {
    const rendered = await template({ valuesFiles: [ALL_ON] });
    const rules = rendered.find((o) => o.kind === 'PrometheusRule')!.spec.groups[0].rules;
    const byName = Object.fromEntries(rules.map((r: any) => [r.alert, r]));
    const expectations: Array<[string, RegExp, string, string]> = [
      ['FluxGateConsumerLagHigh', /> 1000$/, '5m', 'warning'],
      ['FluxGateConsumerLagCritical', /> 10000$/, '5m', 'critical'],
      ['FluxGateRedisDown', /== 0$/, '30s', 'critical'],
      ['FluxGateApiErrorRateHigh', /> 0\.01$/, '5m', 'warning'],
      ['FluxGateApiErrorRateCritical', /> 0\.05$/, '5m', 'critical'],
      ['FluxGatePostgresPoolBusy', /> 0\.8$/, '5m', 'warning'],
      ['FluxGatePostgresPoolExhausted', /> 0\.95$/, '5m', 'critical'],
      ['FluxGateWorkerRateBelowFloor', /or on \(\) vector\(0\)\) < 1\s+and /, '5m', 'warning'],
      ['FluxGateOperatorDown', /or on \(\) vector\(0\)\) < 1$/, '5m', 'critical'],
      ['FluxGateOperatorNoLeader', /or on \(\) vector\(0\)\) < 1$/, '2m', 'critical'],
      ['FluxGateScrapeTargetDown', /== 0$/, '5m', 'warning'],
      ['FluxGateFlashSaleNotReady', /== 0$/, '10m', 'warning'],
      ['FluxGateQueueStalled', /<= 0$/, '5m', 'warning'],
    ];
    expect(Object.keys(byName).sort()).toEqual(expectations.map((e) => e[0]).sort());
    for (const [name, expr, forDuration, severity] of expectations) {
      expect(byName[name].expr, name).toMatch(expr);
      expect(byName[name].for, name).toBe(forDuration);
      expect(byName[name].labels.severity, name).toBe(severity);
      expect(byName[name].expr, `${name} is scoped to the release namespace`).toContain('namespace="shop"');
    }
  });

  it('per-sale alerts and panels group by flashsale_namespace (operator metrics carry no `namespace` label)', async () => {
    const rendered = await template({ valuesFiles: [ALL_ON] });
    const exprs: string[] = rendered.find((o) => o.kind === 'PrometheusRule')!.spec.groups[0].rules.map((r: any) => r.expr);
    const dashboard = JSON.parse(readFileSync(join(CHART, 'files/grafana-dashboard.json'), 'utf8'));
    const queries: string[] = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
    for (const q of [...exprs, ...queries]) {
      if (!/fluxgate_operator_(consumer_lag|stock_remaining|worker_replicas|flashsale_)/.test(q)) continue;
      expect(q, q).not.toMatch(/by \((flashsale|deployment)\)/);
      if (/by \(/.test(q)) expect(q, q).toMatch(/by \(flashsale_namespace, /);
    }
  });

  it('the dashboard has the six panels an on-call engineer looks for', () => {
    const dashboard = JSON.parse(readFileSync(join(CHART, 'files/grafana-dashboard.json'), 'utf8'));
    expect(dashboard.panels.map((p: any) => p.title)).toEqual([
      'Orders/s by outcome',
      'Order latency p99',
      'Consumer lag (orders waiting in Kafka)',
      'Workers',
      'Stock remaining per sale',
      'Recoveries (Redis reseeds)',
    ]);
  });
});
