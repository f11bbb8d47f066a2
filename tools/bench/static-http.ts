// The load generator's own ceiling: node:http answering a constant without reading anything.
// If wrk drives this faster than any server in the bench, wrk is not what limits the bench.
import { createServer } from 'node:http';

const body = Buffer.from('{"hello":"world"}');
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(JSON.stringify({ msg: 'ready', component: 'static-http', port }));
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
