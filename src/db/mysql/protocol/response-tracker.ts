/**
 * Follows a server's response to one command, packet by packet, to know where it ends and
 * what it said (rows, affected rows, error), without keeping it (dev.mysql.com "COM_QUERY
 * Response", "Text Resultset", "Binary Protocol Resultset", "COM_STMT_PREPARE Response",
 * "Multi-Resultset"). Only each packet's head is looked at.
 */
import { Command, Header, ServerStatus } from './constants.js';
import { decodeStmtPrepareOk, type StmtPrepareOk } from './commands.js';
import {
  decodeErr,
  decodeOk,
  headerByte,
  isResultTerminator,
  terminatorStatus,
  type ErrPacket,
} from './responses.js';
import { MysqlProtocolError, PayloadReader } from './wire.js';

/** How a command is answered. */
export type ResponseShape =
  /** No answer (COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE, COM_QUIT). */
  | 'none'
  /** One packet (OK, ERR, EOF or a string: COM_PING, COM_INIT_DB, COM_STATISTICS…). */
  | 'single'
  /** OK, ERR, LOCAL INFILE request or result sets, chained by SERVER_MORE_RESULTS_EXISTS. */
  | 'result'
  /** Binary rows then a terminator (COM_STMT_FETCH). */
  | 'fetch'
  /** COM_STMT_PREPARE_OK, parameter and column definitions; or ERR. */
  | 'prepare'
  /** Column definitions then a terminator (COM_FIELD_LIST). */
  | 'field-list';

/** The response shape of a command byte. */
export function responseShapeOf(command: number): ResponseShape {
  switch (command) {
    case Command.QUERY:
    case Command.STMT_EXECUTE:
    case Command.PROCESS_INFO:
      return 'result';
    case Command.STMT_PREPARE:
      return 'prepare';
    case Command.STMT_FETCH:
      return 'fetch';
    case Command.FIELD_LIST:
      return 'field-list';
    case Command.STMT_SEND_LONG_DATA:
    case Command.STMT_CLOSE:
    case Command.QUIT:
      return 'none';
    default:
      return 'single';
  }
}

/** What a response said, so far. */
export interface ResponseSummary {
  /** Data rows received (all result sets). */
  readonly rows: number;
  /** Sum of OK packets' affected rows. */
  readonly affectedRows: number;
  /** Result sets with columns. */
  readonly resultSets: number;
  /** OK packets without a result set (statements that returned no rows). */
  readonly okPackets: number;
  readonly warnings: number;
  /** Status flags of the last OK/EOF. */
  readonly statusFlags: number;
  /** The ERR that ended the response, if any. */
  readonly error: ErrPacket | undefined;
  /** The server asked for a client file (LOAD DATA LOCAL INFILE). */
  readonly isLocalInfileRequest: boolean;
  readonly prepareOk: StmtPrepareOk | undefined;
  /** One entry per result, at most {@link MAX_RESULT_TAGS}: `rows N` (a result set) or `affected N` (an OK). */
  readonly resultTags: readonly string[];
}

/** Result tags kept per response (a multi-statement query may have thousands of results). */
export const MAX_RESULT_TAGS = 20;

/** Where the response is; `columns` and `prepare-defs` count down packets in `#remaining`. */
type State = 'first' | 'columns' | 'columns-eof' | 'rows' | 'prepare-defs' | 'done';

/** Tracks one command's response; feed it each server packet's head with {@link accept}. */
export class ResponseTracker {
  readonly #shape: ResponseShape;
  readonly #isDeprecateEof: boolean;
  #state: State;
  #remaining = 0;
  #rows = 0;
  #affectedRows = 0;
  #resultSets = 0;
  #okPackets = 0;
  #warnings = 0;
  #statusFlags = 0;
  #error: ErrPacket | undefined;
  #isLocalInfile = false;
  #prepareOk: StmtPrepareOk | undefined;
  readonly #resultTags: string[] = [];
  #rowsAtResultStart = 0;

  constructor(shape: ResponseShape, options: { readonly isDeprecateEof: boolean }) {
    this.#shape = shape;
    this.#isDeprecateEof = options.isDeprecateEof;
    this.#state = shape === 'none' ? 'done' : shape === 'fetch' ? 'rows' : 'first';
  }

  /** True once the response is complete. */
  get isDone(): boolean {
    return this.#state === 'done';
  }

  /** True when the next packet starts a result (OK, ERR, LOCAL INFILE request or column count). */
  get isAtResultStart(): boolean {
    return this.#state === 'first' && this.#shape === 'result';
  }

