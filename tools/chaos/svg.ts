// The run as a picture: answers per second stacked by kind, the stretches with no sale (outages)
// shaded, every fault a labelled tick, the heal and restock moments marked. Pure: record in, SVG out.
import type { Verdict } from './checker.js';
import type { Attempt, RunRecord } from './history.js';

const W = 1200;
const H = 420;
const PAD = { l: 50, r: 20, t: 30, b: 120 };
const KINDS: Array<[string, string, (a: Attempt) => boolean]> = [
  ['200', '#2e7d32', (a) => a.outcome === 200],
  ['409 sold_out', '#9e9e9e', (a) => a.outcome === 409 && a.answer === 'sold_out'],
  ['403 limit', '#6a1b9a', (a) => a.outcome === 403],
  ['503', '#ef6c00', (a) => a.outcome === 503],
  ['429/409 retry', '#fbc02d', (a) => a.outcome === 429 || (a.outcome === 409 && a.answer !== 'sold_out')],
  ['timeout/reset', '#c62828', (a) => typeof a.outcome !== 'number'],
  ['other', '#1565c0', () => true],
];

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** Per second: counts per kind (each attempt lands in the first kind that matches). */
function buckets(attempts: Attempt[], seconds: number): number[][] {
  const b = Array.from({ length: seconds }, () => KINDS.map(() => 0));
  for (const a of attempts) {
    const s = Math.min(seconds - 1, Math.floor(a.t1 / 1000));
    b[s]![KINDS.findIndex(([, , m]) => m(a))]!++;
  }
  return b;
}

export function timelineSvg(r: RunRecord, v: Verdict): string {
  const seconds = Math.max(1, Math.ceil(r.endedAt / 1000));
  const b = buckets(r.attempts, seconds);
  const max = Math.max(1, ...b.map((row) => row.reduce((x, y) => x + y, 0)));
  const x = (ms: number) => PAD.l + (ms / 1000 / seconds) * (W - PAD.l - PAD.r);
  const y = (n: number) => H - PAD.b - (n / max) * (H - PAD.t - PAD.b);
  const parts: string[] = [];
  for (const o of v.outages) parts.push(`<rect x="${x(o.from)}" y="${PAD.t}" width="${x(o.to) - x(o.from)}" height="${H - PAD.t - PAD.b}" fill="#ffcdd2" opacity="0.6"><title>no sale for ${((o.to - o.from) / 1000).toFixed(1)} s</title></rect>`);
  b.forEach((row, s) => {
    let acc = 0;
    row.forEach((n, k) => {
      if (n === 0) return;
      parts.push(`<rect x="${x(s * 1000)}" y="${y(acc + n)}" width="${Math.max(1, x(1000) - x(0) - 0.5)}" height="${y(acc) - y(acc + n)}" fill="${KINDS[k]![1]}"/>`);
      acc += n;
    });
  });
  r.faults.filter((f) => f.injected).forEach((f, i) => {
    const fx = x(f.t);
    parts.push(`<rect x="${fx}" y="${PAD.t}" width="${Math.max(1, x(f.tEnd) - fx)}" height="${H - PAD.t - PAD.b}" fill="#000" opacity="0.08"/>`);
    parts.push(`<line x1="${fx}" x2="${fx}" y1="${PAD.t}" y2="${H - PAD.b + 8}" stroke="#000" stroke-width="1"/>`);
    parts.push(`<text x="${fx}" y="${H - PAD.b + 14 + (i % 6) * 14}" font-size="10" fill="#000">${esc(f.kind)}<title>${esc(`${f.kind} ${f.target} ${f.detail ?? ''}`)}</title></text>`);
  });
  for (const [label, ms] of [['healed', r.healedAt], ...r.sales.filter((s) => s.restockAt !== undefined).slice(0, 1).map((s) => ['restock', s.restockAt!] as const)] as const) {
    parts.push(`<line x1="${x(ms)}" x2="${x(ms)}" y1="${PAD.t}" y2="${H - PAD.b}" stroke="#1565c0" stroke-dasharray="4 3"/><text x="${x(ms) + 3}" y="${PAD.t + (label === 'healed' ? 10 : 24)}" font-size="11" fill="#1565c0">${label}</text>`);
  }
  const legend = KINDS.map(([name, color], i) => `<rect x="${PAD.l + i * 120}" y="8" width="10" height="10" fill="${color}"/><text x="${PAD.l + i * 120 + 14}" y="17" font-size="11">${esc(name)}</text>`);
  const axis = [0, 0.5, 1].map((f) => `<text x="${PAD.l - 6}" y="${y(max * f) + 4}" font-size="10" text-anchor="end">${Math.round(max * f)}/s</text>`);
  const ticks = Array.from({ length: Math.floor(seconds / 10) + 1 }, (_, i) => `<text x="${x(i * 10_000)}" y="${H - PAD.b + 100}" font-size="10" text-anchor="middle">${i * 10}s</text>`);
  const title = `seed ${r.seed} · ${v.ok ? 'no violation' : `VIOLATIONS: ${Object.entries(v.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')}`}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    ...parts, ...legend, ...axis, ...ticks,
    `<text x="${W - PAD.r}" y="${H - 4}" font-size="12" text-anchor="end" fill="${v.ok ? '#2e7d32' : '#c62828'}">${esc(title)}</text>`,
    '</svg>',
  ].join('\n');
}
