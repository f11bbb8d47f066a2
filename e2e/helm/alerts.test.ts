// The chart's alerts, evaluated by promtool (`promtool test rules`) against recorded series: each
// alert fires in the situation it names (including when the series it watches has vanished, e.g.
// the operator or every worker is gone) and stays quiet when all is well. Every alert carries a
// runbook_url whose anchor is a README section. promtool comes from the stack's install code
// (Debian package "prometheus").
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { REPO, template, type K8sObject } from './chart.js';

const NS = 'shop';
const SVC = { api: 'fg-flux-gate-api-metrics', worker: 'fg-flux-gate-worker-metrics', operator: 'fg-flux-gate-operator-metrics' };
const target = (service: string, pod: string) => `namespace="${NS}",service="${service}",pod="${pod}"`;

let dir = '';
let rule: K8sObject;
const alerts = () => rule.spec.groups.flatMap((g: any) => g.rules).filter((r: any) => r.alert) as Array<{ alert: string; expr: string; annotations: Record<string, string>; labels: Record<string, string> }>;

function promtool(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) =>
    execFile('promtool', args, { cwd: dir }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(new Error(`promtool is not installed (npm run stack:up installs it): ${err.message}`));
      resolve({ code: err ? (err.code as number) : 0, out: stdout + stderr });
    }),
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fg-alerts-'));
  rule = (await template({ set: ['metrics.prometheusRule.enabled=true'], namespace: NS })).find((o) => o.kind === 'PrometheusRule')!;
  // promtool compares annotations exactly; the expressions and labels are what is tested here
  // (annotations are checked below), so they are left out of the evaluated copy.
  const groups = rule.spec.groups.map((g: any) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }: any) => r) }));
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
});

afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

interface Case {
  name: string;
  series: Array<[string, string]>;
  at: string;
  alert: string;
  /** Labels of each expected alert (severity added); [] = must not fire. */
  fires: Array<Record<string, string>>;
}

const leader = (pod: string, v: string): [string, string] => [`fluxgate_operator_leader{${target(SVC.operator, pod)}}`, v];
const lag = (pod: string, flashsale: string, v: string): [string, string] => [`fluxgate_operator_consumer_lag{${target(SVC.operator, pod)},flashsale_namespace="${NS}",flashsale="${flashsale}"}`, v];
const ready = (pod: string, reason: string, v: string): [string, string] => [`fluxgate_operator_flashsale_ready{${target(SVC.operator, pod)},flashsale_namespace="${NS}",flashsale="phone",reason="${reason}"}`, v];
const requests = (status: string, v: string): [string, string] => [`fluxgate_http_requests_total{${target(SVC.api, 'api-0')},component="api",route="/order",method="POST",status="${status}"}`, v];
const persisted = (v: string): [string, string] => [`fluxgate_worker_orders_persisted_total{${target(SVC.worker, 'worker-0')},status="accepted"}`, v];
const queue = (metric: 'waiting' | 'admitted', pod: string, v: string): [string, string] => [`fluxgate_operator_queue_${metric}{${target(SVC.operator, pod)},flashsale_namespace="${NS}",flashsale="phone"}`, v];
const up = (svc: string, pod: string, v: string): [string, string] => [`up{${target(svc, pod)},job="${svc}"}`, v];

