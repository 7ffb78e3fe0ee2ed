import type { Outbox } from './outbox.js';
import type { PendingCommands, PendingCommand } from './pending-commands.js';
import {
  Command,
  FrameScanner,
  encodePacket,
  responseShapeOf,
  type FrameEvents,
  type FrameHead,
  type FrameInfo,
} from './protocol/index.js';
import type { RelayHandler } from './relay-handler.js';

/** What happens to the bytes of the client command being read. */
type Mode = 'hold' | 'forward' | 'drop';

/** Options of {@link CommandGate}. */
export interface CommandGateOptions<C> {
  readonly handler: RelayHandler<C>;
  readonly pending: PendingCommands<C>;
  /** Where the bytes for the target go while a client chunk is scanned. */
  readonly toTarget: Outbox;
  /** Where the gateway's answers go (a refusal whose turn has come). */
  readonly toClient: Outbox;
  /** How much of each command the handler sees before deciding. */
  readonly commandHeadBytes: number;
  /** Counts the commands read. */
  readonly stats: { commands: number };
}

/**
 * The client → target half of the MySQL relay: scans client chunks for commands, holds each
 * command's bytes until the handler has decided about its head, then forwards it, sends a
 * rewritten one in its place, or drops it and queues the gateway's ERR in its turn.
 */
export class CommandGate<C> {
  readonly #handler: RelayHandler<C>;
  readonly #pending: PendingCommands<C>;
  readonly #toTarget: Outbox;
  readonly #toClient: Outbox;
  readonly #stats: { commands: number };
  readonly #scanner: FrameScanner;
  #mode: Mode = 'hold';
  #held: Buffer[] = [];
  #current:
    | {
        readonly kind: 'forward' | 'rewrite' | 'refuse';
        readonly context: C;
        readonly payload: Buffer | undefined;
        readonly followUps: readonly Buffer[] | undefined;
        readonly entry: PendingCommand<C> | undefined;
      }
    | undefined;
  #hasQuit = false;
  // Per-chunk scan state, in fields so that the scanner's callbacks are made once, not per chunk.
  #from = 0;
  readonly #events: FrameEvents = {
    start: (offset) => {
      this.#from = offset;
      this.#mode = 'hold';
      if (this.#held.length > 0) this.#held = [];
    },
    head: (head) => this.#decide(head),
    end: (offset, info) => {
      this.#emit(this.#from, offset);
      this.#from = offset;
      this.#commandEnded(info);
    },
  };

  constructor(options: CommandGateOptions<C>) {
    this.#handler = options.handler;
    this.#pending = options.pending;
    this.#toTarget = options.toTarget;
    this.#toClient = options.toClient;
    this.#stats = options.stats;
    this.#scanner = new FrameScanner({ headLimit: options.commandHeadBytes });
  }

  /** True while part of a client packet is still to come. */
  get isInPacket(): boolean {
    return this.#scanner.isInPacket;
  }

  /** True while a command is being read (the client is not between commands). */
  get isMidCommand(): boolean {
    return this.#scanner.isInPacket || this.#current !== undefined;
  }

  /** True once the client sent COM_QUIT. */
  get hasQuit(): boolean {
    return this.#hasQuit;
  }

  /** Scans a client chunk; the outboxes were begun for it and are written after. */
  scan(chunk: Buffer): void {
    this.#from = 0;
    this.#scanner.push(chunk, this.#events);
    if (this.#scanner.isInPacket) this.#emit(this.#from, chunk.length);
  }

  /** Bytes `from`–`to` of the client chunk being scanned, as the current command's mode says. */
  #emit(from: number, to: number): void {
    if (to <= from) return;
    if (this.#mode === 'forward') this.#toTarget.pushRange(from, to);
    else if (this.#mode === 'hold') this.#held.push(this.#toTarget.slice(from, to));
  }

  #decide(frame: FrameHead): void {
    const code = frame.bytes.length > 0 ? frame.bytes.readUInt8(0) : -1;
    this.#stats.commands += 1;
    if (code === Command.QUIT) this.#hasQuit = true;
    const action = this.#handler.onCommand({
      code,
      head: frame.bytes,
      isComplete: frame.isComplete,
    });
    const held = this.#held;
    if (held.length > 0) this.#held = [];
    if (action.kind === 'refuse') {
      this.#mode = 'drop';
      this.#current = {
        kind: 'refuse',
        context: action.context,
        payload: undefined,
        followUps: undefined,
        entry: this.#pending.expectRefusal(action.context, action.err),
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
    const entry = shape === 'none' ? undefined : this.#pending.expectTarget(action.context, shape);
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
    for (const bytes of held) this.#toTarget.pushSlice(bytes);
    this.#current = {
      kind: 'forward',
      context: action.context,
      payload: undefined,
      followUps: action.followUps,
      entry,
    };
  }

  #commandEnded(info: FrameInfo): void {
    const current = this.#current;
    this.#current = undefined;
    if (current === undefined) return;
    const entry = current.entry;
    if (current.kind === 'rewrite' && current.payload !== undefined)
      this.#toTarget.own(encodePacket(current.payload, info.firstSeq));
    if (current.followUps !== undefined)
      for (const payload of current.followUps) {
        this.#toTarget.own(encodePacket(payload, 0));
        const shape = responseShapeOf(payload.readUInt8(0));
        if (shape !== 'none') this.#pending.expectInternal(shape);
      }
    if (entry === undefined) {
      // No response will come (COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE, COM_QUIT).
      this.#handler.onDone(current.context, {
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
      this.#pending.answerRefusals(this.#toClient, this.#handler);
    } else if (entry.kind === 'target') {
      entry.startedAt = performance.now();
      entry.replySeq = (info.lastSeq + 1) & 0xff;
    }
  }
}
