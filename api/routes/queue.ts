// POST /queue (join the waiting room of a queued sale) and GET /queue/:ticket (poll it).
// Invariant: one place per user per sale (Redis hands it out once); a waiting poll reads one Redis
// key (the sale's meta hash), through a per-sale snapshot shared by this pod's polls for at most
// VIEW_MAX_AGE_MS, and trusts the join number only because the ticket is signed; admission is
// decided by Redis (admit()).
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { FluxRedis } from '../../core/redis/client.js';
import { admit, joinQueue, placeOf, pollQueue, secondsUntil, served, sweepExpiredTokens, type QueueView } from '../../core/redis/queue.js';
import type { Signer, Ticket } from '../admission.js';
import { ApiError, reject, unavailable } from '../answers.js';
import type { QueueMetrics } from '../metrics.js';
import { QueueViews } from '../queue-views.js';
import { errorResponses, joinResponseSchema, pollResponseSchema, queueBodySchema, ticketParamsSchema } from '../schemas.js';

/** Poll again after half the estimated wait, between these bounds (ms). */
const POLL_MIN_MS = 1000;
const POLL_MAX_MS = 10_000;
/**
 * How old the shared per-sale snapshot of the meta hash a poll answers from may be (ms): far below
 * POLL_MIN_MS, so a buyer sees a change (sold out, a new rate, expired tokens' places) at most this
 * much later, while a pod reads the hash a few times a second per sale instead of once per poll.
 */
const VIEW_MAX_AGE_MS = 200;
/** Every API pod marks expired tokens of the queued sales it served, this often (idempotent). */
const SWEEP_EVERY_MS = 1000;

const JSON_UTF8 = 'application/json; charset=utf-8';

/**
 * The waiting answer as JSON text, byte for byte what pollResponseSchema's serializer writes (the
 * same fields in the schema's order): most polls get it, so it is concatenated, not serialized
 * from an object per poll. Numbers are finite (round1, pollAfter); productId is JSON-quoted.
 */
export function waitingJson(productId: string, position: number | null, estimatedWaitSeconds: number, pollAfterMs: number): string {
  return `{"state":"waiting","position":${position === null ? 'null' : position},"estimatedWaitSeconds":${estimatedWaitSeconds},"pollAfterMs":${pollAfterMs},"productId":${JSON.stringify(productId)}}`;
}

const pollAfter = (seconds: number) => Math.round(Math.min(POLL_MAX_MS, Math.max(POLL_MIN_MS, (seconds * 1000) / 2)));
const round1 = (s: number) => (Number.isFinite(s) ? Math.round(s * 10) / 10 : 86_400);

/** Where a place stands: how many are ahead (1 = next) and the estimate; null place = drawn at the start. */
export function standing(number: number, v: QueueView): { place: number | null; position: number | null; estimatedWaitSeconds: number } {
  const place = placeOf(number, v);
  if (place === null) {
    // Randomized start not reached: every early place is drawn then; the last one waits this long.
    const untilStart = Math.max(0, v.startsAtMs - v.nowMs) / 1000;
    return { place, position: null, estimatedWaitSeconds: round1(untilStart + (v.ratePerSecond > 0 ? v.joined / v.ratePerSecond : 0)) };
  }
  return { place, position: Math.max(0, place - served(v)), estimatedWaitSeconds: round1(secondsUntil(place, v)) };
}

