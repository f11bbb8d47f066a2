// Turns the measured cases into the comparison table (targets from issue #11) and the JSON file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { E2eResult } from './e2e-case.js';
import type { HttpCaseResult } from './http-case.js';
import type { ReserveCaseResult } from './redis-reserve.js';
import type { WorkerCaseResult } from './worker-case.js';

export interface Comparison {
  name: string;
  ours: string;
  baseline: string;
  /** ours / baseline, or the absolute figure for an absolute target. */
  value: number;
  shown: string;
  target: string;
  pass: boolean;
  /** 'throughput' = the targets; 'cpu' = the same comparison by CPU time per request/order. */
  basis: 'throughput' | 'cpu';
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; node: string; loadAverage1mAtStart: number; loadAverage1mAtEnd?: number };
  settings: Record<string, unknown>;
  http: HttpCaseResult[];
  worker: WorkerCaseResult[];
  /** redis-benchmark running reserve.lua (BENCH_ONLY=redis). */
  reserve: ReserveCaseResult[];
  /** The end-to-end case (BENCH_ONLY=e2e). */
  e2e?: E2eResult;
  comparisons: Comparison[];
  diagnostics: Record<string, unknown>;
  notes: string[];
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * A ratio as shown next to its target: a percentage with one decimal or a factor with two, cut
 * (not rounded) at that digit, so a figure under its target never shows as the target (39.75 %
 * as "39.7%", not "40%").
 */
export function showRatio(v: number, asPercent: boolean): string {
  if (Number.isNaN(v)) return 'n/a';
  return asPercent ? `${(Math.floor(v * 1000 + 1e-9) / 10).toFixed(1)}%` : `${(Math.floor(v * 100 + 1e-9) / 100).toFixed(2)}x`;
}

const lat = (c: HttpCaseResult) => `${fmt(c.requestsPerSecond)} req/s (p50 ${c.p50Ms.toFixed(2)} ms, p99 ${c.p99Ms.toFixed(2)} ms)`;

/**
 * The median of the round-by-round ratios ours[i] / base[i]. Round i of both ran next to each other
 * (http-case.ts), so a slow spell of a shared machine slows both and divides out; the ratio of two
 * medians can take each side's median from a different moment. Rounds whose baseline answered
 * nothing are left out; none left gives NaN.
 */
export function pairedRatio(ours: readonly number[], base: readonly number[]): number {
  const r = ours
    .flatMap((o, i) => {
      const b = base[i];
      return b !== undefined && b > 0 ? [o / b] : [];
    })
    .sort((a, b) => a - b);
  if (r.length === 0) return NaN;
  const m = r.length >> 1;
  return r.length % 2 === 1 ? r[m]! : (r[m - 1]! + r[m]!) / 2;
}

export function ratio(name: string, ours: HttpCaseResult, base: HttpCaseResult, min: number, asPercent: boolean): Comparison {
  // Judged on the paired rounds; the ratio of the two median rounds is shown next to it.
  const value = pairedRatio(ours.roundsRequestsPerSecond, base.roundsRequestsPerSecond);
  const medians = base.requestsPerSecond > 0 ? ours.requestsPerSecond / base.requestsPerSecond : NaN;
  const show = (v: number) => showRatio(v, asPercent);
  return {
    name,
    ours: lat(ours),
    baseline: `${base.name}: ${lat(base)}`,
    value,
    shown: `${show(value)} (median of ${ours.roundsRequestsPerSecond.length} paired rounds; of the median rounds: ${show(medians)})`,
    target: asPercent ? `>= ${(min * 100).toFixed(0)}%` : `>= ${min}x`,
    pass: value >= min,
    basis: 'throughput',
  };
}

/** The same comparison by CPU per unit of work (baseline CPU / our CPU): what a quiet machine would show. */
export function cpuRatio(name: string, ours: number | undefined, base: number | undefined, baseName: string, unit: string, min: number, asPercent: boolean): Comparison | undefined {
  if (ours === undefined || base === undefined || ours <= 0) return undefined;
  const value = base / ours;
  return {
    name: `${name} (by CPU time)`,
    ours: `${ours} µs CPU/${unit}`,
    baseline: `${baseName}: ${base} µs CPU/${unit}`,
    value,
    shown: showRatio(value, asPercent),
    target: asPercent ? `>= ${(min * 100).toFixed(0)}%` : `>= ${min}x`,
    pass: value >= min,
    basis: 'cpu',
  };
}

