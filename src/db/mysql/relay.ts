import type { Duplex } from 'node:stream';
import {
  Command,
  FrameScanner,
  Header,
  ResponseTracker,
  encodeErr,
  encodePacket,
  responseShapeOf,
  type ErrPacket,
  type FrameEvents,
  type FrameHead,
  type FrameInfo,
  type ResponseSummary,
} from './protocol/index.js';

/** A client command as the relay first sees it: its command byte and the head of its payload. */
export interface CommandHead {
  readonly code: number;
  /** At most the relay's head limit; valid only during the call (copy to keep). */
  readonly head: Buffer;
  /** True when `head` is the whole payload. */
  readonly isComplete: boolean;
}

/** What to do with a client command. `context` comes back in {@link RelayHandler.onDone}. */
export type CommandAction<C> =
  | { readonly kind: 'forward'; readonly context: C; readonly followUps?: readonly Buffer[] }
  /** Send `payload` in its place (a small command, e.g. a KILL with the target's thread id). */
  | { readonly kind: 'rewrite'; readonly context: C; readonly payload: Buffer }
  /** Answer with `err` from the gateway; the command never reaches the target. */
  | { readonly kind: 'refuse'; readonly context: C; readonly err: ErrPacket };

/** How a command ended. */
export interface CommandOutcome {
  /** The target's response (undefined for refused commands and commands without response). */
  readonly summary: ResponseSummary | undefined;
  /** Set when the gateway refused the command. */
  readonly refused: ErrPacket | undefined;
  /** From the end of the command to the end of its response. */
  readonly durationMs: number;
  /** Payload bytes of the client's command. */
  readonly commandBytes: number;
}

/** The policy and audit side of a relay (see session.ts); the relay only moves bytes. */
export interface RelayHandler<C> {
  /** Decides about a command from its head (synchronously: bytes wait for it). */
  onCommand(command: CommandHead): CommandAction<C>;
  /** A command is over: response complete, refused, or sent (commands without response). */
  onDone(context: C, outcome: CommandOutcome): void;
}

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

type Pending<C> =
  | {
      readonly kind: 'target';
      readonly context: C;
      readonly tracker: ResponseTracker;
      startedAt: number;
      commandBytes: number;
      replySeq: number;
      hasResponse: boolean;
    }
  | { readonly kind: 'internal'; readonly tracker: ResponseTracker }
  | {
      readonly kind: 'local';
      readonly context: C;
      readonly err: ErrPacket;
      seq: number;
      isReady: boolean;
      commandBytes: number;
    };