const cases: Case[] = [
  // The standby's stale lag (op-1) is ignored: only the leader's reading counts.
  { name: 'lag above the warning level on the leader', series: [leader('op-0', '1x15'), leader('op-1', '0x15'), lag('op-0', 'phone', '2000x15'), lag('op-1', 'phone', '50000x15')], at: '10m', alert: 'FluxGateConsumerLagHigh', fires: [{ flashsale_namespace: NS, flashsale: 'phone' }] },
  { name: 'lag below the warning level', series: [leader('op-0', '1x15'), lag('op-0', 'phone', '10x15')], at: '10m', alert: 'FluxGateConsumerLagHigh', fires: [] },
  { name: 'lag above the critical level', series: [leader('op-0', '1x15'), lag('op-0', 'phone', '20000x15')], at: '10m', alert: 'FluxGateConsumerLagCritical', fires: [{ flashsale_namespace: NS, flashsale: 'phone' }] },
  { name: 'Redis down in every pod', series: [[`fluxgate_redis_up{${target(SVC.api, 'api-0')}}`, '0x5'], [`fluxgate_redis_up{${target(SVC.operator, 'op-0')}}`, '0x5']], at: '2m', alert: 'FluxGateRedisDown', fires: [{}] },
  { name: 'Redis up in one pod', series: [[`fluxgate_redis_up{${target(SVC.api, 'api-0')}}`, '0x5'], [`fluxgate_redis_up{${target(SVC.operator, 'op-0')}}`, '1x5']], at: '2m', alert: 'FluxGateRedisDown', fires: [] },
  // 1 of 61 answers a 5xx: above 1 %, below 5 %.
  { name: '5xx ratio above 1 %', series: [requests('200', '0+60x15'), requests('503', '0+1x15')], at: '12m', alert: 'FluxGateApiErrorRateHigh', fires: [{}] },
  { name: '5xx ratio below 1 %', series: [requests('200', '0+600x15'), requests('503', '0+1x15')], at: '12m', alert: 'FluxGateApiErrorRateHigh', fires: [] },
  { name: '5xx ratio above 1 % is not critical', series: [requests('200', '0+60x15'), requests('503', '0+1x15')], at: '12m', alert: 'FluxGateApiErrorRateCritical', fires: [] },
  { name: '5xx ratio above 5 %', series: [requests('200', '0+60x15'), requests('503', '0+10x15')], at: '12m', alert: 'FluxGateApiErrorRateCritical', fires: [{}] },
  { name: 'pool 90 % used', series: [[`fluxgate_pg_pool_in_use{${target(SVC.api, 'api-0')}}`, '9x15'], [`fluxgate_pg_pool_max{${target(SVC.api, 'api-0')}}`, '10x15']], at: '10m', alert: 'FluxGatePostgresPoolBusy', fires: [{ pod: 'api-0' }] },
  { name: 'pool half used', series: [[`fluxgate_pg_pool_in_use{${target(SVC.api, 'api-0')}}`, '5x15'], [`fluxgate_pg_pool_max{${target(SVC.api, 'api-0')}}`, '10x15']], at: '10m', alert: 'FluxGatePostgresPoolBusy', fires: [] },
  { name: 'pool full', series: [[`fluxgate_pg_pool_in_use{${target(SVC.api, 'api-0')}}`, '10x15'], [`fluxgate_pg_pool_max{${target(SVC.api, 'api-0')}}`, '10x15']], at: '10m', alert: 'FluxGatePostgresPoolExhausted', fires: [{ pod: 'api-0' }] },
  // No worker at all: no fluxgate_worker_* series exists, which must count as rate 0.
  { name: 'zero workers while orders wait', series: [leader('op-0', '1x15'), lag('op-0', 'phone', '500x15')], at: '12m', alert: 'FluxGateWorkerRateBelowFloor', fires: [{}] },
  { name: 'a stuck worker while orders wait', series: [leader('op-0', '1x15'), lag('op-0', 'phone', '500x15'), persisted('100x15')], at: '12m', alert: 'FluxGateWorkerRateBelowFloor', fires: [{}] },
  { name: 'workers draining', series: [leader('op-0', '1x15'), lag('op-0', 'phone', '500x15'), persisted('0+600x15')], at: '12m', alert: 'FluxGateWorkerRateBelowFloor', fires: [] },
  { name: 'no lag, no workers', series: [leader('op-0', '1x15'), lag('op-0', 'phone', '0x15')], at: '12m', alert: 'FluxGateWorkerRateBelowFloor', fires: [] },
  { name: 'operator pods gone (no up series at all)', series: [up(SVC.api, 'api-0', '1x10')], at: '6m', alert: 'FluxGateOperatorDown', fires: [{}] },
  { name: 'operator pods not scrapable', series: [up(SVC.operator, 'op-0', '0x10'), up(SVC.operator, 'op-1', '0x10')], at: '6m', alert: 'FluxGateOperatorDown', fires: [{}] },
  { name: 'one operator replica up', series: [up(SVC.operator, 'op-0', '0x10'), up(SVC.operator, 'op-1', '1x10')], at: '6m', alert: 'FluxGateOperatorDown', fires: [] },
  { name: 'operators up, none leads', series: [leader('op-0', '0x10'), leader('op-1', '0x10')], at: '3m', alert: 'FluxGateOperatorNoLeader', fires: [{}] },
  { name: 'no leader series at all', series: [up(SVC.api, 'api-0', '1x10')], at: '3m', alert: 'FluxGateOperatorNoLeader', fires: [{}] },
  { name: 'a leader', series: [leader('op-0', '1x10'), leader('op-1', '0x10')], at: '3m', alert: 'FluxGateOperatorNoLeader', fires: [] },
  { name: 'an API pod not scrapable', series: [up(SVC.api, 'api-0', '0x10'), up(SVC.api, 'api-1', '1x10'), up('someone-else', 'x-0', '0x10')], at: '6m', alert: 'FluxGateScrapeTargetDown', fires: [{ namespace: NS, service: SVC.api, pod: 'api-0', job: SVC.api }] },
  { name: 'a sale not Ready for 10 minutes, as the leader sees it', series: [leader('op-0', '1x15'), leader('op-1', '0x15'), ready('op-0', 'StockBelowSold', '0x15'), ready('op-1', 'StockBelowSold', '1x15')], at: '12m', alert: 'FluxGateFlashSaleNotReady', fires: [{ flashsale_namespace: NS, flashsale: 'phone', reason: 'StockBelowSold' }] },
  { name: 'a sale Ready', series: [leader('op-0', '1x15'), ready('op-0', 'Active', '1x15')], at: '12m', alert: 'FluxGateFlashSaleNotReady', fires: [] },
  { name: 'the line grows while admissions stall', series: [leader('op-0', '1x15'), queue('waiting', 'op-0', '100+50x15'), queue('admitted', 'op-0', '400x15')], at: '12m', alert: 'FluxGateQueueStalled', fires: [{ flashsale_namespace: NS, flashsale: 'phone' }] },
  { name: 'the line grows and is admitted', series: [leader('op-0', '1x15'), queue('waiting', 'op-0', '100+50x15'), queue('admitted', 'op-0', '0+300x15')], at: '12m', alert: 'FluxGateQueueStalled', fires: [] },
  { name: 'a quiet line (nobody joins, nobody admitted)', series: [leader('op-0', '1x15'), queue('waiting', 'op-0', '0x15'), queue('admitted', 'op-0', '400x15')], at: '12m', alert: 'FluxGateQueueStalled', fires: [] },
  { name: 'every target up (another release\'s target down)', series: [up(SVC.api, 'api-0', '1x10'), up(SVC.operator, 'op-0', '1x10'), up('someone-else', 'x-0', '0x10')], at: '6m', alert: 'FluxGateScrapeTargetDown', fires: [] },
];

