// The ceiling for the sold-out path: Fastify with one route and nothing else (no logger, no
// schema, no Redis). It still parses the JSON body the load generator sends, as our API does.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.post('/order', async () => ({ hello: 'world' }));

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
console.log(JSON.stringify({ msg: 'ready', component: 'bare-fastify', port: Number(new URL(address).port) }));
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