export async function queueRoutes(app: FastifyInstance, opts: { signer: Signer | null }): Promise<void> {
  const { signer } = opts;
  const metrics = app.apiMetrics.queue;
  const sweeper = new Sweeper(app.redis, metrics, (err) => app.log.warn({ err: (err as Error).message }, 'queue sweep failed'));
  app.addHook('onClose', async () => sweeper.stop());
  const views = new QueueViews((productId) => pollQueue(app.redis, productId), VIEW_MAX_AGE_MS);

  const needSigner = (): Signer => {
    if (!signer) throw new ApiError('unavailable', 'the waiting room is not configured: ADMISSION_SIGNING_KEYS is not set');
    return signer;
  };
  const redisCall = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      app.apiMetrics.redisErrors.inc();
      throw unavailable('Redis', err);
    }
  };

  app.post<{ Body: { productId: string; userId: string } }>(
    '/queue',
    { schema: { body: queueBodySchema, response: { 200: joinResponseSchema, ...errorResponses } } },
    async (request, reply) => {
      const s = needSigner();
      const { productId, userId } = request.body;
      const r = await redisCall(() => joinQueue(app.redis, productId, userId));
      if (r.kind !== 'joined') {
        metrics.joins.labels(r.kind).inc();
        if (r.kind === 'not_seeded') return notSeeded(app, reply, productId);
        if (r.kind === 'not_queued') return reject(reply, 'queue_not_enabled');
        if (r.kind === 'queue_full') return reject(reply, 'queue_full', { message: `the waiting room of this sale is full (${r.waiting} waiting); retry later` });
        return reject(reply, r.kind);
      }
      metrics.joins.labels(r.existed ? 'rejoined' : 'joined').inc();
      sweeper.watch(productId);
      const ticket = s.ticket({ productId, userId, number: r.place.number, joinedAtSec: r.place.joinedAtSec });
      const st = standing(r.place.number, r.view);
      return {
        ticket,
        position: st.position,
        estimatedWaitSeconds: st.estimatedWaitSeconds,
        pollAfterMs: st.position === 0 ? 0 : pollAfter(st.estimatedWaitSeconds),
        ...(r.view.startsAtMs > r.view.nowMs ? { startsAt: new Date(r.view.startsAtMs).toISOString() } : {}),
      };
    },
  );

  // The hot route counts its own answers (no per-answer metrics hook, as POST /order): right after
  // each send, and in its error handler for what never reached the handler (params validation).
  const answered = app.httpMetrics.answeredBy('/queue/:ticket', 'GET');
  const handleError = app.errorHandler;
  const counted = (reply: FastifyReply): undefined => void answered(reply);

  // Not an async handler: a poll answered from a fresh snapshot (nearly all of them) is sent in the
  // same turn, without a promise; only a Redis read (an expired snapshot) or an admission waits.
  app.get<{ Params: { ticket: string } }>(
    '/queue/:ticket',
    {
      schema: { params: ticketParamsSchema, response: { 200: pollResponseSchema, ...errorResponses } },
      config: { countsOwnAnswers: true },
      errorHandler(err, request, reply) {
        handleError.call(this, err, request, reply);
        answered(reply);
      },
    },
    (request, reply): Promise<void> | undefined => {
      const s = needSigner();
      const t = s.readTicket(request.params.ticket);
      if (!t.ok) return counted(reject(reply, 'ticket_invalid', { message: `not a valid queue ticket: ${t.why}`, field: 'params.ticket' }));
      const ticket = t.value;
      const v = views.peek(ticket.productId, ticket.number);
      if (v) return poll(reply, ticket, v, s);
      return redisCall(() => views.get(ticket.productId, ticket.number)).then((read) => poll(reply, ticket, read, s));
    },
  );

  /**
   * Answers (and counts) a poll of this ticket from this view of its sale (null: not in Redis).
   * Never resolves to the reply itself: a reply is a thenable (it resolves when the answer is
   * written), so a promise resolving to it would count, or fail to, only after that.
   */
  function poll(reply: FastifyReply, ticket: Ticket, v: Readonly<QueueView> | null, s: Signer): Promise<void> | undefined {
    if (!v) return counted(reject(reply, 'recovering', { message: 'the sale is not in Redis right now; poll again shortly' }));
    sweeper.watch(ticket.productId);
    const productId = ticket.productId;
    if (v.soldOut) return counted(reply.send({ state: 'sold_out', productId }));
    if (v.endsAtMs > 0 && v.nowMs >= v.endsAtMs) return counted(reply.send({ state: 'ended', productId }));
    if (ticket.number > v.joined) return counted(reject(reply, 'queue_reset'));
    const st = standing(ticket.number, v);
    if (st.place === null || st.position! > 0) {
      const body = waitingJson(productId, st.position, st.estimatedWaitSeconds, pollAfter(st.estimatedWaitSeconds));
      return counted(reply.header('content-type', JSON_UTF8).send(body));
    }
    return admitted(reply, ticket, st.place, s).then((body) => counted(reply.sent ? reply : reply.send(body)));
  }

  /** The place is reached: hand out (or hand again) the admission token; touches Redis once more. */
  async function admitted(reply: FastifyReply, ticket: Ticket, place: number, s: Signer) {
    const { productId, userId } = ticket;
    const a = await redisCall(() => admit(app.redis, productId, userId, { number: ticket.number, joinedAtSec: ticket.joinedAtSec }, place));
    switch (a.kind) {
      case 'admitted':
      case 'used':
        if (a.fresh) {
          metrics.admissions.inc();
          metrics.waitSeconds.observe(Math.max(0, Date.now() / 1000 - ticket.joinedAtSec));
        }
        return {
          state: 'admitted',
          productId,
          token: s.token({ productId, userId, expiresAtMs: a.expiresAtMs }),
          tokenExpiresAt: new Date(a.expiresAtMs).toISOString(),
          ...(a.kind === 'used' ? { tokenUsed: true } : {}),
        };
      case 'waiting':
        return { state: 'waiting', productId, position: 1, estimatedWaitSeconds: 0, pollAfterMs: POLL_MIN_MS };
      case 'unknown':
        return reject(reply, 'queue_reset');
      default:
        return { state: a.kind, productId };
    }
  }
}

async function notSeeded(app: FastifyInstance, reply: FastifyReply, productId: string) {
  let known: boolean;
  try {
    known = await app.productLookup.isKnown(productId);
  } catch (err) {
    throw unavailable('PostgreSQL', err);
  }
  return reject(reply, known ? 'recovering' : 'unknown_sale');
}

/**
 * Marks expired unused tokens of the queued sales this pod has served, every SWEEP_EVERY_MS. Every
 * pod does it (queue-sweep.lua counts each token once), so no single loop is needed for the
 * places of expired tokens to go to the next in line.
 */
class Sweeper {
  private readonly sales = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly redis: FluxRedis,
    private readonly metrics: QueueMetrics,
    private readonly onError: (err: unknown) => void,
  ) {}

  watch(productId: string): void {
    if (this.sales.size >= 10_000) this.sales.clear(); // sales are few; bound it anyway
    this.sales.add(productId);
    this.timer ??= setInterval(() => void this.sweep(), SWEEP_EVERY_MS).unref();
  }

  private async sweep(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const productId of this.sales) this.metrics.tokenExpiries.inc(await sweepExpiredTokens(this.redis, productId));
    } catch (err) {
      this.onError(err);
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
