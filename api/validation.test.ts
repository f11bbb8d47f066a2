import { describe, expect, it } from 'vitest';
import { ID_PATTERN } from '../core/kafka/order-message.js';
import { parseJsonBody } from './json-body.js';
import { formatValidationErrors } from './validation.js';

const ajvError = (keyword: string, instancePath: string, params: Record<string, unknown>, message: string) => ({
  keyword,
  instancePath,
  schemaPath: '#',
  params,
  message,
});

describe('formatValidationErrors', () => {
  it.each([
    [ajvError('additionalProperties', '', { additionalProperty: 'price' }, 'must NOT have additional properties'), 'body', 'body has unknown field "price"', 'body.price'],
    [ajvError('required', '', { missingProperty: 'userId' }, "must have required property 'userId'"), 'body', "body must have required property 'userId'", 'body.userId'],
    [ajvError('required', '', { missingProperty: 'x-idempotency-key' }, "must have required property 'x-idempotency-key'"), 'headers', "headers must have required property 'x-idempotency-key'", 'headers.x-idempotency-key'],
    [ajvError('type', '/quantity', { type: 'integer' }, 'must be integer'), 'body', 'body/quantity must be integer', 'body.quantity'],
    [ajvError('pattern', '/productId', { pattern: ID_PATTERN.source }, 'must match pattern'), 'body', 'body/productId must be 1-128 characters: letters, digits, ".", "_", ":" or "-", starting with a letter or digit', 'body.productId'],
  ])('%j in %s', (error, context, message, field) => {
    const e = formatValidationErrors([error], context as 'body');
    expect({ message: e.message, field: (e as Error & { field: string }).field }).toEqual({ message, field });
  });
});

describe('parseJsonBody', () => {
  it('parses an object', () => {
    expect(parseJsonBody('{"productId":"p","userId":"u"}')).toEqual({ productId: 'p', userId: 'u' });
  });
  it.each([
    ['', /body is empty/],
    ['{"a":', /body is not valid JSON: /],
    ['{"__proto__":{"admin":true}}', /__proto__/],
    ['{"a":[{"constructor":{"prototype":{"x":1}}}]}', /constructor\.prototype/],
  ])('%j is refused', (body, message) => {
    expect(() => parseJsonBody(body)).toThrow(message);
  });
  it('accepts a harmless "constructor" key (no prototype under it)', () => {
    expect(parseJsonBody('{"constructor":"x"}')).toEqual({ constructor: 'x' });
  });
});
