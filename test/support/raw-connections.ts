import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** A raw TCP client of a listener, collecting what it receives. */
export interface RawConnection {
  readonly socket: Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once the server has closed the connection (rejects after `timeoutMs`). */
  closed(timeoutMs?: number): Promise<void>;
  readonly isClosed: boolean;
  write(bytes: Buffer | string): void;
}

/** Connects to `127.0.0.1:port`, from `localAddress` (any 127/8 address on Linux). */
export async function dialRaw(
  port: number,
  options: { localAddress?: string } = {},
): Promise<RawConnection> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });
  const chunks: Buffer[] = [];
  let isClosed = false;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closed.then(() => (isClosed = true));
  await Promise.race([
    once(socket, 'connect'),
    closed.then(() => Promise.reject(new Error(`connection to port ${port} failed`))),
  ]);
  return {
    socket,
    received: () => Buffer.concat(chunks),
    get isClosed() {
      return isClosed;
    },
    write: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    closed: (timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the server did not close the connection within ${timeoutMs} ms`)),
          timeoutMs,
        );
        void closed.then(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/** Resolves once `connection` has received at least `bytes` bytes (rejects after `timeoutMs`). */
export async function receivedAtLeast(
  connection: RawConnection,
  bytes: number,
  timeoutMs = 20_000,
): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  while (connection.received().length < bytes) {
    if (Date.now() > deadline)
      throw new Error(`received ${connection.received().length} of ${bytes} bytes`);
    if (connection.isClosed) return connection.received();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return connection.received();
}

/** Writes `bytes` one byte every `intervalMs` until they are spent or the server closes (slowloris). */
export function dribble(connection: RawConnection, bytes: Buffer, intervalMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (connection.isClosed || i >= bytes.length) return clearInterval(timer);
    connection.write(bytes.subarray(i, i + 1));
    i += 1;
  }, intervalMs);
  timer.unref();
}

/** The ClientHello a Node TLS client sends first (captured from a real handshake attempt). */
export async function captureTlsClientHello(): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const first = new Promise<Buffer>((resolve) =>
    server.once('connection', (s: Socket) =>
      s.once('data', (d: Buffer) => (s.destroy(), resolve(d))),
    ),
  );
  const client = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  client.on('error', () => undefined);
  const hello = await first;
  client.destroy();
  server.close();
  return hello;
}

/** Resident memory (kB) and open file descriptors of a process, from /proc. */
export function processFootprint(pid: number): { readonly rssKb: number; readonly fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return { rssKb: Number(rss?.[1] ?? 0), fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Options of {@link startFlood}. */
export interface FloodOptions {
  /** Listener ports the connections are spread over. */
  readonly ports: readonly number[];
  /** Connections to keep open at once. */
  readonly connections: number;
  /** Source addresses to spread them over (e.g. 127.0.1.1 …). */
  readonly sources: readonly string[];
  /** What each connection sends once connected (nothing by default). */
  readonly send?: (port: number) => Buffer | undefined;
  /** Connects in flight at once (the listen backlog is finite). */
  readonly concurrency?: number;
}

/** A running flood of connections that never log in. */
export interface Flood {
  /** Connections opened so far, closed by the server so far, and failed connects. */
  readonly stats: { opened: number; closedByServer: number; failed: number; open: number };
  /** Resolves once `connections` are open at the same time for the first time. */
  readonly full: Promise<void>;
  /**
   * Stops reopening; resolves once every connection the flood opened is closed by the server,
   * or after `timeoutMs` with the number still open (connects the kernel completed while the
   * listener's accept queue was full may never have reached the server).
   */
  stop(timeoutMs?: number): Promise<number>;
}

/**
 * Keeps `connections` connections open against the listeners, reopening each one the server
 * closes (a login deadline), until stopped: a sustained pool of clients that never log in.
 */
export function startFlood(options: FloodOptions): Flood {
  const stats = { opened: 0, closedByServer: 0, failed: 0, open: 0 };
  const live = new Set<Socket>();
  let isStopped = false;
  let next = 0;
  let inFlight = 0;
  let signalFull: () => void = () => undefined;
  const full = new Promise<void>((resolve) => (signalFull = resolve));
  const concurrency = options.concurrency ?? 200;
  const pump = (): void => {
    while (!isStopped && inFlight < concurrency && live.size + inFlight < options.connections) {
      const n = next++;
      const port = options.ports[n % options.ports.length] ?? 0;
      const localAddress =
        options.sources[Math.floor(n / options.ports.length) % options.sources.length] ??
        '127.0.0.1';
      inFlight += 1;
      const socket = connect({ host: '127.0.0.1', port, localAddress });
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      let isConnected = false;
      socket.once('connect', () => {
        isConnected = true;
        inFlight -= 1;
        stats.opened += 1;
        live.add(socket);
        stats.open = live.size;
        if (live.size >= options.connections) signalFull();
        const bytes = options.send?.(port);
        if (bytes !== undefined) socket.write(bytes);
        pump();
      });
      socket.once('close', () => {
        if (!isConnected) {
          inFlight -= 1;
          stats.failed += 1;
        } else {
          live.delete(socket);
          stats.open = live.size;
          stats.closedByServer += 1;
        }
        setImmediate(pump);
      });
    }
  };
  pump();
  return {
    stats,
    full,
    stop: async (timeoutMs = 60_000) => {
      isStopped = true;
      const deadline = Date.now() + timeoutMs;
      while ((live.size > 0 || inFlight > 0) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      const left = live.size;
      for (const socket of live) socket.destroy();
      return left;
    },
  };
}
