import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PacketChannel } from './packet-channel.js';
import {
  Command,
  ServerStatus,
  decodeErr,
  encodeErr,
  encodeOk,
  encodePacket,
  encodeQuery,
  encodeSimpleCommand,
  type Packet,
} from './protocol/index.js';
import {
  columnCount,
  columnDefinition,
  packets,
  textRow,
} from './protocol/testing/byte-builder.js';
import { MysqlRelay } from './relay.js';
import type { CommandAction, CommandHead, CommandOutcome, RelayHandler } from './relay-handler.js';
import { FakeSocket } from './testing/fake-socket.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function listen(onSocket: (s: Socket) => void): Promise<number> {
  const server = createServer(onSocket);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A scripted target: COM_QUERY → one row (or a LOCAL INFILE request for 'infile'), COM_PING → OK. */
async function fakeTarget(): Promise<number> {
  return listen((socket) => {
    socket.on('error', () => undefined);
    const channel = new PacketChannel(socket, { maxPacketBytes: 1 << 20 });
    const loop = async (): Promise<void> => {
      for (;;) {
        const cmd = await channel.read(30_000);
        const code = cmd.payload.readUInt8(0);
        if (code === Command.PING && cmd.payload.length === 1)
          socket.write(encodePacket(encodeOk(), 1));
        else if (code === Command.PING) {
          // A PING with a trailing byte: answered, then the target goes away while the client is idle.
          socket.write(encodePacket(encodeOk(), 1));
          setTimeout(() => socket.destroy(), 50);
        } else if (code === Command.QUERY && cmd.payload.subarray(1).toString() === 'die')
          socket.destroy();
        else if (code === Command.QUERY && cmd.payload.subarray(1).toString() === 'infile')
          socket.write(encodePacket(Buffer.from('\xfb/etc/passwd', 'latin1'), 1));
        else if (code === Command.QUERY) {
          const sql = cmd.payload.subarray(1).toString();
          socket.write(
            packets(1, [
              columnCount(1),
              columnDefinition('a'),
              textRow([sql]),
              encodeOk({ statusFlags: ServerStatus.AUTOCOMMIT }, { header: 0xfe }),
            ]),
          );
        } else
          socket.write(
            encodePacket(
              encodeErr({ code: 1047, sqlState: '08S01', message: 'Unknown command' }),
              1,
            ),
          );
      }
    };
    void loop().catch(() => socket.destroy());
  });
}

const LOST = { code: 1105, sqlState: '08S01', message: 'the connection to target "shop" was lost' };

class TestHandler implements RelayHandler<string> {
  readonly done: { context: string; outcome: CommandOutcome }[] = [];
  onCommand(command: CommandHead): CommandAction<string> {
    if (command.code === Command.CHANGE_USER)
      return {
        kind: 'refuse',
        context: 'change-user',
        err: { code: 1235, sqlState: '42000', message: 'no' },
      };
    return {
      kind: 'forward',
      context: command.head.subarray(1).toString() || String(command.code),
    };
  }
  onDone(context: string, outcome: CommandOutcome): void {
    this.done.push({ context, outcome });
  }
}

/** A gateway relaying each client to the fake target; returns the client's channel. */
async function relayed(
  handler: TestHandler,
): Promise<{ client: PacketChannel; relay: Promise<MysqlRelay<string>> }> {
  const targetPort = await fakeTarget();
  let resolveRelay: (r: MysqlRelay<string>) => void = () => undefined;
  const relay = new Promise<MysqlRelay<string>>((resolve) => (resolveRelay = resolve));
  const port = await listen((socket) => {
    const upstream = connect(targetPort, '127.0.0.1');
    upstream.once('connect', () => {
      const r = new MysqlRelay({
        client: socket,
        upstream,
        isDeprecateEof: true,
        commandHeadBytes: 1024,
        handler,
        targetLostErr: LOST,
      });
      r.start();
      resolveRelay(r);
    });
  });
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return { client: new PacketChannel(socket, { maxPacketBytes: 1 << 20 }), relay };
}

async function readN(channel: PacketChannel, n: number): Promise<Packet[]> {
  const out: Packet[] = [];
  for (let i = 0; i < n; i += 1) out.push(await channel.read(5000));
  return out;
}

