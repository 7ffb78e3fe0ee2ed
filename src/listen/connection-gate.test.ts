import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import {
  ConnectionGate,
  DEFAULT_CONNECTION_LIMITS,
  type Admission,
  type ConnectionLimits,
} from './connection-gate.js';
import { sourceKeyOf } from './source-address.js';

/** Log lines (parsed) written by a logger. */
function captureLog(): {
  readonly lines: Record<string, unknown>[];
  readonly log: ReturnType<typeof createLogger>;
} {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger({ level: 'info', destination }) };
}

interface Door {
  readonly gate: ConnectionGate;
  readonly lines: Record<string, unknown>[];
  readonly admitted: Admission[];
  /** The server side of each admitted connection. */
  readonly sockets: Socket[];
  /** Connects from `localAddress` (any 127/8 address works on Linux). */
  dial(localAddress?: string): Promise<Socket>;
}

const servers: Server[] = [];
const clients: Socket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function openDoor(limits: Partial<ConnectionLimits>, refusal?: Buffer): Promise<Door> {
  const { lines, log } = captureLog();
  const gate = new ConnectionGate({
    limits: { ...DEFAULT_CONNECTION_LIMITS, ...limits },
    log,
    eventLog: { linesPerWindow: 3, windowMs: 200 },
  });
  const admitted: Admission[] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    const admission = gate.admit(socket, {
      listener: 'test',
      ...(refusal === undefined ? {} : { refusal: () => refusal }),
    });
    if (admission === undefined) return;
    admitted.push(admission);
    sockets.push(socket);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    gate,
    lines,
    admitted,
    sockets,
    dial: async (localAddress = '127.0.0.1') => {
      const socket = connect({ host: '127.0.0.1', port, localAddress });
      clients.push(socket);
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      return socket;
    },
  };
}

