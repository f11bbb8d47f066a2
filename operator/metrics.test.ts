import { describe, expect, it } from 'vitest';
import { createOperatorMetrics, forgetSale, recordSale } from './metrics.js';

const ready = (status: 'True' | 'False', reason: string) => ({ type: 'Ready' as const, status, reason, message: '', lastTransitionTime: '2030-01-01T00:00:00Z' });

describe('operator metrics', () => {
  it('carry no label named namespace (it collides with the scrape target namespace)', async () => {
    const m = createOperatorMetrics();
    recordSale(m, 'shop', 'drop', { phase: 'Active', conditions: [ready('True', 'Selling')], stock: { remaining: 3 } }, 4);
    m.scalingDecisions.inc({ flashsale_namespace: 'shop', deployment: 'w', direction: 'up' });
    m.desiredReplicas.set({ flashsale_namespace: 'shop', deployment: 'w' }, 2);
    const text = await m.registry.metrics();
    const operatorSeries = text.split('\n').filter((l) => l.startsWith('fluxgate_operator_') && l.includes('{'));
    expect(operatorSeries.length).toBeGreaterThan(5);
    expect(operatorSeries.filter((l) => /[{,]namespace=/.test(l))).toEqual([]);
  });

  it('a per-sale phase gauge (1 for the current phase) and one Ready series whose reason follows the condition', async () => {
    const m = createOperatorMetrics();
    recordSale(m, 'shop', 'drop', { phase: 'Active', conditions: [ready('True', 'Selling')] }, undefined);
    recordSale(m, 'shop', 'drop', { phase: 'Recovering', conditions: [ready('False', 'Recovering')] }, undefined);
    const text = await m.registry.metrics();
    expect(text).toContain('fluxgate_operator_flashsale_phase{flashsale_namespace="shop",flashsale="drop",phase="Recovering"} 1');
    expect(text).toContain('fluxgate_operator_flashsale_phase{flashsale_namespace="shop",flashsale="drop",phase="Active"} 0');
    expect(text.split('\n').filter((l) => l.startsWith('fluxgate_operator_flashsale_ready{'))).toEqual([
      'fluxgate_operator_flashsale_ready{flashsale_namespace="shop",flashsale="drop",reason="Recovering"} 0',
    ]);
    forgetSale(m, 'shop', 'drop');
    expect((await m.registry.metrics()).split('\n').filter((l) => /^fluxgate_operator_flashsale_\w+\{/.test(l))).toEqual([]);
  });
});
