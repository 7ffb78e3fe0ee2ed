import { MAX_PARSED_SQL_BYTES, parseStatements, type ParseNode } from './sql-parser.js';

/** Whether a statement may run on a read-only target, and if not, what it is. */
export type ReadOnlyVerdict =
  | { readonly isAllowed: true }
  | { readonly isAllowed: false; readonly what: string; readonly why: string };

const ALLOWED: ReadOnlyVerdict = { isAllowed: true };

// Statements that read, or only change this session's state (issue: SELECT/SHOW/EXPLAIN/SET,
// plus what drivers and psql send around them: transactions, cursors, prepared statements).
const ALWAYS_ALLOWED = new Set([
  'VariableShowStmt',
  'FetchStmt',
  'ClosePortalStmt',
  'DeallocateStmt',
  'DiscardStmt',
  'ListenStmt',
  'UnlistenStmt',
  'ExecuteStmt', // its statement was checked when it was prepared, through this gateway
]);

// Settings that would lift the read-only guard or change who runs the statements.
const GUARDED_SETTINGS = new Set([
  'role',
  'session_authorization',
  'default_transaction_read_only',
  'transaction_read_only',
]);

// Functions that write, reach out, or run SQL given as text. Not complete (a user-defined
// function can do anything): the upstream session also runs with default_transaction_read_only.
// set_config is checked apart: allowed for a literal setting other than the guarded ones.
const DENIED_FUNCTIONS = new Set([
  'nextval',
  'setval',
  'pg_notify',
  'lo_import',
  'lo_export',
  'lo_unlink',
  'lo_create',
  'lo_creat',
  'lo_from_bytea',
  'lo_put',
  'lo_truncate',
  'dblink',
  'dblink_exec',
  'dblink_connect',
  'dblink_connect_u',
  'dblink_send_query',
  'query_to_xml',
  'query_to_xmlschema',
  'query_to_xml_and_xmlschema',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_promote',
  'pg_switch_wal',
  'pg_create_restore_point',
  'pg_file_write',
  'pg_logical_emit_message',
  'pg_create_logical_replication_slot',
  'pg_create_physical_replication_slot',
  'pg_drop_replication_slot',
]);

// Nodes that write wherever they appear (a data-modifying WITH, EXPLAIN ANALYZE of a write).
const WRITING_NODES: Readonly<Record<string, string>> = {
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
};

const NAMES: Readonly<Record<string, string>> = {
  ...WRITING_NODES,
  CreateStmt: 'CREATE TABLE',
  CreateTableAsStmt: 'CREATE TABLE AS',
  DropStmt: 'DROP',
  AlterTableStmt: 'ALTER TABLE',
  TruncateStmt: 'TRUNCATE',
  GrantStmt: 'GRANT',
  GrantRoleStmt: 'GRANT',
  CreateRoleStmt: 'CREATE ROLE',
  AlterRoleStmt: 'ALTER ROLE',
  DropRoleStmt: 'DROP ROLE',
  IndexStmt: 'CREATE INDEX',
  ViewStmt: 'CREATE VIEW',
  CreateFunctionStmt: 'CREATE FUNCTION',
  CreateSchemaStmt: 'CREATE SCHEMA',
  CreatedbStmt: 'CREATE DATABASE',
  DropdbStmt: 'DROP DATABASE',
  DoStmt: 'DO',
  CallStmt: 'CALL',
  NotifyStmt: 'NOTIFY',
  VacuumStmt: 'VACUUM',
  CheckPointStmt: 'CHECKPOINT',
  ReindexStmt: 'REINDEX',
  ClusterStmt: 'CLUSTER',
  RefreshMatViewStmt: 'REFRESH MATERIALIZED VIEW',
  CommentStmt: 'COMMENT',
  LoadStmt: 'LOAD',
  CopyStmt: 'COPY',
  VariableSetStmt: 'SET',
  TransactionStmt: 'BEGIN READ WRITE',
  SelectStmt: 'SELECT',
};