/** An absolute ceiling (µs of CPU, ms of latency): ours must stay at or under it. */
export function atMost(name: string, ours: number | undefined, max: number, unit: string, basis: Comparison['basis']): Comparison | undefined {
  if (ours === undefined || Number.isNaN(ours)) return undefined;
  return { name, ours: `${ours} ${unit}`, baseline: '-', value: ours, shown: `${ours} ${unit}`, target: `<= ${max} ${unit}`, pass: ours <= max, basis };
}

export function workerRatio(ours: WorkerCaseResult, base: WorkerCaseResult, min: number): Comparison {
  const value = base.ordersPerSecond > 0 ? ours.ordersPerSecond / base.ordersPerSecond : NaN;
  return {
    name: 'worker: batched vs one transaction per message',
    ours: `${fmt(ours.ordersPerSecond)} orders/s`,
    baseline: `${base.name}: ${fmt(base.ordersPerSecond)} orders/s`,
    value,
    shown: Number.isNaN(value) ? 'n/a' : `${value.toFixed(1)}x`,
    target: `>= ${min}x`,
    pass: value >= min,
    basis: 'throughput',
  };
}

export function workerAbsolute(ours: WorkerCaseResult, min: number): Comparison {
  return {
    name: 'worker: orders persisted per second',
    ours: `${fmt(ours.ordersPerSecond)} orders/s (${fmt(ours.persisted)} in ${ours.steadySeconds} s)`,
    baseline: '-',
    value: ours.ordersPerSecond,
    shown: fmt(ours.ordersPerSecond),
    target: `>= ${fmt(min)}/s`,
    pass: ours.ordersPerSecond >= min,
    basis: 'throughput',
  };
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** "redis / kafka / postgres" µs per unit, or "-". */
function services(us: Record<string, number> | undefined): string {
  if (!us) return '-';
  return ['redis', 'kafka', 'postgres'].map((k) => (us[k] === undefined ? '-' : String(us[k]))).join(' / ');
}

export function renderTable(r: BenchReport): string {
  const httpRows = r.http.map((c) => [
    c.name, fmt(c.requestsPerSecond), c.p50Ms.toFixed(2), c.p99Ms.toFixed(2), c.roundsRequestsPerSecond.map(fmt).join(' / '),
    c.cpuUsPerRequest === undefined ? '-' : String(c.cpuUsPerRequest),
    c.systemCpuUsPerRequest === undefined ? '-' : String(c.systemCpuUsPerRequest), services(c.serviceCpuUsPerRequest),
    String(c.probeStatus), fmt(c.non2xx), fmt(c.socketErrors),
  ]);
  const workerRows = r.worker.map((c) => [
    c.name, fmt(c.ordersPerSecond), `${fmt(c.persisted)}/${fmt(c.of)}`, c.steadySeconds.toFixed(2), c.startupSeconds.toFixed(2),
    c.cpuUsPerOrder === undefined ? '-' : String(c.cpuUsPerOrder), c.systemCpuUsPerOrder === undefined ? '-' : String(c.systemCpuUsPerOrder),
  ]);
  // A comparison without a target (a measured cost) shows no verdict.
  const verdict = (c: Comparison) => (c.target.startsWith('measured') ? '-' : c.basis === 'cpu' ? (c.pass ? '(pass)' : '(miss)') : c.pass ? 'PASS' : 'MISS');
  const reserveRows = r.reserve.map((c) => [
    c.name, fmt(c.calls), fmt(c.opsPerSecond), String(c.p50Ms), String(c.p99Ms),
    c.redisCpuUsPerCall === undefined ? '-' : String(c.redisCpuUsPerCall), String(c.scriptUsPerCall), c.perCoreCallsPerSecond === undefined ? '-' : fmt(c.perCoreCallsPerSecond),
  ]);
  const cmpRows = r.comparisons.map((c) => [c.name, c.ours, c.baseline, c.shown, c.target, verdict(c)]);
  return [
    table(['HTTP case (median round)', 'req/s', 'p50 ms', 'p99 ms', 'req/s of each round', 'server CPU µs/req', '+Redis/Kafka/PG µs/req', 'Redis / Kafka / PG µs/req', 'answer', 'non-2xx', 'socket errors'], httpRows),
    '',
    table(['worker case', 'orders/s', 'persisted', 'measured s', 'startup s', 'worker CPU µs/order', '+Redis/Kafka/PG µs/order'], workerRows),
    '',
    ...(reserveRows.length
      ? [table(['Redis case (redis-benchmark EVALSHA)', 'orders', 'orders/s', 'p50 ms (per call)', 'p99 ms (per call)', 'Redis CPU µs/order', 'in the script µs/order (wall, commandstats)', 'orders/s per Redis core'], reserveRows), '']
      : []),
    ...(r.e2e ? [renderE2e(r.e2e), ''] : []),
    table(['comparison', 'ours', 'baseline', 'ratio', 'target', 'result'], cmpRows),
    'PASS/MISS: the targets of issue #11 on measured throughput and latency. (pass)/(miss): by CPU time per unit of work, less sensitive to other load on the machine (the same ratios, and the target on API CPU per accepted order).',
    '',
    `machine: ${r.machine.cpus} x ${r.machine.cpuModel}, node ${r.machine.node}, load average (1 min) ${r.machine.loadAverage1mAtStart} at start, ${r.machine.loadAverage1mAtEnd ?? '?'} at end` +
      (r.machine.loadAverage1mAtStart > 1 ? ' (other work on the machine competes with the bench: compare ratios, not absolute figures)' : ''),
    ...r.notes.map((n) => `note: ${n}`),
  ].join('\n');
}

/** The end-to-end case: its figures, then the invariants (from client answers and PostgreSQL rows). */
function renderE2e(e: E2eResult): string {
  const st = e.settings;
  const sec = (x: number | null) => (x === null ? 'never' : `${x} s`);
  const rows: string[][] = [
    ['requests / buyers / units / sales', `${fmt(st.requests)} / ${fmt(e.distinctBuyers)} distinct of ${fmt(st.buyers)} / ${fmt(st.units)} / ${st.sales} (per-user limit ${st.perUserLimit}, ${st.connections} connections)`],
    ['load', `${e.loadSeconds} s, ${fmt(e.requestsPerSecond)} req/s, p50 ${e.p50Ms} ms, p99 ${e.p99Ms} ms, socket errors ${e.socketErrors}`],
    ['time to sold out (every sale)', `${sec(e.allSoldOutSeconds)} (${Object.values(e.soldOutSeconds).map(sec).join(', ')})`],
    ['answers', Object.entries(e.answers).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${fmt(n)}`).join(', ')],
    ['accepted (200)', fmt(e.accepted)],
    ['every accepted order confirmed in PostgreSQL', `${sec(e.confirmedSeconds)} after the first request (${sec(e.confirmedAfterLoadSeconds)} after the last answer)`],
    ['CPU', `API ${e.apiCpuUsPerRequest ?? '-'} µs per request; worker ${e.workerCpuUsPerAcceptedOrder ?? '-'} µs per accepted order (its whole run, idle polling included); Redis / Kafka / PostgreSQL ${services(e.serviceCpuUsPerRequest)} µs per request (the same span)`],
    ['oversell (PostgreSQL units over stock / 200s over stock)', `${e.oversell} / ${e.oversellAnswers}`],
    ['lost (200s not confirmed in PostgreSQL)', String(e.lost)],
    ['buyers over the per-user limit (PostgreSQL)', String(e.overLimitBuyers)],
    ['confirmed orders no client got a 200 for', String(e.confirmedNotAnswered)],
    ['retries of accepted orders once sold out (each beside a new buyer)', retries(e.retriesAfterSoldOut)],
  ];
  return table(['end to end', ''], rows);
}

function retries(r: E2eResult['retriesAfterSoldOut']): string {
  const counts = (c: Record<string, number>) => Object.entries(c).map(([k, n]) => `${k}: ${fmt(n)}`).join(', ') || 'none';
  return `${fmt(r.sameOrder)} of ${fmt(r.sent)} answered their first orderId; others: ${counts(r.wrong)}; new buyers beside them: ${counts(r.newBuyers)}`;
}

export function machine(): BenchReport['machine'] {
  const c = cpus();
  return { cpus: c.length, cpuModel: c[0]?.model ?? 'unknown', node: process.version, loadAverage1mAtStart: round2(loadavg()[0]!) };
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Writes results/<timestamp>.json and results/latest.json; returns the timestamped path. */
export function writeReport(r: BenchReport): string {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const path = `${dir}${r.startedAt.replace(/[:.]/g, '-')}.json`;
  const json = `${JSON.stringify(r, null, 2)}\n`;
  writeFileSync(path, json);
  writeFileSync(`${dir}latest.json`, json);
  return path;
}
