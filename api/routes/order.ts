// POST /order (the hot path) and GET /order/:orderId.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { getOrderStatus } from '../../core/postgres/orders.js';
import { readAcceptedOrder } from '../../core/redis/reserve.js';
import { ApiError, reject, unavailable } from '../answers.js';
import type { Signer } from '../admission.js';
import type { Rejection } from '../answers.js';
import type { OrderResult } from '../order-service.js';
import {
  ADMISSION_HEADER,
  IDEMPOTENCY_HEADER,
  errorResponses,
  orderBodySchema,
  orderHeadersSchema,
  orderIdParamsSchema,
  orderStatusSchema,
  successBodySchema,
} from '../schemas.js';

interface OrderBody {
  productId: string;
  userId: string;
  quantity?: number;
}

function wantsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return accept !== undefined && accept.includes('text/html');
}

/** The waiting room retries the same order (same idempotency key) by itself after Retry-After. */
export function waitingRoomUrl(o: { productId: string; userId: string; quantity: number; idempotencyKey: string; retryAfterSec: number }): string {
  const q = new URLSearchParams({
    productId: o.productId,
    userId: o.userId,
    quantity: String(o.quantity),
    key: o.idempotencyKey,
    retryAfter: String(o.retryAfterSec),
  });
  return `/waiting-room?${q.toString()}`;
}

/**
 * The token's signature, sale and user (its expiry and single use are Redis's to check, in the
 * reservation itself). A forged or foreign token is refused before Redis: nothing changes.
 */
function checkToken(signer: Signer | null, raw: string, productId: string, userId: string): { code: Rejection; message: string } | undefined {
  if (!signer) return { code: 'unavailable', message: 'admission tokens cannot be checked: ADMISSION_SIGNING_KEYS is not set' };
  const t = signer.readToken(raw);
  if (!t.ok) return { code: 'admission_token_invalid', message: `x-admission-token: ${t.why}` };
  if (t.value.productId !== productId) return { code: 'admission_token_invalid', message: 'x-admission-token was handed out for another sale' };
  if (t.value.userId !== userId) return { code: 'admission_token_invalid', message: 'x-admission-token was handed out to another user' };
  return undefined;
}

export async function orderRoutes(app: FastifyInstance): Promise<void> {
  const service = app.orderService;
  // The hot route counts its own answers (no per-answer metrics hook): after each send, and in its
  // error handler for what never reached the handler (validation, body parsing).
  const answered = app.httpMetrics.answeredBy('/order', 'POST');
  const handleError = app.errorHandler;

  app.post<{ Body: OrderBody; Headers: { [IDEMPOTENCY_HEADER]: string; [ADMISSION_HEADER]?: string } }>(
    '/order',
    {
      schema: {
        body: orderBodySchema,
        headers: orderHeadersSchema,
        response: { 200: successBodySchema, ...errorResponses },
      },
      config: { countsOwnAnswers: true },
      errorHandler(err, request, reply) {
        handleError.call(this, err, request, reply);
        answered(reply);
      },
    },
    // Not an async handler: answers known in memory (sold-out flag, replays) are sent in this turn,
    // without a promise; the others when Redis and Kafka have answered.
    (request, reply) => answer(request, reply),
  );

  type OrderRequest = FastifyRequest<{ Body: OrderBody; Headers: { [IDEMPOTENCY_HEADER]: string; [ADMISSION_HEADER]?: string } }>;

  /** Sends and counts the answer now (undefined) or once the order is placed (the promise). */
  function answer(request: OrderRequest, reply: FastifyReply): Promise<void> | undefined {
    const { productId, userId, quantity = 1 } = request.body;
    const idempotencyKey = request.headers[IDEMPOTENCY_HEADER];
    const raw = request.headers[ADMISSION_HEADER];
    let admissionToken = false;
    if (raw !== undefined) {
      const bad = checkToken(app.signer, raw, productId, userId);
      if (bad) {
        reject(reply, bad.code, { message: bad.message, field: `headers.${ADMISSION_HEADER}` });
        return void answered(reply);
      }
      admissionToken = true;
    }
    const order = { productId, userId, quantity, idempotencyKey, admissionToken };
    const r = service.answer(order);
    if (!(r instanceof Promise)) return void send(request, reply, order, r);
    return r.then((done) => send(request, reply, order, done));
  }

  function send(request: OrderRequest, reply: FastifyReply, order: { productId: string; userId: string; quantity: number; idempotencyKey: string }, r: OrderResult): void {
    sendAnswer(request, reply, order, r);
    answered(reply);
  }

  function sendAnswer(request: OrderRequest, reply: FastifyReply, order: { productId: string; userId: string; quantity: number; idempotencyKey: string }, r: OrderResult): void {
    if (r.ok) {
      if (r.replayed) reply.header('idempotent-replayed', 'true');
      return void reply.send(r.body);
    }
    // Browsers over the rate, or without a token on a queued sale, go to the waiting room.
    if ((r.code === 'rate_limited' || r.code === 'admission_token_required') && wantsHtml(request)) {
      const retryAfterSec = r.retryAfterSec ?? 1;
      reply.header('retry-after', String(retryAfterSec));
      return void reply.redirect(waitingRoomUrl({ ...order, retryAfterSec }), 302);
    }
    reject(reply, r.code, r);
  }

  app.get<{ Params: { orderId: string } }>(
    '/order/:orderId',
    { schema: { params: orderIdParamsSchema, response: { 200: orderStatusSchema, ...errorResponses } } },
    async (request) => {
      const { orderId } = request.params;
      let stored;
      try {
        stored = await getOrderStatus(app.pg, orderId);
      } catch (err) {
        throw unavailable('PostgreSQL', err);
      }
      if (stored) return stored;
      let accepted;
      try {
        accepted = await readAcceptedOrder(app.redis, orderId);
      } catch (err) {
        app.apiMetrics.redisErrors.inc();
        throw unavailable('Redis', err);
      }
      if (accepted) {
        return {
          orderId,
          status: 'pending',
          productId: accepted.productId,
          quantity: accepted.quantity,
          acceptedAt: new Date(accepted.acceptedAtMs).toISOString(),
        };
      }
      throw new ApiError('not_found', `no order ${orderId} (unknown, or older than ORDER_STATUS_TTL_SECONDS and never stored)`);
    },
  );
}
