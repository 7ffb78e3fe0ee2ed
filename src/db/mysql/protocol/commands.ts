/**
 * Command phase packets a client sends (dev.mysql.com "Text Protocol", "Prepared Statements"),
 * decoded from the head of the packet (the first bytes are enough for every field read here),
 * and the server's COM_STMT_PREPARE_OK.
 */
import { Command } from './constants.js';
import { PayloadReader, PayloadWriter } from './wire.js';

/** A client command, decoded as far as a relay needs it. */
export type ClientCommand =
  | { readonly kind: 'query'; readonly code: typeof Command.QUERY; readonly text: Buffer }
  | { readonly kind: 'prepare'; readonly code: typeof Command.STMT_PREPARE; readonly text: Buffer }
  | { readonly kind: 'init-db'; readonly code: typeof Command.INIT_DB; readonly schema: string }
  | {
      readonly kind: 'field-list';
      readonly code: typeof Command.FIELD_LIST;
      readonly table: string;
    }
  | {
      readonly kind: 'execute';
      readonly code: typeof Command.STMT_EXECUTE;
      readonly stmtId: number;
      readonly flags: number;
    }
  | {
      readonly kind: 'long-data';
      readonly code: typeof Command.STMT_SEND_LONG_DATA;
      readonly stmtId: number;
      readonly paramId: number;
    }
  | {
      readonly kind: 'stmt-close';
      readonly code: typeof Command.STMT_CLOSE;
      readonly stmtId: number;
    }
  | {
      readonly kind: 'stmt-reset';
      readonly code: typeof Command.STMT_RESET;
      readonly stmtId: number;
    }
  | {
      readonly kind: 'stmt-fetch';
      readonly code: typeof Command.STMT_FETCH;
      readonly stmtId: number;
      readonly rows: number;
    }
  | {
      readonly kind: 'process-kill';
      readonly code: typeof Command.PROCESS_KILL;
      readonly connectionId: number;
    }
  | { readonly kind: 'other'; readonly code: number };

/** Statement id meaning "the statement prepared last" (MariaDB 10.2+). */
export const LAST_PREPARED_STMT_ID = 0xff_ff_ff_ff;

/**
 * Decodes a command from the head of its payload. `text` of a query or prepare is the part of
 * the head after the command byte (the whole statement when the head is complete). Throws
 * MysqlProtocolError when a fixed field is missing.
 */
export function decodeCommand(head: Buffer): ClientCommand {
  const r = new PayloadReader(head);
  const code = r.u8();
  switch (code) {
    case Command.QUERY:
      return { kind: 'query', code, text: r.rest() };
    case Command.STMT_PREPARE:
      return { kind: 'prepare', code, text: r.rest() };
    case Command.INIT_DB:
      return { kind: 'init-db', code, schema: r.rest().toString('utf8') };
    case Command.FIELD_LIST:
      return { kind: 'field-list', code, table: r.nulStringOrRest() };
    case Command.STMT_EXECUTE:
      return { kind: 'execute', code, stmtId: r.u32(), flags: r.u8() };
    case Command.STMT_SEND_LONG_DATA:
      return { kind: 'long-data', code, stmtId: r.u32(), paramId: r.u16() };
    case Command.STMT_CLOSE:
      return { kind: 'stmt-close', code, stmtId: r.u32() };
    case Command.STMT_RESET:
      return { kind: 'stmt-reset', code, stmtId: r.u32() };
    case Command.STMT_FETCH:
      return { kind: 'stmt-fetch', code, stmtId: r.u32(), rows: r.u32() };
    case Command.PROCESS_KILL:
      return { kind: 'process-kill', code, connectionId: r.u32() };
    default:
      return { kind: 'other', code };
  }
}

/** COM_QUERY payload (no query attributes: CLIENT_QUERY_ATTRIBUTES is never negotiated). */
export function encodeQuery(sql: string | Buffer): Buffer {
  return new PayloadWriter()
    .u8(Command.QUERY)
    .bytes(typeof sql === 'string' ? Buffer.from(sql, 'utf8') : sql)
    .toBuffer();
}

/** COM_STMT_PREPARE payload. */
export function encodeStmtPrepare(sql: string): Buffer {
  return new PayloadWriter().u8(Command.STMT_PREPARE).bytes(Buffer.from(sql, 'utf8')).toBuffer();
}

/** COM_STMT_SEND_LONG_DATA payload. */
export function encodeStmtSendLongData(stmtId: number, paramId: number, data: Buffer): Buffer {
  return new PayloadWriter()
    .u8(Command.STMT_SEND_LONG_DATA)
    .u32(stmtId)
    .u16(paramId)
    .bytes(data)
    .toBuffer();
}

/** COM_STMT_CLOSE payload. */
export function encodeStmtClose(stmtId: number): Buffer {
  return new PayloadWriter().u8(Command.STMT_CLOSE).u32(stmtId).toBuffer();
}

/** A one-byte command with no arguments (COM_PING, COM_QUIT, COM_RESET_CONNECTION…). */
export function encodeSimpleCommand(code: number): Buffer {
  return Buffer.from([code]);
}

/** COM_STMT_PREPARE_OK (the first packet of a successful prepare response). */
export interface StmtPrepareOk {
  readonly stmtId: number;
  readonly numColumns: number;
  readonly numParams: number;
  readonly warnings: number;
}

/** Decodes COM_STMT_PREPARE_OK (header 0x00). */
export function decodeStmtPrepareOk(payload: Buffer): StmtPrepareOk {
  const r = new PayloadReader(payload, 1);
  const stmtId = r.u32();
  const numColumns = r.u16();
  const numParams = r.u16();
  let warnings = 0;
  if (r.remaining >= 3) {
    r.skip(1);
    warnings = r.u16();
  }
  return { stmtId, numColumns, numParams, warnings };
}

/** Encodes COM_STMT_PREPARE_OK. */
export function encodeStmtPrepareOk(ok: StmtPrepareOk): Buffer {
  return new PayloadWriter()
    .u8(0)
    .u32(ok.stmtId)
    .u16(ok.numColumns)
    .u16(ok.numParams)
    .u8(0)
    .u16(ok.warnings)
    .toBuffer();
}
