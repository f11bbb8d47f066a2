// The fault proxy on loopback: bytes pass in order (also under latency), a dropped response cuts
// the connection without delivering it, and cutAll resets every client.
import { createServer, Socket, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProxy } from './proxy.js';
import { Rng } from './rng.js';
import { freePort } from './util.js';

let server: Server | undefined;
let proxy: TcpProxy | undefined;

afterEach(async () => {
  await proxy?.stop();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

/** An echo server behind a proxy; returns a connected client. */
async function echoBehindProxy(): Promise<Socket> {
  server = createServer((s) => s.on('data', (b) => s.write(b)).on('error', () => undefined));
  const target = await freePort();
  await new Promise<void>((r) => server!.listen(target, '127.0.0.1', () => r()));
  proxy = new TcpProxy({ name: 'echo', listenPort: await freePort(), targetPort: target, rng: new Rng(7) });
  await proxy.start();
  const c = new Socket();
  await new Promise<void>((r) => c.connect(proxy!.port, '127.0.0.1', () => r()));
  return c;
}

function collect(c: Socket, bytes: number): Promise<string> {
  let got = '';
  return new Promise((resolve, reject) => {
    c.on('data', (b) => {
      got += b.toString();
      if (got.length >= bytes) resolve(got);
    });
    c.on('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
  });
}

describe('TcpProxy', () => {
  it('forwards in order, also with latency', async () => {
    const c = await echoBehindProxy();
    proxy!.fault = { latencyMs: 30, dropResponse: 0 };
    const got = collect(c, 9);
    for (const part of ['abc', 'def', 'ghi']) c.write(part);
    expect(await got).toBe('abcdefghi');
    c.destroy();
  });

  it('a dropped response never arrives: the connection is cut', async () => {
    const c = await echoBehindProxy();
    proxy!.fault = { latencyMs: 0, dropResponse: 1 };
    const got = collect(c, 1);
    c.write('x');
    await expect(got).rejects.toThrow('closed after ""');
  });

  it('cutAll resets open connections', async () => {
    const c = await echoBehindProxy();
    const closed = new Promise<void>((r) => c.on('close', () => r()));
    c.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 20));
    proxy!.cutAll();
    await closed;
    expect(proxy!.accepted).toBe(1);
  });
});
