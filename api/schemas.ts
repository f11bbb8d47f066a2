// Request and response schemas of the order routes: they drive validation (Ajv) and
// serialization (fast-json-stringify), and they are the contract clients read.
import { ID_PATTERN, MAX_QUANTITY, UUID_PATTERN } from '../core/kafka/order-message.js';
import { errorBodySchema } from './answers.js';

const id = { type: 'string', pattern: ID_PATTERN.source } as const;

export const orderBodySchema = {
  type: 'object',
  required: ['productId', 'userId'],
  additionalProperties: false,
  properties: {
    productId: id,
    userId: id,
    quantity: { type: 'integer', minimum: 1, maximum: MAX_QUANTITY, default: 1 },
  },
} as const;

export const IDEMPOTENCY_HEADER = 'x-idempotency-key';
export const ADMISSION_HEADER = 'x-admission-token';

/** A signed ticket or token: "<key id>.<base64url payload>.<base64url signature>". */
const signed = { type: 'string', minLength: 5, maxLength: 1024, pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$' } as const;

export const orderHeadersSchema = {
  type: 'object',
  required: [IDEMPOTENCY_HEADER],
  properties: {
    // Printable ASCII, so the key is safe in a Redis key name, a log line and a URL.
    [IDEMPOTENCY_HEADER]: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x20-\\x7E]+$' },
    [ADMISSION_HEADER]: signed,
  },
} as const;

export const queueBodySchema = {
  type: 'object',
  required: ['productId', 'userId'],
  additionalProperties: false,
  properties: { productId: id, userId: id },
} as const;

export const ticketParamsSchema = {
  type: 'object',
  required: ['ticket'],
  properties: { ticket: signed },
} as const;

export const joinResponseSchema = {
  type: 'object',
  required: ['ticket', 'position', 'estimatedWaitSeconds', 'pollAfterMs'],
  properties: {
    ticket: { type: 'string' },
    /** 1 = next; 0 = admitted (poll for the token); null = drawn at the start (randomized start). */
    position: { type: ['integer', 'null'] },
    estimatedWaitSeconds: { type: 'number' },
    pollAfterMs: { type: 'integer' },
    startsAt: { type: 'string' },
  },
} as const;

export const pollResponseSchema = {
  type: 'object',
  required: ['state'],
  properties: {
    state: { type: 'string', enum: ['waiting', 'admitted', 'sold_out', 'ended', 'expired'] },
    position: { type: ['integer', 'null'] },
    estimatedWaitSeconds: { type: 'number' },
    pollAfterMs: { type: 'integer' },
    token: { type: 'string' },
    tokenExpiresAt: { type: 'string' },
    tokenUsed: { type: 'boolean' },
    productId: { type: 'string' },
  },
} as const;

export const successBodySchema = {
  type: 'object',
  required: ['status', 'orderId', 'productId', 'remaining'],
  properties: {
    status: { type: 'string', enum: ['success'] },
    orderId: { type: 'string' },
    productId: { type: 'string' },
    remaining: { type: 'integer' },
  },
} as const;

export const orderIdParamsSchema = {
  type: 'object',
  required: ['orderId'],
  properties: { orderId: { type: 'string', pattern: UUID_PATTERN.source } },
} as const;

export const productIdParamsSchema = {
  type: 'object',
  required: ['productId'],
  properties: { productId: id },
} as const;

export const orderStatusSchema = {
  type: 'object',
  required: ['orderId', 'status'],
  properties: {
    orderId: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'confirmed', 'rejected'] },
    productId: { type: 'string' },
    quantity: { type: 'integer' },
    reason: { type: 'string' },
    duplicateOf: { type: 'string' },
    acceptedAt: { type: 'string' },
  },
} as const;

export const inventorySchema = {
  type: 'object',
  required: ['productId', 'remaining', 'state'],
  properties: {
    productId: { type: 'string' },
    remaining: { type: 'integer' },
    /** open | sold_out | not_started | ended | recovering | paused */
    state: { type: 'string' },
    initialStock: { type: ['integer', 'null'] },
    perUserLimit: { type: ['integer', 'null'] },
    rateLimitPerSecond: { type: ['integer', 'null'] },
    startsAt: { type: ['string', 'null'] },
    endsAt: { type: ['string', 'null'] },
    epoch: { type: 'integer' },
  },
} as const;

export const initBodySchema = {
  type: 'object',
  required: ['productId', 'quantity'],
  additionalProperties: false,
  properties: {
    productId: id,
    quantity: { type: 'integer', minimum: 0, maximum: 1_000_000_000 },
    rateLimitPerSecond: { type: 'integer', minimum: 1, maximum: 10_000_000 },
    perUserLimit: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    startsAt: { type: 'string', format: 'date-time' },
    endsAt: { type: 'string', format: 'date-time' },
    admission: admissionSchema(),
  },
} as const;

/** The FlashSale's spec.admission, as /init takes it (the CRD holds the same rules). */
function admissionSchema() {
  return {
    type: 'object',
    required: ['mode'],
    additionalProperties: false,
    properties: {
      mode: { type: 'string', enum: ['direct', 'queue', 'queue-randomized-start'] },
      ratePerSecond: { type: 'integer', minimum: 1, maximum: 1_000_000 },
      tokenTtlSeconds: { type: 'integer', minimum: 5, maximum: 86_400 },
      maxQueue: { type: 'integer', minimum: 1, maximum: 100_000_000 },
    },
  } as const;
}

export const initResponseSchema = {
  type: 'object',
  required: ['status', 'productId', 'stock', 'epoch'],
  properties: {
    status: { type: 'string', enum: ['initialized'] },
    productId: { type: 'string' },
    stock: { type: 'integer' },
    epoch: { type: 'integer' },
    perUserLimit: { type: ['integer', 'null'] },
    rateLimitPerSecond: { type: ['integer', 'null'] },
    startsAt: { type: ['string', 'null'] },
    endsAt: { type: ['string', 'null'] },
  },
} as const;

export const errorResponses = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;
