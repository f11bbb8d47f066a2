import { describe, expect, it } from 'vitest';
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSRequestTimeoutError } from 'kafkajs';
import { classifyProduceFailure } from './produce-outcome.js';

const protocol = (type: string) => Object.assign(new KafkaJSProtocolError(type), { type });
const afterRetries = (e: Error) => new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 2, retryTime: 400 });

describe('classifyProduceFailure', () => {
  it('nothing went out: not written, whatever the error says', () => {
    expect(classifyProduceFailure(afterRetries(new KafkaJSConnectionError('connect ECONNREFUSED')), 0, false)).toBe('not_written');
    expect(classifyProduceFailure(new KafkaJSRequestTimeoutError('Request Produce timed out'), 0, true)).toBe('not_written');
  });

  it('one request refused before append, one partition: not written', () => {
    for (const type of ['NOT_ENOUGH_REPLICAS', 'NOT_LEADER_FOR_PARTITION', 'MESSAGE_TOO_LARGE'])
      expect(classifyProduceFailure(afterRetries(protocol(type)), 1, true)).toBe('not_written');
  });

  it('anything that may have appended, or an attempt we cannot see, is maybe written', () => {
    for (const type of ['NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'REQUEST_TIMED_OUT', 'NETWORK_EXCEPTION', 'KAFKA_STORAGE_ERROR'])
      expect(classifyProduceFailure(protocol(type), 1, true)).toBe('maybe_written');
    expect(classifyProduceFailure(new KafkaJSRequestTimeoutError('Request Produce timed out'), 1, true)).toBe('maybe_written');
    expect(classifyProduceFailure(new KafkaJSConnectionError('Connection error: read ECONNRESET'), 1, true)).toBe('maybe_written');
    // an earlier attempt may have timed out: kafkajs reports only the last one
    expect(classifyProduceFailure(afterRetries(protocol('NOT_ENOUGH_REPLICAS')), 2, true)).toBe('maybe_written');
    // other partitions of the same request may have been written
    expect(classifyProduceFailure(protocol('NOT_LEADER_FOR_PARTITION'), 1, false)).toBe('maybe_written');
  });
});
