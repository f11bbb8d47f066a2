import { describe, expect, it } from 'vitest';
import { ApiError, CONTRACT, classify } from './answers.js';

const fastifyError = (code: string, statusCode: number, message = 'x') => Object.assign(new Error(message), { code, statusCode });

describe('the contract table', () => {
  it('answers each order outcome with the documented status', () => {
    expect(Object.fromEntries(Object.entries(CONTRACT).map(([k, v]) => [k, v.status]))).toEqual({
      sold_out: 409,
      in_progress: 409,
      idempotency_key_reused: 422,
      limit_reached: 403,
      not_started: 425,
      ended: 410,
      unknown_sale: 404,
      rate_limited: 429,
      recovering: 503,
      paused: 503,
      unavailable: 503,
      invalid_request: 400,
      payload_too_large: 413,
      unsupported_media_type: 415,
      unauthorized: 401,
      forbidden: 403,
      admin_disabled: 403,
      not_found: 404,
      queue_not_enabled: 409,
      queue_full: 503,
      queue_reset: 410,
      ticket_invalid: 403,
      admission_token_required: 403,
      admission_token_invalid: 403,
      admission_token_unknown: 403,
      admission_token_expired: 403,
      admission_token_used: 409,
      internal: 500,
    });
  });

  it('gives every 503 and 429 a Retry-After', () => {
    for (const [code, c] of Object.entries(CONTRACT))
      if (c.status === 503 || c.status === 429) expect({ code, retryAfter: 'retryAfterSec' in c }).toEqual({ code, retryAfter: true });
  });
});

describe('classify', () => {
  it.each([
    [new ApiError('sold_out'), { code: 'sold_out', message: 'sold out' }],
    [new ApiError('unavailable', 'Redis down', 3), { code: 'unavailable', message: 'Redis down', retryAfterSec: 3 }],
    [Object.assign(new Error('body/quantity must be integer'), { validation: [{}], field: 'body.quantity' }), { code: 'invalid_request', message: 'body/quantity must be integer', field: 'body.quantity' }],
    [fastifyError('FST_ERR_CTP_BODY_TOO_LARGE', 413, 'Request body is too large'), { code: 'payload_too_large', message: 'Request body is too large' }],
    [fastifyError('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415), { code: 'unsupported_media_type' }],
    [fastifyError('FST_ERR_CTP_EMPTY_JSON_BODY', 400), { code: 'invalid_request', message: 'body is empty; send a JSON object', field: 'body' }],
    [fastifyError('FST_ERR_CTP_INVALID_JSON_BODY', 400), { code: 'invalid_request', message: 'body is not valid JSON', field: 'body' }],
    [new TypeError('boom'), { code: 'internal' }],
  ])('%s', (err, expected) => {
    expect(classify(err)).toMatchObject(expected);
  });
});
