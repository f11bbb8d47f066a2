// Turns Ajv errors into one message naming the bad field, e.g.
//   body has unknown field "admin" · body/quantity must be <= 100 · headers must have required property 'x-idempotency-key'
// and records the field (body.quantity) on the error for the response body.
import type { FastifySchemaValidationError } from 'fastify';
import { ID_PATTERN, UUID_PATTERN } from '../core/kafka/order-message.js';

const DESCRIBED: Record<string, string> = {
  [ID_PATTERN.source]: 'must be 1-128 characters: letters, digits, ".", "_", ":" or "-", starting with a letter or digit',
  [UUID_PATTERN.source]: 'must be a lowercase UUID (the orderId POST /order answered)',
};

export class RequestValidationError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'RequestValidationError';
  }
}

function fieldOf(context: string, e: FastifySchemaValidationError): string {
  const path = e.instancePath.split('/').filter(Boolean);
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'required' && typeof params.missingProperty === 'string') path.push(params.missingProperty);
  if (e.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') path.push(params.additionalProperty);
  return [context, ...path].join('.');
}

export function formatValidationErrors(errors: FastifySchemaValidationError[], context: string): Error {
  const e = errors[0];
  if (!e) return new RequestValidationError(`${context} is invalid`, context);
  const where = `${context}${e.instancePath}`;
  const params = e.params as Record<string, unknown>;
  let message: string;
  switch (e.keyword) {
    case 'additionalProperties':
      message = `${where} has unknown field ${JSON.stringify(params.additionalProperty)}`;
      break;
    case 'pattern':
      message = `${where} ${DESCRIBED[String(params.pattern)] ?? e.message}`;
      break;
    default:
      message = `${where} ${e.message ?? 'is invalid'}`;
  }
  return new RequestValidationError(message, fieldOf(context, e));
}
