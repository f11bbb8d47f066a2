import { describe, expect, it } from 'vitest';
import { replacingMergePatch } from './client.js';

describe('replacingMergePatch: the status written equals the status decided', () => {
  it('deletes (null) a field the new status no longer has, at any depth', () => {
    const prev = { phase: 'Active', workers: { deployment: 'w', replicas: 4, cap: 'partitions', lag: 3 }, message: 'x' };
    const next = { phase: 'Active', workers: { deployment: 'w', lag: 0 }, message: undefined };
    expect(replacingMergePatch(prev, next)).toEqual({ phase: 'Active', workers: { deployment: 'w', lag: 0, replicas: null, cap: null }, message: null });
  });
  it('replaces lists as a whole and leaves equal fields as they are', () => {
    expect(replacingMergePatch({ conditions: [{ type: 'A' }, { type: 'B' }], n: 1 }, { conditions: [{ type: 'B' }], n: 1 })).toEqual({ conditions: [{ type: 'B' }], n: 1 });
  });
  it('drops a whole object the new status does not have', () => {
    expect(replacingMergePatch({ workers: { lag: 1 } }, {})).toEqual({ workers: null });
  });
});
