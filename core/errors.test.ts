import { describe, expect, it } from 'vitest';
import { Unavailable } from './errors.js';

describe('Unavailable', () => {
  it('names the backend, keeps the cause, adds the context', () => {
    const cause = new Error('connect ECONNREFUSED');
    const e = new Unavailable('PostgreSQL', cause);
    expect(e.message).toBe('PostgreSQL unavailable: connect ECONNREFUSED');
    expect(e.cause).toBe(cause);
    expect(new Unavailable('Redis', 'timeout', 'product stored, not seeded; retry /init').message).toBe(
      'Redis unavailable (product stored, not seeded; retry /init): timeout',
    );
  });
});
