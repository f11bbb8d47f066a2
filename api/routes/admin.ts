// POST /init (seed parity, admin only): upsert the product in PostgreSQL, then seed Redis from
// the stored row. The operator does the same from a FlashSale resource.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { confirmedKeyHolders, confirmedUnitsByUser } from '../../core/postgres/orders.js';
import { upsertProduct, type Product } from '../../core/postgres/products.js';
import { isQueued, type AdmissionMode } from '../../core/redis/queue.js';
import { seedSale, type AdmissionSettings } from '../../core/redis/sale.js';
import { ApiError, unavailable } from '../answers.js';
import { errorResponses, initBodySchema, initResponseSchema } from '../schemas.js';

interface InitBody {
  productId: string;
  quantity: number;
  rateLimitPerSecond?: number;
  perUserLimit?: number;
  startsAt?: string;
  endsAt?: string;
  admission?: { mode: AdmissionMode; ratePerSecond?: number; tokenTtlSeconds?: number; maxQueue?: number };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Throws the contract's 403/401 unless the request carries the admin token. */
export function checkAdmin(adminToken: string | undefined, request: FastifyRequest): void {
  if (!adminToken) throw new ApiError('admin_disabled');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (!m) throw new ApiError('unauthorized');
  // Compare digests: constant time whatever the lengths.
  if (!timingSafeEqual(digest(m[1]!), digest(adminToken))) throw new ApiError('forbidden');
}

/** The same rule as the CRD: a queued sale needs its admission rate. */
function admissionOf(a: InitBody['admission']): AdmissionSettings | undefined {
  if (!a) return undefined;
  if (isQueued(a.mode) && a.ratePerSecond === undefined)
    throw new ApiError('invalid_request', `body/admission/ratePerSecond is required with mode ${a.mode}`, undefined, 'body.admission.ratePerSecond');
  return { mode: a.mode, ratePerSecond: a.ratePerSecond ?? null, tokenTtlSeconds: a.tokenTtlSeconds ?? (isQueued(a.mode) ? 120 : null), maxQueue: a.maxQueue ?? null };
}

export async function adminRoutes(app: FastifyInstance, opts: { adminToken?: string }): Promise<void> {
  app.post<{ Body: InitBody }>(
    '/init',
    {
      schema: { body: initBodySchema, response: { 200: initResponseSchema, ...errorResponses } },
      // Before body validation: an unauthenticated caller learns nothing about the schema.
      onRequest: async (request, reply) => {
        try {
          checkAdmin(opts.adminToken, request);
        } catch (err) {
          if (err instanceof ApiError && err.code === 'unauthorized') reply.header('www-authenticate', 'Bearer');
          throw err;
        }
      },
    },
    async (request) => {
      const b = request.body;
      const startsAt = b.startsAt ? new Date(b.startsAt) : null;
      const endsAt = b.endsAt ? new Date(b.endsAt) : null;
      if (startsAt && endsAt && endsAt <= startsAt)
        throw new ApiError('invalid_request', 'body/endsAt must be after body/startsAt', undefined, 'body.endsAt');
      const admission = admissionOf(b.admission);
      let product: Product;
      let userUnits: Map<string, number>;
      let keyHolders: Awaited<ReturnType<typeof confirmedKeyHolders>>;
      try {
        userUnits = await confirmedUnitsByUser(app.pg, b.productId);
        keyHolders = await confirmedKeyHolders(app.pg, b.productId);
        product = await upsertProduct(app.pg, {
          id: b.productId,
          stock: b.quantity,
          perUserLimit: b.perUserLimit ?? null,
          rateLimitPerSecond: b.rateLimitPerSecond ?? null,
          startsAt,
          endsAt,
        });
      } catch (err) {
        throw unavailable('PostgreSQL', err);
      }
      let epoch: number;
      try {
        epoch = await seedSale(app.redis, { ...product, productId: product.id, userUnits, keyHolders, admission });
      } catch (err) {
        app.apiMetrics.redisErrors.inc();
        throw unavailable('Redis', err, 'product stored, not seeded; retry /init');
      }
      app.orderService.forgetSale(product.id);
      app.productLookup.forget(product.id);
      request.log.info({ productId: product.id, stock: product.stock, epoch }, 'sale initialized');
      return {
        status: 'initialized',
        productId: product.id,
        stock: product.stock,
        epoch,
        perUserLimit: product.perUserLimit,
        rateLimitPerSecond: product.rateLimitPerSecond,
        startsAt: product.startsAt?.toISOString() ?? null,
        endsAt: product.endsAt?.toISOString() ?? null,
      };
    },
  );
}
