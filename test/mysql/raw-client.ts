import { connectUpstream } from '../../src/db/mysql/upstream.js';
import { PacketChannel } from '../../src/db/mysql/packet-channel.js';
import {
  Capability,
  ResponseTracker,
  responseShapeOf,
  type Packet,
} from '../../src/db/mysql/protocol/index.js';

/** The replies to one command. */
export interface RawReply {
  readonly packets: Packet[];
  readonly tracker: ResponseTracker;
}

/**
 * A bare MySQL client built from Gatehouse's own protocol layer and upstream login (TLS, full
 * caching_sha2_password authentication against the gateway). It sends exactly the commands a
 * test asks for: COM_STMT_SEND_LONG_DATA, COM_FIELD_LIST, COM_RESET_CONNECTION… which mysql2
 * does not send.
 */
export class RawClient {
  readonly #channel: PacketChannel;
  readonly connectionId: number;

  private constructor(channel: PacketChannel, connectionId: number) {
    this.#channel = channel;
    this.connectionId = connectionId;
  }

  static async connect(options: {
    port: number;
    login: string;
    password: string;
    caPem: string;
    database?: string;
  }): Promise<RawClient> {
    const conn = await connectUpstream({
      host: '127.0.0.1',
      port: options.port,
      username: options.login,
      password: Buffer.from(options.password),
      ...(options.database === undefined ? {} : { database: options.database }),
      charset: 45,
      clientCapabilities:
        Capability.DEPRECATE_EOF |
        Capability.MULTI_STATEMENTS |
        Capability.MULTI_RESULTS |
        Capability.PS_MULTI_RESULTS,
      tls: { mode: 'verify-full', ca: options.caPem },
    });
    return new RawClient(
      new PacketChannel(conn.socket, { maxPacketBytes: 64 * 1024 * 1024 }),
      conn.connectionId,
    );
  }

  /** Sends a command and reads its whole response. */
  async command(payload: Buffer): Promise<RawReply> {
    this.#channel.write(payload, 0);
    const tracker = new ResponseTracker(responseShapeOf(payload.readUInt8(0)), {
      isDeprecateEof: true,
    });
    const packets: Packet[] = [];
    while (!tracker.isDone) {
      const p = await this.#channel.read(20_000);
      packets.push(p);
      tracker.accept(p.payload, p.payload.length);
    }
    return { packets, tracker };
  }

  /** Sends a command that has no response. */
  send(payload: Buffer): void {
    this.#channel.write(payload, 0);
  }

  close(): void {
    this.#channel.socket.destroy();
  }
}
