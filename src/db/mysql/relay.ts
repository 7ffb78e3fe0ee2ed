import type { Duplex } from 'node:stream';
import { CommandGate } from './command-gate.js';
import { Outbox } from './outbox.js';
import { PendingCommands } from './pending-commands.js';
import {
  FrameScanner,
  Header,
  encodeErr,
  encodePacket,
  type ErrPacket,
  type FrameEvents,
  type FrameInfo,
} from './protocol/index.js';
import type { RelayHandler } from './relay-handler.js';

/** Options of {@link MysqlRelay}. */
export interface RelayOptions<C> {
  readonly client: Duplex;
  readonly upstream: Duplex;
  /** Bytes already read from either side before the relay started. */
  readonly clientLeftover?: Buffer;
  readonly upstreamLeftover?: Buffer;
  /** CLIENT_DEPRECATE_EOF as negotiated on both legs. */
  readonly isDeprecateEof: boolean;
  /** How much of each client command the handler sees before deciding. */
  readonly commandHeadBytes: number;
  readonly handler: RelayHandler<C>;
  /** Told about problems that end the relay (protocol errors, handler exceptions). */
  readonly onProblem?: (problem: string, err?: unknown) => void;
  /** Told whenever bytes arrive from either side (idle timeout). */
  readonly onActivity?: () => void;
  /**
   * What the client hears when the target goes away under it (`the connection to target "shop"
   * was lost`), where the protocol allows an answer (see {@link MysqlRelay}); else it is closed.
   */
  readonly targetLostErr?: ErrPacket;
}

/** Byte and command counts of a relay. */
export interface RelayStats {
  bytesFromClient: number;
  bytesFromTarget: number;
  commands: number;
}

/** Server packets are looked at this far (ERR messages, OK fields, column counts). */
const SERVER_HEAD_BYTES = 1024;

/**
 * Relays one MySQL connection in the command phase. Both directions are scanned for packet
 * boundaries but forwarded as received chunks (FINDINGS: batching matters); a client command
 * is held only until its head is decided. Responses are followed to their end to know which
 * command they answer, count rows and time them. The gateway can refuse a command (its ERR is
 * put in order among the target's responses), rewrite a small one, or send its own commands
 * whose responses are swallowed. Each side is paused while the other cannot take more.
 */
export class MysqlRelay<C> {
  readonly #o: RelayOptions<C>;
  readonly #client: Duplex;
  readonly #upstream: Duplex;
  readonly #serverScanner = new FrameScanner({ headLimit: SERVER_HEAD_BYTES });
  readonly #pending: PendingCommands<C>;
  readonly #gate: CommandGate<C>;
  readonly #clientPauses = new Set<string>();
  readonly #upstreamPauses = new Set<string>();
  readonly stats: RelayStats = { bytesFromClient: 0, bytesFromTarget: 0, commands: 0 };
  #serverMode: 'forward' | 'drop' = 'forward';
  #serverHead: Buffer = Buffer.alloc(0);
  readonly #toTarget = new Outbox();
  readonly #toClient = new Outbox();
  // Per-chunk scan state, in fields so that the scanner's callbacks are made once, not per chunk.
  #serverFrom = 0;
  readonly #serverEvents: FrameEvents = {
    start: (offset) => {
      this.#serverFrom = offset;
      const next = this.#pending.next;
      this.#serverMode = next?.kind === 'internal' ? 'drop' : 'forward';
      if (next?.kind === 'target') next.hasResponse = true;
    },
    head: (head) => {
      this.#serverHead = head.isComplete ? head.bytes : Buffer.from(head.bytes);
      const next = this.#pending.next;
      // A LOCAL INFILE request is never shown to the client (we did not offer CLIENT_LOCAL_FILES).
      // (An empty packet has no header byte: the tracker refuses it as a protocol error.)
      if (
        next?.kind === 'target' &&
        next.tracker.isAtResultStart &&
        head.bytes[0] === Header.LOCAL_INFILE
      )
        this.#serverMode = 'drop';
    },
    end: (offset, info) => {
      if (this.#serverMode === 'forward') this.#toClient.pushRange(this.#serverFrom, offset);
      this.#serverFrom = offset;
      this.#responsePacket(info, this.#toClient);
    },
  };
  #lastActivity = Date.now();
  #closeReason: string | undefined;
  readonly closed: Promise<string>;
  #resolveClosed: (reason: string) => void = () => undefined;

