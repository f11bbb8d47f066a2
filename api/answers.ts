// The contract of the API in one place: every non-success answer, its status code, body and
// Retry-After. Routes return an outcome code; thrown errors (ours and Fastify's) are mapped here by
// the one error handler.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Unavailable, type Backend } from '../core/errors.js';
import type { Logger } from '../core/logging.js';

export const CONTRACT = {
  sold_out:               { status: 409, message: 'sold out' },
  in_progress:            { status: 409, message: 'an order with this x-idempotency-key is still being placed; retry', retryAfterSec: 1 },
  idempotency_key_reused: { status: 422, message: 'this x-idempotency-key was used for an order with another userId or quantity; use a new key' },
  limit_reached:          { status: 403, message: 'per-user limit reached for this sale' },
  not_started:            { status: 425, message: 'the sale has not started yet' },
  ended:                  { status: 410, message: 'the sale has ended' },
  unknown_sale:           { status: 404, message: 'no such sale' },
  // API clients get 429; browsers (Accept: text/html) a 302 to /waiting-room (see order route).
  rate_limited:           { status: 429, message: 'too many orders for this sale this second; retry', retryAfterSec: 1 },
  recovering:             { status: 503, message: 'the sale is recovering; retry shortly', retryAfterSec: 2 },
  paused:                 { status: 503, message: 'the sale is paused; retry later', retryAfterSec: 5 },
  unavailable:            { status: 503, message: 'temporarily unavailable; retry', retryAfterSec: 1 },
  invalid_request:        { status: 400, message: 'invalid request' },
  payload_too_large:      { status: 413, message: 'request body too large' },
  unsupported_media_type: { status: 415, message: 'Content-Type must be application/json' },
  unauthorized:           { status: 401, message: 'missing bearer token (Authorization: Bearer <ADMIN_TOKEN>)' },
  forbidden:              { status: 403, message: 'wrong admin token' },
  admin_disabled:         { status: 403, message: 'admin API disabled (ADMIN_TOKEN is not set)' },
  not_found:              { status: 404, message: 'not found' },
  // The waiting room of a queued sale (FlashSale spec.admission.mode queue | queue-randomized-start).
  queue_not_enabled:        { status: 409, message: 'this sale admits buyers directly, not through a waiting room: POST /order' },
  queue_full:               { status: 503, message: 'the waiting room of this sale is full (spec.admission.maxQueue); retry later', retryAfterSec: 5 },
  queue_reset:              { status: 410, message: "this ticket's place is no longer in the queue (Redis lost it); join again with POST /queue" },
  ticket_invalid:           { status: 403, message: 'not a valid queue ticket for this service' },
  admission_token_required: { status: 403, message: 'this sale admits buyers through its waiting room: POST /queue, then order with the x-admission-token it hands out' },
  admission_token_invalid:  { status: 403, message: 'the x-admission-token is not valid for this sale and user' },
  admission_token_unknown:  { status: 403, message: 'no admission token was handed out to this user for this sale (the queue was reset?); join again with POST /queue' },
  admission_token_expired:  { status: 403, message: 'the admission token expired (spec.admission.tokenTtlSeconds); its place went to the next in line' },
  admission_token_used:     { status: 409, message: 'the admission token was already used for an order' },
  internal:               { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string; retryAfterSec?: number }>;

export type Rejection = keyof typeof CONTRACT;

export interface ErrorBody {
  status: Rejection;
  message: string;
  /** The offending input for 400s, e.g. "body.quantity" or "headers.x-idempotency-key". */
  field?: string;
  /** 503 for an order whose fate is unknown: the order the idempotency key is tied to. */
  orderId?: string;
}

/** A typed domain error; throw it anywhere below a route and the error handler answers it. */
export class ApiError extends Error {
  constructor(
    readonly code: Rejection,
    message?: string,
    readonly retryAfterSec?: number,
    readonly field?: string,
  ) {
    super(message ?? CONTRACT[code].message);
    this.name = 'ApiError';
  }
}

/** The 503 for a backend that failed; the backend's error stays as `cause` (core/errors.ts). */
export function unavailable(backend: Backend, err: unknown, context?: string): ApiError {
  const cause = new Unavailable(backend, err, context);
  return Object.assign(new ApiError('unavailable', cause.message), { cause });
}

/** The JSON of each code's plain answer (no message, field or orderId of its own), built once. */
const PLAIN_BODIES = new Map<Rejection, string>();
const JSON_TYPE = 'application/json; charset=utf-8';

function plainBody(code: Rejection): string {
  let body = PLAIN_BODIES.get(code);
  if (body === undefined) {
    body = JSON.stringify({ status: code, message: CONTRACT[code].message } satisfies ErrorBody);
    PLAIN_BODIES.set(code, body);
  }
  return body;
}

/** Sends the contract answer for `code` (no throw: the hot path's rejections are not exceptional). */
export function reject(
  reply: FastifyReply,
  code: Rejection,
  opts: { message?: string; retryAfterSec?: number; field?: string; orderId?: string } = {},
): FastifyReply {
  const c: { status: number; message: string; retryAfterSec?: number } = CONTRACT[code];
  const retryAfter = opts.retryAfterSec ?? c.retryAfterSec;
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  reply.code(c.status);
  // The hot refusals (sold out, limit reached) are plain: their JSON is sent as built once.
  if (!opts.message && !opts.field && !opts.orderId) return reply.type(JSON_TYPE).send(plainBody(code));
  const body: ErrorBody = { status: code, message: opts.message ?? c.message };
  if (opts.field) body.field = opts.field;
  if (opts.orderId) body.orderId = opts.orderId;
  return reply.send(body);
}

/** Fastify's own errors (body parsing, validation, limits) in contract terms. */
export function classify(err: FastifyError | ApiError | Error): { code: Rejection; message?: string; retryAfterSec?: number; field?: string } {
  if (err instanceof ApiError) return { code: err.code, message: err.message, retryAfterSec: err.retryAfterSec, field: err.field };
  const e = err as FastifyError & { field?: string };
  if (e.validation) return { code: 'invalid_request', message: e.message, field: e.field };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'payload_too_large', message: e.message };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'unsupported_media_type' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'invalid_request', message: 'body is empty; send a JSON object', field: 'body' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 'invalid_request', message: 'body is not valid JSON', field: 'body' };
  }
  if (e instanceof SyntaxError || e.statusCode === 400) return { code: 'invalid_request', message: e.message, field: 'body' };
  if (e.statusCode === 413) return { code: 'payload_too_large', message: e.message };
  if (e.statusCode === 415) return { code: 'unsupported_media_type' };
  if (e.statusCode === 404) return { code: 'not_found', message: e.message };
  if (e.statusCode === 503) return { code: 'unavailable', message: e.message };
  return { code: 'internal' };
}

export function errorHandler(logger: Logger) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const c = classify(err);
    if (c.code === 'internal') logger.error({ err, route: request.routeOptions.url, method: request.method }, 'unhandled error');
    return reject(reply, c.code, c);
  };
}

export const errorBodySchema = {
  type: 'object',
  required: ['status', 'message'],
  properties: {
    status: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
    orderId: { type: 'string' },
  },
} as const;
