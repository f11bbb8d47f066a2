// The fault proxy on loopback: bytes pass in order (also under latency), a dropped response cuts
// the connection without delivering it, and cutAll resets every client.
import { createServer, Socket, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DelayedPipe, TcpProxy, type LinkFault } from './proxy.js';
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

  // Chunks pushed while a latency fault ends (a few every millisecond, the event loop busy now and
  // then, as on a loaded machine) must come out in the order they went in. The pipe with one
  // timer per chunk inverted 1-2 of about 2,100 chunks in each run of this shape.
  it('DelayedPipe keeps the order across the end of a latency fault', async () => {
    const out: number[] = [];
    let fault: LinkFault = { latencyMs: 60, dropResponse: 0 };
    const pipe = new DelayedPipe({ destroyed: false, write: (c: Buffer) => out.push(c.readUInt32BE(0)) > 0 } as never, () => fault);
    let n = 0;
    const busy = (ms: number) => { const t = Date.now(); while (Date.now() - t < ms); };
    const feed = setInterval(() => {
      for (let i = 0; i < 5; i++) {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(n++);
        pipe.push(b);
        if (Math.random() < 0.3) busy(1);
      }
    }, 1);
    await new Promise((r) => setTimeout(r, 150));
    fault = { latencyMs: 0, dropResponse: 0 };
    await new Promise((r) => setTimeout(r, 150));
    clearInterval(feed);
    await new Promise((r) => setTimeout(r, 120));
    expect(out.length).toBe(n);
    expect(out.filter((v, i) => i > 0 && v < out[i - 1]!).length, 'chunks delivered before an earlier one').toBe(0);
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