/** Resolves with everything `socket` received once the server closes it. */
async function receivedUntilClosed(socket: Socket): Promise<string> {
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString()));
  if (!socket.destroyed && !socket.readableEnded) await once(socket, 'close');
  return text;
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('ConnectionGate', () => {
  it('refuses a source beyond its unauthenticated limit with the refusal bytes, others still get in', async () => {
    const door = await openDoor({ maxUnauthenticatedPerSource: 2 }, Buffer.from('go away\r\n'));
    await door.dial('127.0.0.2');
    await door.dial('127.0.0.2');
    await until(() => door.gate.counts.unauthenticated === 2);
    const third = await door.dial('127.0.0.2');
    expect(await receivedUntilClosed(third)).toBe('go away\r\n');
    await door.dial('127.0.0.3');
    await until(() => door.gate.counts.unauthenticated === 3);
    expect(
      door.lines.some(
        (l) =>
          l['event'] === 'too-many-unauthenticated-from-source' && l['clientAddr'] === '127.0.0.2',
      ),
    ).toBe(true);
  });

  it('an established connection frees its unauthenticated slot but still counts against the open limits', async () => {
    const door = await openDoor({ maxUnauthenticatedPerSource: 1, maxConnectionsPerSource: 2 });
    await door.dial('127.0.0.4');
    await until(() => door.admitted.length === 1);
    door.admitted[0]?.established();
    expect(door.gate.counts).toMatchObject({ open: 1, unauthenticated: 0 });
    await door.dial('127.0.0.4');
    await until(() => door.admitted.length === 2);
    const third = await door.dial('127.0.0.4');
    expect(await receivedUntilClosed(third)).toBe('');
    expect(door.lines.some((l) => l['event'] === 'too-many-from-source')).toBe(true);
  });

  it('refuses beyond the total limits whatever the source', async () => {
    const door = await openDoor({ maxUnauthenticated: 2 });
    await door.dial('127.0.0.5');
    await door.dial('127.0.0.6');
    await until(() => door.gate.counts.unauthenticated === 2);
    const refused = await door.dial('127.0.0.7');
    await receivedUntilClosed(refused);
    expect(door.lines.some((l) => l['event'] === 'too-many-unauthenticated')).toBe(true);
  });

  it('closes a connection whose login outlives the deadline after telling it, and forgets it', async () => {
    const door = await openDoor({ loginTimeoutMs: 200 });
    const client = await door.dial();
    await until(() => door.admitted.length === 1);
    const serverSide = door.sockets[0];
    door.admitted[0]?.onExpired(() => serverSide?.end('too slow\n'));
    expect(await receivedUntilClosed(client)).toBe('too slow\n');
    await until(() => door.gate.counts.open === 0 && door.gate.counts.sources === 0);
    expect(door.lines.some((l) => l['event'] === 'login-timeout')).toBe(true);
  });

  it('cuts an expired connection whose client neither reads nor leaves', async () => {
    const door = await openDoor({ loginTimeoutMs: 100 });
    const client = await door.dial();
    client.pause();
    await until(() => door.admitted.length === 1);
    door.admitted[0]?.onExpired(() => undefined); // says nothing and closes nothing: the gate must
    await until(() => door.gate.counts.open === 0);
    expect(door.sockets[0]?.destroyed).toBe(true);
  });

  it('keeps an established connection past the deadline', async () => {
    const door = await openDoor({ loginTimeoutMs: 100 });
    const client = await door.dial();
    await until(() => door.admitted.length === 1);
    door.admitted[0]?.established();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(client.destroyed).toBe(false);
    expect(door.gate.counts).toMatchObject({ open: 1, unauthenticated: 0 });
  });

  it('does-not-count-the-time-gatehouse-spends-checking-a-proof-against-the-deadline', async () => {
    const door = await openDoor({ loginTimeoutMs: 300 });
    await door.dial();
    await until(() => door.admitted.length === 1);
    const admission = door.admitted[0];
    if (admission === undefined) throw new Error('not admitted');
    // A check of 600 ms, twice the deadline: the connection outlives it.
    const checked = await admission.whileChecking(
      () => new Promise<string>((resolve) => setTimeout(() => resolve('ok'), 600)),
    );
    expect(checked).toBe('ok');
    expect(door.sockets[0]?.destroyed).toBe(false);
    expect(door.gate.counts).toMatchObject({ open: 1, unauthenticated: 1 });
    // The client's own time still runs out: the rest of the 300 ms after the check.
    await until(() => door.gate.counts.open === 0);
    expect(door.lines.some((l) => l['event'] === 'login-timeout')).toBe(true);
  });

  it('logs a flood at a bounded rate and sums up the rest', async () => {
    const door = await openDoor({ maxUnauthenticatedPerSource: 1 });
    await door.dial('127.0.0.8');
    await until(() => door.gate.counts.unauthenticated === 1);
    const refused = await Promise.all(Array.from({ length: 40 }, () => door.dial('127.0.0.8')));
    await Promise.all(refused.map(receivedUntilClosed));
    const single = (): Record<string, unknown>[] =>
      door.lines.filter((l) => l['msg'] === 'connection refused');
    const summaries = (): Record<string, unknown>[] =>
      door.lines.filter((l) => l['msg'] === 'connection events not logged one by one');
    // Every refusal is accounted for: a line of its own, or counted in a summary.
    await until(
      () => single().length + summaries().reduce((n, l) => n + Number(l['suppressed']), 0) === 40,
    );
    expect(single().length).toBeLessThan(40);
    expect(summaries()[0]?.['topSources']).toEqual([
      { clientAddr: '127.0.0.8', count: expect.any(Number) as number },
    ]);
  });
});

describe('sourceKeyOf', () => {
  it('counts IPv4 (also mapped) by address and IPv6 by /64', () => {
    expect(sourceKeyOf('10.1.2.3')).toBe('10.1.2.3');
    expect(sourceKeyOf('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(sourceKeyOf('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(sourceKeyOf('2001:0db8:0000:0001:ffff:1:2:3')).toBe('2001:db8:0:1::/64');
    expect(sourceKeyOf('::1')).toBe('0:0:0:0::/64');
    expect(sourceKeyOf(undefined)).toBe('unknown');
  });
});
