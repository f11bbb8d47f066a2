import { describe, expect, it } from 'vitest';
import { DLQ_HEADERS, toDlqMessage } from './dlq.js';

describe('toDlqMessage', () => {
  it('keeps key, value and headers and adds reason and origin', () => {
    const message = {
      key: Buffer.from('phone'),
      value: Buffer.from('{oops'),
      headers: { trace: Buffer.from('abc') },
      offset: '42',
      timestamp: '0',
      attributes: 0,
    };
    const m = toDlqMessage({ topic: 'orders', partition: 3, message, reason: 'not JSON' }, new Date('2026-11-29T00:00:00Z'));
    expect(m.key).toBe(message.key);
    expect(m.value).toBe(message.value);
    expect(m.headers).toEqual({
      trace: message.headers.trace,
      [DLQ_HEADERS.reason]: 'not JSON',
      [DLQ_HEADERS.topic]: 'orders',
      [DLQ_HEADERS.partition]: '3',
      [DLQ_HEADERS.offset]: '42',
      [DLQ_HEADERS.failedAt]: '2026-11-29T00:00:00.000Z',
    });
  });
});
