// The ceiling for the sold-out path and the waiting room's poll: Fastify with one route each and
// nothing else (no logger, no schema, no Redis). It still parses the JSON body the load generator
// sends, as our API does; the poll answers what a waiting ticket gets, without looking at it.
import Fastify from 'fastify';

// maxParamLength as our API's (a signed ticket is about 150 characters; Fastify's default 100 would 404).
const app = Fastify({ logger: false, maxParamLength: 1024 });
app.post('/order', async () => ({ hello: 'world' }));
app.get('/queue/:ticket', async () => ({ state: 'waiting', productId: 'p', position: 1, estimatedWaitSeconds: 1, pollAfterMs: 1000 }));

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
console.log(JSON.stringify({ msg: 'ready', component: 'bare-fastify', port: Number(new URL(address).port) }));
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
