import { describe, expect, it } from 'vitest';
import { parseIdempotencyRecord, parseReserveReply, storedKeyRecord } from './reserve.js';

describe('parseReserveReply', () => {
  it.each([
    [['ok', 99, 3, 1700000000123], { kind: 'ok', remaining: 99, epoch: 3, acceptedAtMs: 1700000000123 }],
    [['sold_out', 0], { kind: 'sold_out', stockLeft: 0 }],
    [['not_started', 1500], { kind: 'not_started', msUntilStart: 1500 }],
    [['rate_limited', 250], { kind: 'rate_limited', msUntilNextSecond: 250 }],
    [['ended'], { kind: 'ended' }],
    [['limit_reached'], { kind: 'limit_reached' }],
    [['not_seeded'], { kind: 'not_seeded' }],
    [['recovering'], { kind: 'recovering' }],
    [['paused'], { kind: 'paused' }],
    [['draining'], { kind: 'unknown_state', state: 'draining' }],
  ])('%j', (reply, expected) => {
    expect(parseReserveReply(reply)).toEqual(expected);
  });

  it('parses a replayed record', () => {
    expect(parseReserveReply(['replay', 'd|0b8f7c2e-1d2a-4c8e-9f1a-2b3c4d5e6f70|41|2|7|1|1700000000123'])).toEqual({
      kind: 'replay',
      record: {
        state: 'done',
        orderId: '0b8f7c2e-1d2a-4c8e-9f1a-2b3c4d5e6f70',
        remaining: 41,
        quantity: 2,
        epoch: 7,
        acceptedAtMs: 1700000000123,
      },
    });
  });
});

describe('parseIdempotencyRecord', () => {
  it('rejects a record it cannot read instead of guessing', () => {
    expect(() => parseIdempotencyRecord('x|1|2')).toThrow(/malformed idempotency record/);
  });

  it('reads a record rebuilt from PostgreSQL as done, bound to its order, user and quantity', () => {
    const h = { idempotencyKey: 'k1', orderId: '016a943c-abcb-4fb2-a45d-eba3ec508a0b', userId: 'u1510', quantity: 2, acceptedAtMs: 1796003538000 };
    expect(parseIdempotencyRecord(storedKeyRecord(h, 17))).toEqual({
      state: 'done', orderId: h.orderId, remaining: 17, quantity: 2, epoch: 0, acceptedAtMs: 1796003538000, userId: 'u1510',
    });
  });
});
