// GET /waiting-room: the static page browsers are sent to when the admission rate is exceeded.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

export async function waitingRoomRoutes(app: FastifyInstance): Promise<void> {
  const page = readFileSync(new URL('../static/waiting-room.html', import.meta.url));
  app.get('/waiting-room', async (_request, reply) =>
    reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'public, max-age=300').send(page),
  );
}
