// GET /inventory/:productId: remaining stock (Redis) and the sale's state.
import type { FastifyInstance } from 'fastify';
import { readSaleState, type SaleState } from '../../core/redis/sale.js';
import { ApiError, unavailable } from '../answers.js';
import { errorResponses, inventorySchema, productIdParamsSchema } from '../schemas.js';

export function saleStateLabel(s: SaleState, nowMs: number): string {
  if (s.state !== 'open') return s.state ?? 'recovering';
  if (s.startsAt && nowMs < s.startsAt.getTime()) return 'not_started';
  if (s.endsAt && nowMs >= s.endsAt.getTime()) return 'ended';
  if ((s.stock ?? 0) <= 0) return 'sold_out';
  return 'open';
}

export async function inventoryRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { productId: string } }>(
    '/inventory/:productId',
    { schema: { params: productIdParamsSchema, response: { 200: inventorySchema, ...errorResponses } } },
    async (request) => {
      const { productId } = request.params;
      let s: SaleState;
      try {
        s = await readSaleState(app.redis, productId);
      } catch (err) {
        app.apiMetrics.redisErrors.inc();
        throw unavailable('Redis', err);
      }
      if (!s.seeded || s.state === null) {
        let known: boolean;
        try {
          known = await app.productLookup.isKnown(productId);
        } catch (err) {
          throw unavailable('PostgreSQL', err);
        }
        throw known ? new ApiError('recovering', 'the sale is not loaded in Redis (recovering); retry shortly') : new ApiError('unknown_sale');
      }
      return {
        productId,
        remaining: s.stock ?? 0,
        state: saleStateLabel(s, Date.now()),
        initialStock: s.initialStock,
        perUserLimit: s.perUserLimit,
        rateLimitPerSecond: s.rateLimitPerSecond,
        startsAt: s.startsAt?.toISOString() ?? null,
        endsAt: s.endsAt?.toISOString() ?? null,
        epoch: s.epoch,
      };
    },
  );
}