describe('mysql relay', () => {
  it('a-refused-command-is-answered-in-order-among-pipelined-ones', async () => {
    const handler = new TestHandler();
    const { client } = await relayed(handler);
    // Three commands in one write: forwarded, refused, forwarded.
    client.socket.write(
      Buffer.concat([
        encodePacket(encodeQuery('first'), 0),
        encodePacket(encodeSimpleCommand(Command.CHANGE_USER), 0),
        encodePacket(encodeSimpleCommand(Command.PING), 0),
      ]),
    );
    const got = await readN(client, 6);
    expect(got[2]?.payload).toEqual(textRow(['first']));
    expect(got[4]).toMatchObject({ seq: 1 });
    expect(decodeErr(got[4]?.payload ?? Buffer.alloc(0)).code).toBe(1235);
    expect(got[5]?.payload.readUInt8(0)).toBe(0);
    expect(handler.done.map((d) => d.context)).toEqual(['first', 'change-user', '14']);
    expect(handler.done[0]?.outcome.summary?.rows).toBe(1);
    expect(handler.done[1]?.outcome.refused?.code).toBe(1235);
  });

  it('a-command-split-across-writes-is-held-until-its-head-is-known-then-forwarded', async () => {
    const handler = new TestHandler();
    const { client } = await relayed(handler);
    const bytes = encodePacket(encodeQuery('slow one'), 0);
    client.socket.write(bytes.subarray(0, 6));
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.socket.write(bytes.subarray(6));
    const got = await readN(client, 4);
    expect(got[2]?.payload).toEqual(textRow(['slow one']));
  });

  it('a-local-infile-request-is-never-shown-to-the-client-and-ends-the-session', async () => {
    const handler = new TestHandler();
    const { client, relay } = await relayed(handler);
    client.write(encodeQuery('infile'), 0);
    const [err] = await readN(client, 1);
    expect(decodeErr(err?.payload ?? Buffer.alloc(0))).toMatchObject({ code: 1148 });
    expect(await (await relay).closed).toBe('target-requested-local-file');
  });

  it('a-target-lost-during-a-command-answers-that-command-with-an-err-naming-the-target', async () => {
    const { client, relay } = await relayed(new TestHandler());
    client.write(encodeQuery('die'), 0);
    const [err] = await readN(client, 1);
    expect(err?.seq).toBe(1);
    expect(decodeErr(err?.payload ?? Buffer.alloc(0))).toMatchObject(LOST);
    expect(await (await relay).closed).toMatch(/^target-/);
  });

  it('a-target-lost-between-commands-leaves-an-err-the-client-reads-as-its-next-response', async () => {
    const { client, relay } = await relayed(new TestHandler());
    client.write(Buffer.from([Command.PING, 1]), 0);
    const [ok] = await readN(client, 1);
    expect(ok?.payload.readUInt8(0)).toBe(0);
    // The target went away while the client was idle: the ERR waits for the client, numbered
    // as the response to a next command (sequence 1).
    expect(await (await relay).closed).toMatch(/^target-/);
    const [err] = await readN(client, 1);
    expect(err?.seq).toBe(1);
    expect(decodeErr(err?.payload ?? Buffer.alloc(0))).toMatchObject(LOST);
  });
});

describe('mysql relay, chunking', () => {
  it('forwarded-bytes-heads-and-outcomes-do-not-depend-on-how-the-bytes-were-chunked', () => {
    const longSql = `select '${'x'.repeat(100)}'`;
    const fromClient = Buffer.concat([
      encodePacket(encodeQuery('select 1'), 0),
      encodePacket(encodeSimpleCommand(Command.PING), 0),
      encodePacket(encodeQuery(longSql), 0),
      encodePacket(encodeQuery('refuse me'), 0),
      encodePacket(encodeQuery('select 2'), 0),
    ]);
    const fromTarget = Buffer.concat([
      packets(1, [
        columnCount(1),
        columnDefinition('a'),
        textRow(['1']),
        encodeOk({ statusFlags: ServerStatus.AUTOCOMMIT }, { header: 0xfe }),
      ]),
      encodePacket(encodeOk(), 1),
      encodePacket(encodeOk({ affectedRows: 3 }), 1),
      encodePacket(encodeOk({ affectedRows: 4 }), 1),
    ]);
    const run = (clientChunks: Buffer[], targetChunks: Buffer[]) => {
      const client = new FakeSocket();
      const upstream = new FakeSocket();
      const seen: unknown[] = [];
      const relay = new MysqlRelay<string>({
        client: client.asDuplex(),
        upstream: upstream.asDuplex(),
        isDeprecateEof: true,
        commandHeadBytes: 32,
        handler: {
          onCommand: (command) => {
            const text = command.head.subarray(1).toString();
            seen.push({ head: command.head.toString('hex'), isComplete: command.isComplete });
            return text === 'refuse me'
              ? {
                  kind: 'refuse',
                  context: text,
                  err: { code: 1142, sqlState: '42000', message: 'no' },
                }
              : { kind: 'forward', context: text };
          },
          onDone: (context, outcome) =>
            seen.push({
              context,
              rows: outcome.summary?.rows,
              affected: outcome.summary?.affectedRows,
              refused: outcome.refused?.code,
              commandBytes: outcome.commandBytes,
            }),
        },
      });
      relay.start();
      // The client's commands first (pipelined), then the target's answers.
      for (const c of clientChunks) client.emit('data', c);
      for (const c of targetChunks) upstream.emit('data', c);
      return {
        toTarget: Buffer.concat(upstream.written).toString('hex'),
        toClient: Buffer.concat(client.written).toString('hex'),
        seen,
      };
    };
    const whole = run([fromClient], [fromTarget]);
    // The refused command never reaches the target; its ERR comes in order, after select 1's
    // three packets, the PING's OK and the long query's OK.
    expect(whole.toTarget).toBe(
      Buffer.concat([
        encodePacket(encodeQuery('select 1'), 0),
        encodePacket(encodeSimpleCommand(Command.PING), 0),
        encodePacket(encodeQuery(longSql), 0),
        encodePacket(encodeQuery('select 2'), 0),
      ]).toString('hex'),
    );
    expect(whole.toClient).toContain(
      encodePacket(encodeErr({ code: 1142, sqlState: '42000', message: 'no' }), 1).toString('hex'),
    );
    expect(whole.seen).toContainEqual({
      head: encodeQuery(longSql).subarray(0, 32).toString('hex'),
      isComplete: false,
    });
    expect(whole.seen).toContainEqual({
      context: 'select 1',
      rows: 1,
      affected: 0,
      refused: undefined,
      commandBytes: 9,
    });
    const bytewise = (b: Buffer) => Array.from(b, (_, i) => b.subarray(i, i + 1));
    const inThrees = (b: Buffer) =>
      Array.from({ length: Math.ceil(b.length / 3) }, (_, i) => b.subarray(3 * i, 3 * i + 3));
    expect(run(bytewise(fromClient), bytewise(fromTarget))).toEqual(whole);
    expect(run(inThrees(fromClient), inThrees(fromTarget))).toEqual(whole);
  });
});
