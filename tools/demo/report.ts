// Checks the guarantees against PostgreSQL after the stampede and formats the demo report.
import type pg from 'pg';
import type { StampedeResult } from './stampede.js';

export interface InvariantCheck {
  confirmed: number;
  rejected: number;
  pgStock: number;
  oversold: number;
  lost: number;
  duplicates: number;
  failures: string[];
}

export async function checkInvariants(pool: pg.Pool, productId: string, stock: number, r: StampedeResult): Promise<InvariantCheck> {
  const orders = await pool.query<{ id: string; status: string; idempotency_key: string }>(
    'SELECT id::text, status, idempotency_key FROM orders WHERE product_id = $1',
    [productId],
  );
  const product = await pool.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [productId]);
  const stored = new Set(orders.rows.map((o) => o.id));
  const confirmed = orders.rows.filter((o) => o.status === 'confirmed');
  const confirmedPerKey = new Map<string, number>();
  for (const o of confirmed) confirmedPerKey.set(o.idempotency_key, (confirmedPerKey.get(o.idempotency_key) ?? 0) + 1);

  const lost = [...r.acceptedOrderIds].filter((id) => !stored.has(id)).length;
  const keysWithTwoAnswers = [...r.orderIdsByKey.values()].filter((ids) => ids.size > 1).length;
  const duplicates = [...confirmedPerKey.values()].filter((n) => n > 1).length + keysWithTwoAnswers;
  const oversold = Math.max(0, confirmed.length - stock);
  const pgStock = product.rows[0]?.stock ?? -1;

  const failures: string[] = [];
  if (oversold) failures.push(`oversold: ${confirmed.length} confirmed for stock ${stock}`);
  if (lost) failures.push(`lost: ${lost} accepted orders are not in PostgreSQL`);
  if (duplicates) failures.push(`duplicates: ${duplicates} idempotency keys produced more than one order`);
  if (r.counts.accepted > stock) failures.push(`the API accepted ${r.counts.accepted} orders for stock ${stock}`);
  if (confirmed.length !== r.counts.accepted)
    failures.push(`the API accepted ${r.counts.accepted} orders but PostgreSQL confirmed ${confirmed.length}`);
  if (pgStock !== stock - confirmed.length) failures.push(`PostgreSQL stock ${pgStock} != ${stock} - ${confirmed.length} confirmed`);
  return { confirmed: confirmed.length, rejected: orders.rows.length - confirmed.length, pgStock, oversold, lost, duplicates, failures };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function formatReport(o: StampedeResult & { stored: number; check: InvariantCheck; stock: number }): string {
  const lat = Float64Array.from(o.latenciesMs).sort();
  const total = lat.length;
  const rows: Array<[string, string]> = [
    ['requests', String(total)],
    ['accepted (200)', String(o.counts.accepted)],
    ['replayed (same key, 200)', String(o.counts.replayed)],
    ['sold out (409)', String(o.counts.sold_out)],
    ['other answers', `${o.counts.other}${o.counts.other ? ' ' + JSON.stringify(o.otherStatuses) : ''}`],
    ['stock offered', String(o.stock)],
    ['confirmed in PostgreSQL', String(o.check.confirmed)],
    ['rejected in PostgreSQL', String(o.check.rejected)],
    ['stock left in PostgreSQL', String(o.check.pgStock)],
    ['oversold (must be 0)', String(o.check.oversold)],
    ['lost (must be 0)', String(o.check.lost)],
    ['duplicates (must be 0)', String(o.check.duplicates)],
    ['latency p50', `${percentile(lat, 50).toFixed(2)} ms`],
    ['latency p99', `${percentile(lat, 99).toFixed(2)} ms`],
    ['throughput', `${Math.round((total / o.durationMs) * 1000)} req/s over ${(o.durationMs / 1000).toFixed(2)} s`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return ['', 'Flux-Gate demo report', '-'.repeat(w + 20), ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), ''].join('\n');
}