/**
 * Decides by parsing whether `sql` (one or more statements) may run on a read-only target:
 * SELECT (without INTO, FOR UPDATE/SHARE or a writing WITH), SHOW, EXPLAIN (ANALYZE only of
 * what would be allowed), SET (not of role, session authorization or read-only settings),
 * transaction control (not READ WRITE), cursors, prepared statements of the above, LISTEN,
 * DISCARD and COPY … TO STDOUT. Everything else, and text that does not parse or is too
 * long to check, is refused.
 */
export function checkReadOnly(sql: string): ReadOnlyVerdict {
  if (sql.length > MAX_PARSED_SQL_BYTES)
    return { isAllowed: false, what: 'statement', why: 'too long to check' };
  if (sql.trim() === '') return ALLOWED; // an empty query (EmptyQueryResponse)
  let statements: ParseNode[];
  try {
    statements = parseStatements(sql);
  } catch {
    // PostgreSQL would refuse it too; refusing here keeps unparsed text from the target.
    return { isAllowed: false, what: 'statement', why: 'does not parse' };
  }
  for (const statement of statements) {
    const verdict = checkStatement(statement);
    if (!verdict.isAllowed) return verdict;
  }
  return ALLOWED;
}

function checkStatement(node: ParseNode): ReadOnlyVerdict {
  const [type, body] = unwrap(node);
  if (type === undefined) return ALLOWED; // an empty statement
  const fields = body ?? {};
  if (ALWAYS_ALLOWED.has(type)) return ALLOWED;
  switch (type) {
    case 'SelectStmt':
      return checkReadingTree(node);
    case 'ExplainStmt': {
      const options = asList(fields['options']);
      const isAnalyze = options.some(
        (o) => defElemName(o) === 'analyze' && !isFalse(defElemArg(o)),
      );
      return isAnalyze ? checkStatement(asNode(fields['query'])) : ALLOWED;
    }
    case 'VariableSetStmt': {
      const name = typeof fields['name'] === 'string' ? fields['name'].toLowerCase() : '';
      if (GUARDED_SETTINGS.has(name)) return denied(`SET ${name}`, 'changes the session guard');
      if (asList(fields['args']).some(isReadWriteOption))
        return denied('SET TRANSACTION READ WRITE', 'makes the transaction writable');
      return ALLOWED;
    }
    case 'TransactionStmt':
      return asList(fields['options']).some(isReadWriteOption)
        ? denied('BEGIN READ WRITE', 'makes the transaction writable')
        : ALLOWED;
    case 'DeclareCursorStmt':
    case 'PrepareStmt':
      return checkStatement(asNode(fields['query']));
    case 'LockStmt':
      // ACCESS SHARE (mode 1) is what a reader takes anyway (pg_dump locks every table so).
      return fields['mode'] === 1
        ? ALLOWED
        : denied('LOCK', 'takes a lock that blocks readers or writers');
    case 'CopyStmt': {
      if (fields['is_from'] === true) return denied('COPY FROM', 'writes rows');
      if (fields['filename'] !== undefined || fields['is_program'] === true)
        return denied('COPY TO file or program', 'writes on the server');
      return fields['query'] === undefined ? ALLOWED : checkStatement(asNode(fields['query']));
    }
    default:
      return denied(
        NAMES[type] ?? type.replace(/Stmt$/, '').toUpperCase(),
        'writes or changes the database',
      );
  }
}