  /** What the response said so far. */
  get summary(): ResponseSummary {
    return {
      rows: this.#rows,
      affectedRows: this.#affectedRows,
      resultSets: this.#resultSets,
      okPackets: this.#okPackets,
      warnings: this.#warnings,
      statusFlags: this.#statusFlags,
      error: this.#error,
      isLocalInfileRequest: this.#isLocalInfile,
      prepareOk: this.#prepareOk,
      resultTags: [...this.#resultTags],
    };
  }

  /**
   * Takes the next logical packet of the response: its head (first bytes; 16 are enough) and
   * payload length. Returns true when the response is complete. Throws MysqlProtocolError on a
   * packet that cannot be there.
   */
  accept(head: Buffer, length: number): boolean {
    const first = headerByte(head);
    switch (this.#state) {
      case 'done':
        throw new MysqlProtocolError('server packet after the end of the response');
      case 'first':
        this.#acceptFirst(head, first, length);
        break;
      case 'columns':
        this.#remaining -= 1;
        if (this.#remaining === 0) this.#state = this.#isDeprecateEof ? 'rows' : 'columns-eof';
        break;
      case 'columns-eof':
        if (first !== Header.EOF)
          throw new MysqlProtocolError('expected EOF after column definitions');
        this.#endOfMetadata(terminatorStatus(head, false));
        break;
      case 'rows':
        this.#acceptRow(head, first, length);
        break;
      case 'prepare-defs':
        this.#remaining -= 1;
        if (this.#remaining === 0) this.#state = 'done';
        break;
    }
    return this.isDone;
  }

  #acceptFirst(head: Buffer, first: number | undefined, length: number): void {
    if (first === Header.ERR) return this.#fail(head);
    switch (this.#shape) {
      case 'single':
        if (first === Header.OK) this.#ok(head);
        this.#state = 'done';
        return;
      case 'prepare':
        return this.#acceptPrepare(head, first);
      case 'field-list':
        this.#state = 'rows';
        return this.#acceptRow(head, first, length);
      default:
        break;
    }
    if (first === Header.OK) {
      const before = this.#affectedRows;
      const status = this.#ok(head);
      this.#okPackets += 1;
      this.#tag(`affected ${this.#affectedRows - before}`);
      if ((status & ServerStatus.MORE_RESULTS_EXISTS) === 0) this.#state = 'done';
      return;
    }
    if (first === Header.LOCAL_INFILE) {
      this.#isLocalInfile = true;
      this.#state = 'done';
      return;
    }
    // A column count below 0xFB is its own one-byte length-encoded integer.
    const columns =
      first !== undefined && first < 0xfb ? first : new PayloadReader(head).lenencInt();
    if (columns === 0) throw new MysqlProtocolError('result set with zero columns');
    this.#resultSets += 1;
    this.#rowsAtResultStart = this.#rows;
    this.#state = 'columns';
    this.#remaining = columns;
  }

  #acceptPrepare(head: Buffer, first: number | undefined): void {
    if (first !== Header.OK) throw new MysqlProtocolError('expected COM_STMT_PREPARE_OK');
    const ok = decodeStmtPrepareOk(head);
    this.#prepareOk = ok;
    this.#warnings += ok.warnings;
    const eof = this.#isDeprecateEof ? 0 : 1;
    const remaining =
      ok.numParams + (ok.numParams > 0 ? eof : 0) + ok.numColumns + (ok.numColumns > 0 ? eof : 0);
    this.#state = remaining === 0 ? 'done' : 'prepare-defs';
    this.#remaining = remaining;
  }

  #acceptRow(head: Buffer, first: number | undefined, length: number): void {
    if (first === Header.ERR) return this.#fail(head);
    if (isResultTerminator(first, length, this.#isDeprecateEof)) {
      const status = terminatorStatus(head, this.#isDeprecateEof);
      this.#statusFlags = status;
      this.#warnings += this.#isDeprecateEof
        ? decodeOk(head).warnings
        : head.length >= 3
          ? head.readUInt16LE(1)
          : 0;
      if (this.#shape === 'result') this.#tag(`rows ${this.#rows - this.#rowsAtResultStart}`);
      const hasMore =
        this.#shape === 'result' &&
        (status & ServerStatus.MORE_RESULTS_EXISTS) !== 0 &&
        (status & ServerStatus.CURSOR_EXISTS) === 0;
      this.#state = hasMore ? 'first' : 'done';
      return;
    }
    if (this.#shape !== 'field-list') this.#rows += 1;
  }

  /** The end of column definitions (EOF): a cursor was opened, or rows follow. */
  #endOfMetadata(status: number): void {
    this.#statusFlags = status;
    this.#state = (status & ServerStatus.CURSOR_EXISTS) !== 0 ? 'done' : 'rows';
  }

  #tag(tag: string): void {
    if (this.#resultTags.length < MAX_RESULT_TAGS) this.#resultTags.push(tag);
  }

  #ok(head: Buffer): number {
    const ok = decodeOk(head);
    this.#affectedRows += ok.affectedRows;
    this.#warnings += ok.warnings;
    this.#statusFlags = ok.statusFlags;
    return ok.statusFlags;
  }

  #fail(head: Buffer): void {
    this.#error = decodeErr(head);
    this.#state = 'done';
  }
}
