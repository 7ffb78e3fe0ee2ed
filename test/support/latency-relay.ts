import { connect, createServer, type Socket } from 'node:net';

/** A TCP relay that adds latency in front of a server. */
export interface LatencyRelay extends AsyncDisposable {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Chunks delayed so far, both ways (proof that traffic went through the relay). */
  delayedChunks(): number;
}

/**
 * Listens on a free loopback port and relays each connection to `target`, holding every chunk
 * `delayMs` before passing it on, in both directions and in order: a round trip through it
 * takes at least `2 × delayMs` more than without it, like a target on another continent.
 */
export async function startLatencyRelay(
  target: { readonly host: string; readonly port: number },
  options: { readonly delayMs: number },
): Promise<LatencyRelay> {
  const sockets = new Set<Socket>();
  let delayed = 0;
  // Timers of one duration fire in the order they were set, so chunks keep their order.
  const pass = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      delayed += 1;
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, options.delayMs);
    });
    from.on('end', () => setTimeout(() => to.end(), options.delayMs));
  };
  const server = createServer((client) => {
    const upstream = connect({ host: target.host, port: target.port });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => sockets.delete(socket));
    }
    pass(client, upstream);
    pass(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no port');
  return {
    host: '127.0.0.1',
    port: address.port,
    delayedChunks: () => delayed,
    [Symbol.asyncDispose]: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
