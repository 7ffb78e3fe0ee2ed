import { Command, type ErrPacket, type ResponseSummary } from './protocol/index.js';

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

/** The policy and audit side of a relay (see command-handler.ts); the relay only moves bytes. */
export interface RelayHandler<C> {
  /** Decides about a command from its head (synchronously: bytes wait for it). */
  onCommand(command: CommandHead): CommandAction<C>;
  /** A command is over: response complete, refused, or sent (commands without response). */
  onDone(context: C, outcome: CommandOutcome): void;
}

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
