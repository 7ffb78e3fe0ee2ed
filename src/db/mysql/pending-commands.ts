import type { Outbox } from './outbox.js';
import {
  ResponseTracker,
  encodeErr,
  encodePacket,
  type ErrPacket,
  type ResponseShape,
} from './protocol/index.js';
import type { RelayHandler } from './relay-handler.js';

/** A client command sent to the target; its response goes to the client. */
export interface TargetCommand<C> {
  readonly kind: 'target';
  readonly context: C;
  readonly tracker: ResponseTracker;
  startedAt: number;
  commandBytes: number;
  /** The sequence number the response starts at. */
  replySeq: number;
  /** True once the first packet of the response came. */
  hasResponse: boolean;
}

/** A command the gateway sent on its own; its response is swallowed. */
export interface InternalCommand {
  readonly kind: 'internal';
  readonly tracker: ResponseTracker;
}

/** A client command the gateway refused; it answers `err` when the command's turn comes. */
export interface RefusedCommand<C> {
  readonly kind: 'local';
  readonly context: C;
  readonly err: ErrPacket;
  seq: number;
  /** True once the whole command was read (its ERR may be written). */
  isReady: boolean;
  commandBytes: number;
}

/** A command waiting for its answer. */
export type PendingCommand<C> = TargetCommand<C> | InternalCommand | RefusedCommand<C>;

/**
 * The commands waiting for their answers, in the order the client sent them (MySQL answers in
 * order): the target's responses are matched to the oldest, and the gateway's own ERR for a
 * refused command goes out only once everything sent before it was answered.
 */
export class PendingCommands<C> {
  readonly #items: PendingCommand<C>[] = [];
  readonly #trackerOptions: { readonly isDeprecateEof: boolean };

  constructor(options: { readonly isDeprecateEof: boolean }) {
    this.#trackerOptions = { isDeprecateEof: options.isDeprecateEof };
  }

  /** Commands waiting. */
  get length(): number {
    return this.#items.length;
  }

  /** The oldest command, whose answer comes next. */
  get next(): PendingCommand<C> | undefined {
    return this.#items[0];
  }

  /** A command the target answers with a response of `shape`. */
  expectTarget(context: C, shape: ResponseShape): TargetCommand<C> {
    const entry: TargetCommand<C> = {
      kind: 'target',
      context,
      tracker: new ResponseTracker(shape, this.#trackerOptions),
      startedAt: 0,
      commandBytes: 0,
      replySeq: 1,
      hasResponse: false,
    };
    this.#items.push(entry);
    return entry;
  }

  /** A command of the gateway's own, answered with a response of `shape`. */
  expectInternal(shape: ResponseShape): void {
    this.#items.push({
      kind: 'internal',
      tracker: new ResponseTracker(shape, this.#trackerOptions),
    });
  }

  /** A refused command, to be answered with `err` (once it is {@link RefusedCommand.isReady}). */
  expectRefusal(context: C, err: ErrPacket): RefusedCommand<C> {
    const entry: RefusedCommand<C> = {
      kind: 'local',
      context,
      err,
      seq: 1,
      isReady: false,
      commandBytes: 0,
    };
    this.#items.push(entry);
    return entry;
  }

  /** Drops the oldest command (its answer is complete). */
  shift(): void {
    this.#items.shift();
  }

  /** Writes the gateway's ERRs that are next in line to `toClient`, each command then done. */
  answerRefusals(toClient: Outbox, handler: RelayHandler<C>): void {
    for (;;) {
      const next = this.#items[0];
      if (next?.kind !== 'local' || !next.isReady) return;
      this.#items.shift();
      toClient.own(encodePacket(encodeErr(next.err), next.seq));
      handler.onDone(next.context, {
        summary: undefined,
        refused: next.err,
        durationMs: 0,
        commandBytes: next.commandBytes,
      });
    }
  }
}