describe('alert rules under promtool', () => {
  it('the rules file is valid for promtool', async () => {
    const r = await promtool(['check', 'rules', 'rules.yaml']);
    expect(r.code, r.out).toBe(0);
  });

  it('every alert has a case that fires and one that does not', () => {
    for (const a of alerts()) {
      expect(cases.some((c) => c.alert === a.alert && c.fires.length > 0), `${a.alert} fires`).toBe(true);
    }
    const quiet = new Set(cases.filter((c) => c.fires.length === 0).map((c) => c.alert));
    // Critical twins share their warning's expression with a higher threshold.
    for (const a of alerts().filter((x) => !/Critical$|Exhausted$/.test(x.alert))) expect(quiet, `${a.alert} stays quiet`).toContain(a.alert);
  });

  it.each(cases.map((c) => [`${c.alert}: ${c.name}`, c] as const))('%s', async (_n, c) => {
    const severity = alerts().find((a) => a.alert === c.alert)!.labels.severity!;
    const test = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: c.series.map(([series, values]) => ({ series, values })),
          alert_rule_test: [{ eval_time: c.at, alertname: c.alert, exp_alerts: c.fires.map((labels) => ({ exp_labels: { severity, ...labels } })) }],
        },
      ],
    };
    const file = `${c.alert}-${cases.indexOf(c)}.test.yaml`;
    writeFileSync(join(dir, file), stringify(test));
    const r = await promtool(['test', 'rules', file]);
    expect(r.code, r.out).toBe(0);
  });

  it('every alert has a runbook_url whose anchor is a README section', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const anchors = new Set([...readme.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
    for (const a of alerts()) {
      const url = a.annotations.runbook_url;
      expect(url, a.alert).toMatch(/^https:\/\/.+README\.md#[a-z0-9-]+$/);
      expect(anchors, `${a.alert}: README section for ${url}`).toContain(url!.split('#')[1]);
    }
  });
});