/** What happens to the bytes of the client command being read. */
type Mode = 'hold' | 'forward' | 'drop';

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
  readonly #clientScanner: FrameScanner;
  readonly #serverScanner = new FrameScanner({ headLimit: SERVER_HEAD_BYTES });
  readonly #pending: Pending<C>[] = [];
  readonly #trackerOptions: { readonly isDeprecateEof: boolean };
  readonly #clientPauses = new Set<string>();
  readonly #upstreamPauses = new Set<string>();
  readonly stats: RelayStats = { bytesFromClient: 0, bytesFromTarget: 0, commands: 0 };
  #mode: Mode = 'hold';
  #held: Buffer[] = [];
  #current:
    | {
        readonly kind: 'forward' | 'rewrite' | 'refuse';
        readonly context: C;
        readonly payload: Buffer | undefined;
        readonly followUps: readonly Buffer[] | undefined;
        readonly entry: Pending<C> | undefined;
      }
    | undefined;
  #serverMode: 'forward' | 'drop' = 'forward';
  #serverHead: Buffer = Buffer.alloc(0);
  // Per-chunk scan state, in fields so that the scanner's callbacks are made once, not per chunk.
  readonly #toTarget = new Outbox();
  readonly #toClient = new Outbox();
  #clientFrom = 0;
  #serverFrom = 0;
  readonly #clientEvents: FrameEvents = {
    start: (offset) => {
      this.#clientFrom = offset;
      this.#mode = 'hold';
      if (this.#held.length > 0) this.#held = [];
    },
    head: (head) => this.#decide(head, this.#toTarget),
    end: (offset, info) => {
      this.#emitClientBytes(this.#clientFrom, offset);
      this.#clientFrom = offset;
      this.#commandEnded(info, this.#toTarget, this.#toClient);
    },
  };
  readonly #serverEvents: FrameEvents = {
    start: (offset) => {
      this.#serverFrom = offset;
      const next = this.#pending[0];
      this.#serverMode = next?.kind === 'internal' ? 'drop' : 'forward';
      if (next?.kind === 'target') next.hasResponse = true;
    },
    head: (head) => {
      this.#serverHead = head.isComplete ? head.bytes : Buffer.from(head.bytes);
      const next = this.#pending[0];
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
  #hasQuit = false;
  #closeReason: string | undefined;
  readonly closed: Promise<string>;
  #resolveClosed: (reason: string) => void = () => undefined;

  constructor(options: RelayOptions<C>) {
    this.#o = options;
    this.#client = options.client;
    this.#upstream = options.upstream;
    this.#clientScanner = new FrameScanner({ headLimit: options.commandHeadBytes });
    this.#trackerOptions = { isDeprecateEof: options.isDeprecateEof };
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** When either side last sent something (ms since the epoch). */
  get lastActivityAt(): number {
    return this.#lastActivity;
  }

  /** True while a command waits for its response (the connection is not idle). */
  get isBusy(): boolean {
    return this.#pending.length > 0 || this.#clientScanner.isInPacket;
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
      this.#hasQuit && (reason.startsWith('client-') || reason.startsWith('target-'))
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
    const seq = err === undefined || this.#hasQuit ? undefined : this.#lossReplySeq();
    if (err !== undefined && seq !== undefined)
      this.#client.write(encodePacket(encodeErr(err), seq));
    this.close(reason);
  }

  #lossReplySeq(): number | undefined {
    if (
      this.#clientScanner.isInPacket ||
      this.#current !== undefined ||
      this.#serverScanner.isInPacket
    )
      return undefined;
    const next = this.#pending[0];
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
    this.#clientFrom = 0;
    try {
      this.#clientScanner.push(chunk, this.#clientEvents);
      if (this.#clientScanner.isInPacket) this.#emitClientBytes(this.#clientFrom, chunk.length);
      this.#send(this.#upstream, toTarget, this.#client, 'target-full');
      this.#send(this.#client, toClient, this.#upstream, 'client-full');
    } finally {
      toTarget.end();
      toClient.end();
    }
  }

  /** Bytes `from`–`to` of the client chunk being scanned, as the current command's mode says. */
  #emitClientBytes(from: number, to: number): void {
    if (to <= from) return;
    if (this.#mode === 'forward') this.#toTarget.pushRange(from, to);
    else if (this.#mode === 'hold') this.#held.push(this.#toTarget.slice(from, to));
  }

  #decide(frame: FrameHead, out: Outbox): void {
    const code = frame.bytes.length > 0 ? frame.bytes.readUInt8(0) : -1;
    this.stats.commands += 1;
    if (code === Command.QUIT) this.#hasQuit = true;
    const action = this.#o.handler.onCommand({
      code,
      head: frame.bytes,
      isComplete: frame.isComplete,
    });
    const held = this.#held;
    if (held.length > 0) this.#held = [];
    if (action.kind === 'refuse') {
      this.#mode = 'drop';
      const entry: Pending<C> = {
        kind: 'local',
        context: action.context,
        err: action.err,
        seq: 1,
        isReady: false,
        commandBytes: 0,
      };
      this.#pending.push(entry);
      this.#current = {
        kind: 'refuse',
        context: action.context,
        payload: undefined,
        followUps: undefined,
        entry,
      };
      return;
    }
    const shape = responseShapeOf(
      action.kind === 'rewrite'
        ? action.payload.length > 0
          ? action.payload.readUInt8(0)
          : -1
        : code,
    );
    let entry: Pending<C> | undefined;
    if (shape !== 'none') {
      entry = {
        kind: 'target',
        context: action.context,
        tracker: new ResponseTracker(shape, this.#trackerOptions),
        startedAt: 0,
        commandBytes: 0,
        replySeq: 1,
        hasResponse: false,
      };
      this.#pending.push(entry);
    }
    if (action.kind === 'rewrite') {
      this.#mode = 'drop';
      this.#current = {
        kind: 'rewrite',
        context: action.context,
        payload: action.payload,
        followUps: undefined,
        entry,
      };
      return;
    }
    this.#mode = 'forward';
    for (const bytes of held) out.pushSlice(bytes);
    this.#current = {
      kind: 'forward',
      context: action.context,
      payload: undefined,
      followUps: action.followUps,
      entry,
    };
  }

  #commandEnded(info: FrameInfo, toTarget: Outbox, toClient: Outbox): void {
    const current = this.#current;
    this.#current = undefined;
    if (current === undefined) return;
    const entry = current.entry;
    if (current.kind === 'rewrite' && current.payload !== undefined)
      toTarget.own(encodePacket(current.payload, info.firstSeq));
    if (current.followUps !== undefined)
      for (const payload of current.followUps) {
        toTarget.own(encodePacket(payload, 0));
        const shape = responseShapeOf(payload.readUInt8(0));
        if (shape !== 'none')
          this.#pending.push({
            kind: 'internal',
            tracker: new ResponseTracker(shape, this.#trackerOptions),
          });
      }
    if (entry === undefined) {
      // No response will come (COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE, COM_QUIT).
      this.#o.handler.onDone(current.context, {
        summary: undefined,
        refused: undefined,
        durationMs: 0,
        commandBytes: info.length,
      });
      return;
    }
    if (entry.kind !== 'internal') entry.commandBytes = info.length;
    if (entry.kind === 'local') {
      entry.seq = (info.lastSeq + 1) & 0xff;
      entry.isReady = true;
      this.#answerLocally(toClient);
    } else if (entry.kind === 'target') {
      entry.startedAt = performance.now();
      entry.replySeq = (info.lastSeq + 1) & 0xff;
    }
  }

  /** Sends the gateway's answers that are next in line. */
  #answerLocally(toClient: Outbox): void {
    for (;;) {
      const next = this.#pending[0];
      if (next?.kind !== 'local' || !next.isReady) return;
      this.#pending.shift();
      toClient.own(encodePacket(encodeErr(next.err), next.seq));
      this.#o.handler.onDone(next.context, {
        summary: undefined,
        refused: next.err,
        durationMs: 0,
        commandBytes: next.commandBytes,
      });
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
    const entry = this.#pending[0];
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
    this.#answerLocally(toClient);
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