  constructor(options: RelayOptions<C>) {
    this.#o = options;
    this.#client = options.client;
    this.#upstream = options.upstream;
    this.#pending = new PendingCommands({ isDeprecateEof: options.isDeprecateEof });
    this.#gate = new CommandGate({
      handler: options.handler,
      pending: this.#pending,
      toTarget: this.#toTarget,
      toClient: this.#toClient,
      commandHeadBytes: options.commandHeadBytes,
      stats: this.stats,
    });
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** When either side last sent something (ms since the epoch). */
  get lastActivityAt(): number {
    return this.#lastActivity;
  }

  /** True while a command waits for its response (the connection is not idle). */
  get isBusy(): boolean {
    return this.#pending.length > 0 || this.#gate.isInPacket;
  }

  /** Starts relaying: leftovers first, then both sockets. */
  start(): void {
    const onClientData = (chunk: Buffer): void => this.#guard(() => this.#fromClient(chunk));
    const onUpstreamData = (chunk: Buffer): void => this.#guard(() => this.#fromUpstream(chunk));
    this.#client.on('data', onClientData);
    this.#upstream.on('data', onUpstreamData);
    this.#client.on('close', () => this.close('client-closed'));
    this.#client.on('end', () => this.close('client-closed'));
    this.#upstream.on('close', () => this.#targetLost('target-closed'));
    this.#upstream.on('end', () => this.#targetLost('target-closed'));
    this.#client.on('error', () => this.close('client-error'));
    this.#upstream.on('error', () => this.#targetLost('target-error'));
    if (this.#client.destroyed) return this.close('client-closed');
    if (this.#upstream.destroyed) return this.close('target-closed');
    if (this.#o.upstreamLeftover !== undefined && this.#o.upstreamLeftover.length > 0)
      onUpstreamData(this.#o.upstreamLeftover);
    if (this.#o.clientLeftover !== undefined && this.#o.clientLeftover.length > 0)
      onClientData(this.#o.clientLeftover);
    this.#client.resume();
    this.#upstream.resume();
  }

  /** Stops reading client commands for `reason` (e.g. the audit trail is behind). */
  pauseClient(reason: string): void {
    this.#clientPauses.add(reason);
    this.#client.pause();
  }

  /** True while client reading is paused for `reason`. */
  isClientPausedFor(reason: string): boolean {
    return this.#clientPauses.has(reason);
  }

  /** Lifts a {@link pauseClient}. */
  resumeClient(reason: string): void {
    if (
      this.#clientPauses.delete(reason) &&
      this.#clientPauses.size === 0 &&
      this.#closeReason === undefined
    )
      this.#client.resume();
  }

  /** Sends a Gatehouse ERR to the client outside any command (e.g. the session was killed). */
  sendUnsolicitedError(err: ErrPacket): void {
    if (this.#closeReason !== undefined) return;
    this.#client.write(encodePacket(encodeErr(err), 0));
  }

  /** Ends the relay: both sockets closed. The first reason is kept. */
  close(reason: string): void {
    if (this.#closeReason !== undefined) return;
    // After COM_QUIT either side may close first: the client left.
    this.#closeReason =
      this.#gate.hasQuit && (reason.startsWith('client-') || reason.startsWith('target-'))
        ? 'client-quit'
        : reason;
    // Let what was written (e.g. a final ERR) go out before the client socket closes.
    this.#client.end();
    setTimeout(() => this.#client.destroy(), 1000).unref();
    this.#upstream.destroy();
    this.#resolveClosed(this.#closeReason);
  }

  /**
   * The target went away: tell the client which target it lost, where an ERR packet is valid,
   * then close. That is while the client waits for the response of a command of which nothing
   * came yet (the ERR is that response), or between commands: written with sequence number 1,
   * the ERR is what the client reads as the response to its next command (which starts at 0;
   * mysql2 reads it at once as a connection error). Mid-packet or mid-response, it only closes.
   */
  #targetLost(reason: string): void {
    if (this.#closeReason !== undefined) return;
    const err = this.#o.targetLostErr;
    const seq = err === undefined || this.#gate.hasQuit ? undefined : this.#lossReplySeq();
    if (err !== undefined && seq !== undefined)
      this.#client.write(encodePacket(encodeErr(err), seq));
    this.close(reason);
  }

  #lossReplySeq(): number | undefined {
    if (this.#gate.isMidCommand || this.#serverScanner.isInPacket) return undefined;
    const next = this.#pending.next;
    if (next === undefined) return 1;
    return next.kind === 'target' && !next.hasResponse && this.#pending.length === 1
      ? next.replySeq
      : undefined;
  }

  #guard(work: () => void): void {
    if (this.#closeReason !== undefined) return;
    try {
      work();
    } catch (err) {
      this.#o.onProblem?.('relay failed', err);
      this.close('protocol-error');
    }
  }

  // ---- client → target ----

  #fromClient(chunk: Buffer): void {
    this.stats.bytesFromClient += chunk.length;
    this.#lastActivity = Date.now();
    this.#o.onActivity?.();
    const toTarget = this.#toTarget;
    const toClient = this.#toClient;
    toTarget.begin(chunk);
    toClient.begin(undefined);
    try {
      this.#gate.scan(chunk);
      this.#send(this.#upstream, toTarget, this.#client, 'target-full');
      this.#send(this.#client, toClient, this.#upstream, 'client-full');
    } finally {
      toTarget.end();
      toClient.end();
    }
  }

  // ---- target → client ----

  #fromUpstream(chunk: Buffer): void {
    this.stats.bytesFromTarget += chunk.length;
    this.#lastActivity = Date.now();
    this.#o.onActivity?.();
    const toClient = this.#toClient;
    toClient.begin(chunk);
    this.#serverFrom = 0;
    try {
      this.#serverScanner.push(chunk, this.#serverEvents);
      if (this.#serverScanner.isInPacket && this.#serverMode === 'forward')
        toClient.pushRange(this.#serverFrom, chunk.length);
      this.#send(this.#client, toClient, this.#upstream, 'client-full');
    } finally {
      toClient.end();
    }
  }

  #responsePacket(info: FrameInfo, toClient: Outbox): void {
    const entry = this.#pending.next;
    if (entry === undefined || entry.kind === 'local') {
      // Unsolicited (e.g. the server's ERR before it closes an idle or killed connection): passed on.
      this.#o.onProblem?.(
        `unsolicited packet from the target (0x${(this.#serverHead[0] ?? 0).toString(16)})`,
      );
      return;
    }
    if (!entry.tracker.accept(this.#serverHead, info.length)) return;
    this.#pending.shift();
    const summary = entry.tracker.summary;
    if (entry.kind === 'internal') {
      if (summary.error !== undefined)
        throw new Error(
          `gateway command failed on the target: ${summary.error.code} ${summary.error.message}`,
        );
    } else {
      if (summary.isLocalInfileRequest) {
        toClient.own(
          encodePacket(
            encodeErr({
              code: 1148,
              sqlState: '42000',
              message:
                'the target asked for a local file: LOAD DATA LOCAL INFILE is not allowed through Gatehouse',
            }),
            info.firstSeq,
          ),
        );
        this.#o.handler.onDone(entry.context, {
          summary,
          refused: undefined,
          durationMs: performance.now() - entry.startedAt,
          commandBytes: entry.commandBytes,
        });
        this.#send(this.#client, toClient, this.#upstream, 'client-full');
        this.close('target-requested-local-file');
        return;
      }
      this.#o.handler.onDone(entry.context, {
        summary,
        refused: undefined,
        durationMs: performance.now() - entry.startedAt,
        commandBytes: entry.commandBytes,
      });
    }
    this.#pending.answerRefusals(toClient, this.#o.handler);
  }

  // ---- writing with backpressure ----

  /** Writes `out` to `to`; when `to` is full, pauses `from` until it drains. */
  #send(to: Duplex, out: Outbox, from: Duplex, reason: string): void {
    if (out.isEmpty || this.#closeReason !== undefined) return;
    const isOk = out.writeTo(to);
    if (isOk) return;
    const pauses = from === this.#client ? this.#clientPauses : this.#upstreamPauses;
    if (pauses.has(reason)) return;
    pauses.add(reason);
    from.pause();
    to.once('drain', () => {
      pauses.delete(reason);
      if (pauses.size === 0 && this.#closeReason === undefined) from.resume();
    });
  }
}