// Walks a SELECT's whole tree (iteratively: trees can be deep) for anything that writes.
function checkReadingTree(root: ParseNode): ReadOnlyVerdict {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const record = value as Record<string, unknown>;
    for (const [key, child] of Object.entries(record)) {
      const writing = WRITING_NODES[key];
      if (writing !== undefined) return denied(writing, 'writes rows (in a WITH clause)');
      if (key === 'intoClause') return denied('SELECT INTO', 'creates a table');
      if (key === 'lockingClause' && asList(child).length > 0)
        return denied('SELECT FOR UPDATE/SHARE', 'locks rows');
      if (key === 'FuncCall') {
        const name = functionName(child);
        if (name !== undefined && DENIED_FUNCTIONS.has(name))
          return denied(`${name}()`, 'changes state');
        // pg_dump starts with set_config('search_path', '', false): a setting, like SET.
        if (name === 'set_config' && !isHarmlessSetConfig(child))
          return denied('set_config()', 'changes the session guard');
      }
      if (child !== null && typeof child === 'object') stack.push(child);
    }
  }
  return ALLOWED;
}

// set_config of a literal setting SET may change too, or of any setting to a literal value
// that cannot turn the read-only guard off (pg_dump: set_config(name, 'view, …') FROM pg_settings).
function isHarmlessSetConfig(call: unknown): boolean {
  const [first, second] = asList((call as Record<string, unknown> | null)?.['args']);
  const name = literalText(first);
  if (name !== undefined) return !GUARDED_SETTINGS.has(name.toLowerCase());
  const value = literalText(second);
  return value !== undefined && !FALSE_BOOL.test(value);
}

// PostgreSQL reads a boolean from any unambiguous prefix of false/no/off, or 0.
const FALSE_BOOL = /^\s*(f|fa|fal|fals|false|n|no|of|off|0)\s*$/i;

function literalText(node: unknown): string | undefined {
  const text = (node as { A_Const?: { sval?: { sval?: unknown } } } | undefined)?.A_Const?.sval
    ?.sval;
  return typeof text === 'string' ? text : undefined;
}

function functionName(call: unknown): string | undefined {
  const parts = asList((call as Record<string, unknown> | null)?.['funcname']);
  const last = parts.at(-1) as { String?: { sval?: unknown } } | undefined;
  const name = last?.String?.sval;
  return typeof name === 'string' ? name.toLowerCase() : undefined;
}

// `transaction_read_only` set to false: READ WRITE (libpg-query omits a zero integer).
function isReadWriteOption(option: unknown): boolean {
  return defElemName(option) === 'transaction_read_only' && isFalse(defElemArg(option));
}

function defElemName(option: unknown): string | undefined {
  const name = (option as { DefElem?: { defname?: unknown } } | null)?.DefElem?.defname;
  return typeof name === 'string' ? name.toLowerCase() : undefined;
}

function defElemArg(option: unknown): unknown {
  return (option as { DefElem?: { arg?: unknown } } | null)?.DefElem?.arg;
}

// No argument means true (EXPLAIN (ANALYZE)); 0, false, 'off' and 'false' mean false.
function isFalse(arg: unknown): boolean {
  if (arg === undefined) return false;
  const constant = (arg as { A_Const?: Record<string, unknown> }).A_Const;
  if (constant !== undefined) {
    const ival = constant['ival'] as { ival?: unknown } | undefined;
    if (ival !== undefined) return ival.ival === undefined || ival.ival === 0;
    const boolval = constant['boolval'] as { boolval?: unknown } | undefined;
    if (boolval !== undefined) return boolval.boolval !== true;
    const sval = (constant['sval'] as { sval?: unknown } | undefined)?.sval;
    return typeof sval === 'string' && ['off', 'false', '0', 'no'].includes(sval.toLowerCase());
  }
  const text = (arg as { String?: { sval?: unknown } }).String?.sval;
  return typeof text === 'string' && ['off', 'false', '0', 'no'].includes(text.toLowerCase());
}

function unwrap(node: ParseNode): [string | undefined, Record<string, unknown> | undefined] {
  const [entry] = Object.entries(node);
  if (entry === undefined) return [undefined, undefined];
  const [type, body] = entry;
  return [
    type,
    body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : undefined,
  ];
}

function asNode(value: unknown): ParseNode {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as ParseNode)
    : {};
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function denied(what: string, why: string): ReadOnlyVerdict {
  return { isAllowed: false, what, why };
}