/**
 * Bytes to write to one socket, gathered while scanning a chunk: ranges of the chunk (adjacent
 * ones merged, so a chunk forwarded whole is written as it came, without a slice), slices of
 * earlier chunks (held bytes) and packets the gateway made, in order. Reused chunk after chunk.
 */
class Outbox {
  #chunk: Buffer | undefined;
  readonly #parts: Buffer[] = [];
  // The open range of the chunk, not yet among the parts (rangeEnd 0: none).
  #rangeStart = 0;
  #rangeEnd = 0;

  /** Starts gathering for `chunk` (undefined: only packets the gateway makes). */
  begin(chunk: Buffer | undefined): void {
    this.#chunk = chunk;
    this.#parts.length = 0;
    this.#rangeStart = 0;
    this.#rangeEnd = 0;
  }

  /** Drops what is left (the chunk is not kept past its scan). */
  end(): void {
    this.begin(undefined);
  }

  get isEmpty(): boolean {
    return this.#parts.length === 0 && this.#rangeEnd === 0;
  }

  /** Bytes `start`–`end` of the chunk. */
  pushRange(start: number, end: number): void {
    if (end <= start) return;
    if (this.#rangeEnd !== 0 && this.#rangeEnd === start) {
      this.#rangeEnd = end;
      return;
    }
    this.#closeRange();
    this.#rangeStart = start;
    this.#rangeEnd = end;
  }

  /** A copy-free slice of the chunk, to keep (held bytes). */
  slice(start: number, end: number): Buffer {
    return (this.#chunk ?? EMPTY).subarray(start, end);
  }

  /** A slice kept from an earlier chunk (held bytes), or of this one. */
  pushSlice(slice: Buffer): void {
    this.#closeRange();
    this.#parts.push(slice);
  }

  /** A buffer the gateway made (a packet), or framed parts of one. */
  own(bytes: Buffer): void {
    this.#closeRange();
    this.#parts.push(bytes);
  }

  /** Writes everything; false when the socket asks to wait for `drain`. */
  writeTo(socket: Duplex): boolean {
    this.#closeRange();
    const first = this.#parts[0];
    if (this.#parts.length === 1 && first !== undefined) return socket.write(first);
    socket.cork();
    let isOk = true;
    for (const part of this.#parts) isOk = socket.write(part) && isOk;
    socket.uncork();
    return isOk;
  }

  #closeRange(): void {
    if (this.#rangeEnd === 0) return;
    const chunk = this.#chunk ?? EMPTY;
    this.#parts.push(
      this.#rangeStart === 0 && this.#rangeEnd === chunk.length
        ? chunk
        : chunk.subarray(this.#rangeStart, this.#rangeEnd),
    );
    this.#rangeStart = 0;
    this.#rangeEnd = 0;
  }
}

const EMPTY = Buffer.alloc(0);

/** Commands the gateway relays; anything else is refused as unknown. */
export const RELAYED_COMMANDS: ReadonlySet<number> = new Set([
  Command.QUIT,
  Command.INIT_DB,
  Command.QUERY,
  Command.FIELD_LIST,
  Command.STATISTICS,
  Command.PROCESS_KILL,
  Command.PING,
  Command.STMT_PREPARE,
  Command.STMT_EXECUTE,
  Command.STMT_SEND_LONG_DATA,
  Command.STMT_CLOSE,
  Command.STMT_RESET,
  Command.SET_OPTION,
  Command.STMT_FETCH,
  Command.RESET_CONNECTION,
]);
