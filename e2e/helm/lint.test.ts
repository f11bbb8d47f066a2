// helm lint --strict: default values and every option on.
import { describe, expect, it } from 'vitest';
import { ALL_ON, CHART, KUBE_VERSION, run, tools } from './chart.js';

describe('helm lint --strict', () => {
  it.each([
    ['default values', [] as string[]],
    ['every option on (fixtures/all-on.yaml)', ['--values', ALL_ON]],
  ])('passes with %s', async (_name, extra) => {
    const r = await run(tools().helm, ['lint', '--strict', CHART, '--kube-version', KUBE_VERSION, ...extra]);
    expect(r.stderr + r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.code).toBe(0);
  });
});
