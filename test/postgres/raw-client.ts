import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ScramSha256Client } from '../../src/db/postgres/scram-client.js';
import {
  BACKEND,
  MessageFramer,
  parseAuthentication,
  parseBackendKeyData,
  parseErrorFields,
  serializeCancelRequest,
  serializeSaslInitialResponse,
  serializeSaslResponse,
  serializeSslRequest,
  serializeStartupMessage,
  type CancelKey,
} from '../../src/db/postgres/protocol/index.js';

/** A server message as the raw client saw it. */
export interface RawMessage {
  /** The type as a character: 'Z', 'E', 'D', … */
  readonly type: string;
  readonly body: Buffer;
}

/**
 * A PostgreSQL client at the wire level, for what drivers do not expose: pipelines written
 * in one go, cancel with the received key, and reading a huge result without keeping it.
 */
export class RawPgClient {
  readonly socket: Socket | TLSSocket;
  key: CancelKey | undefined;
  #queue: RawMessage[] = [];
  #waiter: (() => void) | undefined;
  #closed = false;
  #countOnly = false;
  #dataRows = 0;
  #bytes = 0;

  private constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    const framer = new MessageFramer({
      keep: (t) => (this.#countOnly && t === BACKEND.dataRow ? 0 : 1 << 20),
    });
    socket.on('data', (chunk: Buffer) => {
      this.#bytes += chunk.length;
      framer.push(chunk, (m) => {
        if (this.#countOnly && m.type === BACKEND.dataRow) this.#dataRows += 1;
        else
          this.#queue.push({ type: String.fromCharCode(m.type), body: m.body ?? Buffer.alloc(0) });
      });
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  /** Connects over TLS (verifying `ca`) and logs in with SCRAM as `user`. */
  static async connect(o: {
    port: number;
    ca: string;
    user: string;
    password: string;
    database?: string;
  }): Promise<RawPgClient> {
    const raw = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port: o.port }, () => resolve(s));
      s.once('error', reject);
    });
    raw.write(serializeSslRequest());
    const answer = await new Promise<Buffer>((resolve) => raw.once('data', resolve));
    if (answer.toString() !== 'S') throw new Error(`SSL refused: ${answer.toString()}`);
    const tls = tlsConnect({ socket: raw, ca: o.ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    const client = new RawPgClient(tls);
    client.send(
      serializeStartupMessage([
        ['user', o.user],
        ['database', o.database ?? 'app'],
        ['application_name', 'raw-test'],
      ]),
    );
    const scram = new ScramSha256Client(Buffer.from(o.password));
    for (;;) {
      const m = await client.next();
      if (m.type === 'E') throw new Error(`login failed: ${errorText(m)}`);
      if (m.type === 'R') {
        const auth = parseAuthentication(m.body);
        if (auth.kind === 'sasl')
          client.send(
            serializeSaslInitialResponse('SCRAM-SHA-256', Buffer.from(scram.clientFirst)),
          );
        else if (auth.kind === 'sasl-continue')
          client.send(
            serializeSaslResponse(Buffer.from(await scram.clientFinal(auth.data.toString()))),
          );
        else if (auth.kind === 'sasl-final' && !scram.isServerFinalValid(auth.data.toString()))
          throw new Error('bad server signature');
      }
      if (m.type === 'K') client.key = parseBackendKeyData(m.body);
      if (m.type === 'Z') return client;
    }
  }

  /** Bytes received so far. */
  get bytesReceived(): number {
    return this.#bytes;
  }

  /** Writes messages in one go (a pipeline). */
  send(...messages: Buffer[]): void {
    this.socket.write(Buffer.concat(messages));
  }

  /** The next message; throws when the connection closed. */
  async next(timeoutMs = 20_000): Promise<RawMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.#queue.shift();
      if (m !== undefined) return m;
      if (this.#closed) throw new Error('connection closed');
      if (Date.now() > deadline) throw new Error('timed out waiting for a message');
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        setTimeout(resolve, 200).unref();
      });
    }
  }

  /** Messages up to and including the next `count` ReadyForQuery. */
  async untilReady(count = 1, timeoutMs = 20_000): Promise<RawMessage[]> {
    const out: RawMessage[] = [];
    let seen = 0;
    while (seen < count) {
      const m = await this.next(timeoutMs);
      out.push(m);
      if (m.type === 'Z') seen += 1;
    }
    return out;
  }

  /** Counts DataRows without keeping them until ReadyForQuery; `onProgress` sees the count. */
  async countRows(
    onProgress?: (rows: number) => void,
  ): Promise<{ rows: number; messages: RawMessage[] }> {
    this.#countOnly = true;
    this.#dataRows = 0;
    const messages: RawMessage[] = [];
    for (;;) {
      onProgress?.(this.#dataRows);
      const m = await this.next(60_000);
      messages.push(m);
      if (m.type === 'Z') break;
    }
    this.#countOnly = false;
    return { rows: this.#dataRows, messages };
  }

  /** Ends the connection. */
  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

/** Sends a CancelRequest over plain TCP, as libpq (before 17) does. */
export async function sendCancel(port: number, key: CancelKey): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => s.end(serializeCancelRequest(key)));
    s.once('close', () => resolve());
    s.once('error', reject);
  });
}

/** `SQLSTATE message` of an ErrorResponse. */
export function errorText(m: RawMessage): string {
  const f = parseErrorFields(m.body);
  return `${f.get('C') ?? '?'} ${f.get('M') ?? ''}`;
}

/** The SQLSTATE of an ErrorResponse. */
export function sqlstateOf(m: RawMessage): string | undefined {
  return parseErrorFields(m.body).get('C');
}
