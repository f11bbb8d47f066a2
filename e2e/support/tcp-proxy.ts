// A TCP proxy for fault injection in tests: forwards bytes both ways, and on demand cuts a
// connection right after a chosen request went through to the server, before its answer comes
// back (the client then cannot know whether the server executed it); it can also hold new
// connections (accepted, not yet forwarded: the client waits for an answer) while the open ones flow.
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /**
   * The next client chunk matching `match` is forwarded; when the server answers on that
   * connection, the answer is dropped and both sides are cut. Resolves once that happened.
   */
  cutAfterRequest(match: (chunk: Buffer) => boolean): Promise<void>;
  /** Connections accepted from now on reach the server only once `release()` is called; open ones keep flowing. */
  holdNewConnections(): { release(): void };
  /** Resolves when the server sends a chunk matching `match` on any connection (e.g. a pub/sub message). */
  serverSent(match: (chunk: Buffer) => boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * `listenHost`: another loopback address (127.0.0.2) reaches the target under a name its certificate does not carry.
 * `listenPort`: a port chosen earlier (e.g. one a process was told to dial while nothing listened on it); 0 = any free port.
 */
export async function startTcpProxy(target: { host: string; port: number }, listenHost = '127.0.0.1', listenPort = 0): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let armed: { match: (chunk: Buffer) => boolean; done: () => void } | undefined;
  let held: Promise<void> | undefined;
  const watchers = new Set<{ match: (chunk: Buffer) => boolean; done: () => void }>();

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => client.destroy());
    // Held: nothing is read from the client (it waits for an answer) until released.
    if (held) void held.then(() => (client.destroyed ? undefined : forward(client)));
    else forward(client);
  });
  const forward = (client: net.Socket) => {
    const upstream = net.connect(target);
    sockets.add(client).add(upstream);
    let cutOnAnswer: (() => void) | undefined;
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk) => {
      if (armed?.match(chunk)) {
        cutOnAnswer = armed.done;
        armed = undefined;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      for (const w of watchers) if (w.match(chunk)) (watchers.delete(w), w.done());
      if (!cutOnAnswer) return void client.write(chunk);
      cut(); // the request ran on the server; its answer never reaches the client
      cutOnAnswer();
    });
    for (const s of [client, upstream]) {
      s.on('error', cut);
      s.on('close', () => {
        sockets.delete(s);
        cut();
      });
    }
  };
  await new Promise<void>((resolve) => server.listen(listenPort, listenHost, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cutAfterRequest(match) {
      return new Promise<void>((resolve) => (armed = { match, done: resolve }));
    },
    holdNewConnections() {
      let release!: () => void;
      held = new Promise<void>((r) => (release = r));
      return {
        release: () => {
          held = undefined;
          release();
        },
      };
    },
    serverSent(match) {
      return new Promise<void>((resolve) => watchers.add({ match, done: resolve }));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
