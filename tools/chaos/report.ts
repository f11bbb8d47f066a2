// The run's outputs: report.json (the verdict, settings and the whole record), timeline.svg beside
// it, and the few lines printed at the end; on a violation, the seed and the first offending
// order's history, so a developer can replay and read it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OrderHistory, Verdict } from './checker.js';
import type { RunRecord } from './history.js';
import { timelineSvg } from './svg.js';

const fmt = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);

export function writeReport(dir: string, r: RunRecord, v: Verdict, settings: Record<string, unknown>): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const svg = join(dir, 'timeline.svg');
  const { attempts, ...rest } = r;
  writeFileSync(json, JSON.stringify({ settings, verdict: v, run: { ...rest, attempts } }, null, 1) + '\n');
  writeFileSync(svg, timelineSvg(r, v) + '\n');
  return { json, svg };
}

export function historyText(h: OrderHistory): string {
  const lines = [`first offending order: ${h.violation.invariant} on ${h.violation.productId}: ${h.violation.message}`];
  // A sale-level violation (stock figures) has no order of its own to show.
  if (h.violation.key === undefined && h.violation.userId === undefined && h.violation.orderId === undefined) return lines[0]!;
  for (const a of h.attempts) {
    const t = `${(a.t0 / 1000).toFixed(3)}→${(a.t1 / 1000).toFixed(3)} s`;
    lines.push(`  ${t} ${a.api} user=${a.userId} key=${a.key} qty=${a.quantity} → ${a.outcome}${a.answer ? ` ${a.answer}` : ''}${a.orderId ? ` orderId=${a.orderId}` : ''}${a.replayed ? ' (replayed)' : ''}`);
  }
  for (const o of h.rows) lines.push(`  PostgreSQL: ${o.id} user=${o.userId} key=${o.key} qty=${o.quantity} ${o.status}${o.rejectReason ? ` (${o.rejectReason})` : ''}`);
  if (h.rows.length === 0) lines.push('  PostgreSQL: no row');
  return lines.join('\n');
}

export function summaryText(r: RunRecord, v: Verdict): string {
  const lines = [
    `chaos seed ${r.seed}: ${v.ok ? 'PASS' : 'FAIL'} — ${r.attempts.length} requests, ${Object.values(v.faults).reduce((a, b) => a + b, 0)} faults from +${fmt(r.faults[0]?.t)} to +${fmt(r.healedAt)} (healed)`,
    `  invariants: ${Object.entries(v.counts).map(([k, n]) => `${k} ${n}`).join(' · ')}`,
    `  faults: ${Object.entries(v.faults).map(([k, n]) => `${k} ${n}`).join(' · ') || 'none'}`,
    `  answers: ${Object.entries(v.answers).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(' · ')}`,
    `  recovery (fault → next new 200): p50 ${fmt(v.recovery.p50Ms)}, max ${fmt(v.recovery.maxMs)}`,
    ...v.sales.map((s) => `  ${s.productId}: allocated ${s.allocated}, confirmed ${s.confirmed}, PostgreSQL stock ${s.pgStock ?? '-'}, Redis ${s.redisStock ?? 'missing'}, 200s ${s.promised}, first sale after restock ${fmt(s.firstSaleAfterRestockMs)}, sold out after ${fmt(s.soldOutAfterRestockMs)}`),
  ];
  for (const x of v.violations.slice(0, 10)) lines.push(`  ✗ ${x.invariant} ${x.productId}: ${x.message}`);
  if (v.violations.length > 10) lines.push(`  … ${v.violations.length - 10} more violations in report.json`);
  if (v.firstOffender) lines.push(historyText(v.firstOffender));
  for (const h of Object.values(v.firstByInvariant)) {
    if (h !== v.firstOffender && h.violation !== v.firstOffender?.violation) lines.push(historyText(h).replace('first offending order', `first ${h.violation.invariant} order`));
  }
  if (!v.ok) lines.push(`replay: CHAOS_SEED=${r.seed} npm run chaos`);
  return lines.join('\n');
}
